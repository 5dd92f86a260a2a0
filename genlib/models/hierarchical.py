"""A top-down hierarchical VAE with the Ladder VAE's precision-weighted merge
(Sønderby et al. 2016, "Ladder Variational Autoencoders", Eqs. 17-21).

Layers are numbered from the data up: z_1 (index 0) is decoded into x, z_L is the top.

    generative model   p(z_L) = N(0, I),  p(z_i | z_{i+1}) = N(mu_p_i, var_p_i),  p(x | z_1)
    inference model    a deterministic bottom-up pass gives (mu_hat_i, var_hat_i) for every layer; then,
                       top-down, q(z_L | x) = N(mu_hat_L, var_hat_L) and q(z_i | x, z_{i+1}) is the product of
                       the bottom-up Gaussian and the top-down prior p(z_i | z_{i+1}) (Eq. 19-21):
                       var_q = 1 / (1/var_hat + 1/var_p),  mu_q = var_q (mu_hat/var_hat + mu_p/var_p)

The ELBO is, per example and in nats (each KL analytic in z_i, given the sampled z_{i+1}):

    ELBO = E_q[log p(x | z_1)] - KL(q(z_L | x) || N(0, I)) - sum_{i<L} KL(q(z_i | x, z_{i+1}) || p(z_i | z_{i+1}))

It subclasses :class:`VAE`: the likelihoods, schedules, free bits, the ``regularizer`` hook (applied to each
layer's KL with that layer's β) and the training step are the VAE's. The VAE's encoder is the bottom-up
pass up to z_1 and its decoder is p(x | z_1), so with one layer (``upper_dims=()``) the model *is* the
plain VAE: same modules, same weights for a seed, same loss.

Sampling draws the standard-normal noise eps_i of every layer and sets z_i = mu_p_i + T_i sigma_p_i eps_i
with a temperature T_i per layer; ``fixed`` holds chosen layers' noise fixed while the others are redrawn.
What the page shows of each layer (grids with layers held fixed, their share of the variation, correlations)
is ``genlib.models.hierarchical_views``, importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from genlib import schedules
from genlib.distributions import (
    gaussian_kl,
    gaussian_kl_between,
    log_normal,
    product_of_experts,
    reparameterize,
)
from genlib.models.hierarchical_views import (
    code_correlations,
    layer_report,
    off_diagonal_mean,
    resample_layer,
    sample_variance,
    samples_with_fixed_layers,
)
from genlib.models.vae import VAE, VAEConfig, regularizer_parts
from genlib.nn import MLP

__all__ = ["WARMUPS", "HierarchicalVAE", "HierarchicalVAEConfig", "Layer", "code_correlations", "layer_report",
           "off_diagonal_mean", "resample_layer", "sample_variance", "samples_with_fixed_layers", "warmup_schedules"]

WARMUPS = ("none", "all layers", "top layer only")  # which layers' β ramps from 0 to 1 over the first half


def warmup_schedules(warmup: str, n_layers: int, steps: int) -> tuple[dict, ...]:
    """``layer_schedules`` (z_1 first) for a KL warm-up of ``n_layers`` layers over the first half of ``steps``:
    none (the model's one β), every layer's β, or the top layer's only (the others at β = 1 throughout)."""
    ramp, flat = {"kind": "monotonic", "total_steps": steps, "ratio": 0.5}, {"kind": "constant", "beta": 1.0}
    chosen = {"none": (), "all layers": (ramp,) * n_layers, "top layer only": (flat,) * (n_layers - 1) + (ramp,)}
    if warmup not in chosen:
        raise ValueError(f"warm-up must be one of {', '.join(WARMUPS)}, not {warmup!r}")
    return chosen[warmup]


@dataclass
class HierarchicalVAEConfig(VAEConfig):
    # latent_dim (from VAEConfig) is the size of z_1, the layer decoded into x
    upper_dims: tuple[int, ...] = (4,)  # sizes of z_2 ... z_L, bottom to top; () is the plain one-layer VAE
    ladder_hidden: int = 128  # width of each bottom-up block and each top-down prior network
    layer_schedules: tuple[dict, ...] = ()  # one β schedule per layer, z_1 first (warm-up); () = beta_schedule

    def __post_init__(self):
        super().__post_init__()
        self.upper_dims = tuple(int(d) for d in self.upper_dims)
        if any(d < 1 for d in self.upper_dims):
            raise ValueError(f"upper_dims must be positive sizes, got {self.upper_dims}")
        if int(self.ladder_hidden) != self.ladder_hidden or self.ladder_hidden < 1:
            raise ValueError(f"ladder_hidden must be a positive integer, got {self.ladder_hidden}")
        self.layer_schedules = tuple(schedules.from_dict(s).to_dict() for s in self.layer_schedules)
        n_layers = 1 + len(self.upper_dims)
        if self.layer_schedules and len(self.layer_schedules) != n_layers:
            raise ValueError(f"layer_schedules needs one schedule per layer ({n_layers}), "
                             f"got {len(self.layer_schedules)}")

    @property
    def latent_dims(self) -> tuple[int, ...]:
        """Sizes of z_1 ... z_L."""
        return (self.latent_dim, *self.upper_dims)


@dataclass
class Layer:
    """One stochastic layer of one pass, each tensor (B, D_i): the sample, q's and p's parameters."""

    z: torch.Tensor
    mu: torch.Tensor  # posterior (or, when generating, the prior the sample came from)
    logvar: torch.Tensor
    prior_mu: torch.Tensor | None  # None for the top layer, whose prior is N(0, I)
    prior_logvar: torch.Tensor | None

    def kl(self) -> torch.Tensor:
        """KL(q || p) per dimension (B, D_i). The top layer's prior is N(0, I): the VAE's closed form."""
        if self.prior_mu is None:
            return gaussian_kl(self.mu, self.logvar)
        return gaussian_kl_between(self.mu, self.logvar, self.prior_mu, self.prior_logvar)

    def log_prior(self) -> torch.Tensor:
        """log p(z_i | z_{i+1}) summed over D_i: (B,)."""
        if self.prior_mu is None:
            return log_normal(self.z, torch.zeros_like(self.z), torch.zeros_like(self.z)).sum(-1)
        return log_normal(self.z, self.prior_mu, self.prior_logvar).sum(-1)


class HierarchicalVAE(VAE):
    Config = HierarchicalVAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 4, "upper_dims": (2,), "hidden": (32,), "ladder_hidden": 16}

    def __init__(self, data_shape: tuple[int, ...], config: HierarchicalVAEConfig):
        super().__init__(data_shape, config)  # encoder (x -> z_1's bottom-up estimate) and decoder p(x | z_1)
        dims, w = config.latent_dims, config.ladder_hidden
        width = self._encoder_head().in_features  # the encoder's last hidden layer feeds the ladder
        up, up_heads = [], []
        for d in dims[1:]:
            up.append(nn.Sequential(nn.Linear(width, w), nn.ReLU()))
            up_heads.append(nn.Linear(w, 2 * d))
            width = w
        self.up = nn.ModuleList(up)  # bottom-up blocks d_i = f(d_{i-1}) for i = 2..L
        self.up_heads = nn.ModuleList(up_heads)  # d_i -> (mu_hat_i, logvar_hat_i)
        # top-down prior networks z_{i+1} -> (mu_p_i, logvar_p_i) for i = 1..L-1
        self.down = nn.ModuleList(MLP(dims[i + 1], (w,), 2 * dims[i]) for i in range(len(dims) - 1))
        self.layer_schedule_fns = tuple(schedules.from_dict(s) for s in config.layer_schedules)

    @property
    def n_layers(self) -> int:
        return len(self.config.latent_dims)

    # ------------------------------------------------------------------ the two passes

    def _encoder_head(self) -> nn.Linear:
        return self.encoder.head if self.config.network == "conv" else self.encoder[-1]

    def _encoder_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.network == "conv":
            return self.encoder.convs(x).flatten(1)
        h = x.flatten(1)
        for module in list(self.encoder)[:-1]:  # the MLP without its output layer
            h = module(h)
        return h

    def bottom_up(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The deterministic pass: (mu_hat_i, logvar_hat_i) for z_1 ... z_L, each (B, D_i)."""
        h = self._encoder_features(x)  # (B, F): the encoder's last hidden layer
        stats = [self._encoder_head()(h).chunk(2, dim=-1)]
        for block, head in zip(self.up, self.up_heads, strict=True):
            h = block(h)
            stats.append(head(h).chunk(2, dim=-1))
        return stats

    def prior(self, i: int, z_above: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z_i | z_{i+1}) for layer index i < L - 1: (mu_p, logvar_p), each (B, D_i)."""
        return self.down[i](z_above).chunk(2, dim=-1)

    def posterior(self, stats, *, use_mean: bool = False) -> list[Layer]:
        """The top-down pass over bottom-up ``stats``: one Layer per z_i, z_1 first.

        ``use_mean`` takes each z_i at its posterior mean instead of sampling (a deterministic code)."""
        layers: list[Layer] = []
        z_above = None
        for i in reversed(range(self.n_layers)):
            mu_hat, logvar_hat = stats[i]
            if z_above is None:  # the top: q(z_L | x) is the bottom-up estimate, p(z_L) = N(0, I)
                mu, logvar, mu_p, logvar_p = mu_hat, logvar_hat, None, None
            else:  # precision-weighted merge of the bottom-up estimate and the top-down prior (LVAE Eq. 19-21)
                mu_p, logvar_p = self.prior(i, z_above)
                mu, logvar = product_of_experts(torch.stack([mu_hat, mu_p]), torch.stack([logvar_hat, logvar_p]),
                                                prior=False)
            z = mu if use_mean else reparameterize(mu, logvar)
            layers.insert(0, Layer(z, mu, logvar, mu_p, logvar_p))
            z_above = z
        return layers

    def forward(self, x: torch.Tensor):
        layers = self.posterior(self.bottom_up(x))
        return self.decode(layers[0].z), layers

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior of every layer along the mean path (each z_{i+1} at its mean), concatenated
        z_1 first: (B, sum D_i) each. What metrics read for active units and mutual information."""
        layers = self.posterior(self.bottom_up(x), use_mean=True)
        return torch.cat([layer.mu for layer in layers], -1), torch.cat([layer.logvar for layer in layers], -1)

    # ------------------------------------------------------------------ the objective

    def layer_beta(self, i: int, step: int) -> float:
        """β of layer i at ``step``: its own schedule (per-layer warm-up) if given, else the model's."""
        return self.layer_schedule_fns[i](step) if self.layer_schedule_fns else self.beta(step)

    def loss_parts(self, x: torch.Tensor, step: int = 0) -> tuple[dict, dict]:
        x = self.likelihood.prepare(x)
        x_logits, layers = self(x)
        recon = -self.likelihood.log_prob(x_logits, x)  # (B,) -log p(x | z_1), nats per example
        kl_layers = [layer.kl() for layer in layers]  # (B, D_i) each, analytic given z_{i+1}
        kl_per_dim = torch.cat(kl_layers, 1)  # (B, sum D_i), z_1's dimensions first
        kl = kl_per_dim.sum(1)  # = sum over layers of KL_i
        regs, parts = [], {"recon": recon.mean()}  # each layer's weighted KL is a part of its own
        for i, (k, layer) in enumerate(zip(kl_layers, layers, strict=True)):
            reg_i, parts_i = regularizer_parts(self.regularizer(k, layer.mu, layer.logvar, layer.z,
                                                                self.layer_beta(i, step)), "β·KL")
            regs.append(reg_i)
            parts.update({f"{name} z{i + 1}": value for name, value in parts_i.items()})
        reg = sum(regs)
        terms = {"loss": (recon + reg).mean(), "recon": recon, "kl": kl, "elbo": -(recon + kl),
                 "kl_per_dim": kl_per_dim, "beta": self.beta(step)}
        terms.update({f"kl_z{i + 1}": k.sum(1) for i, k in enumerate(kl_layers)})  # (B,) per layer, nats
        if self.layer_schedule_fns:
            terms.update({f"beta_z{i + 1}": self.layer_beta(i, step) for i in range(self.n_layers)})
        return terms, parts

    def log_importance_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_1..z_L) - log q(z_1..z_L | x) for K top-down samples: (K, B). ``x`` is prepared."""
        b = x.shape[0]
        stats = [(mu.repeat(k, 1), logvar.repeat(k, 1)) for mu, logvar in self.bottom_up(x)]  # (K * B, D_i)
        layers = self.posterior(stats)
        log_px = self.likelihood.log_prob(self.decode(layers[0].z.view(k, b, -1)), x)  # (K, B)
        log_pz = sum(layer.log_prior() for layer in layers).view(k, b)
        log_qz = sum(log_normal(layer.z, layer.mu, layer.logvar).sum(-1) for layer in layers).view(k, b)
        return log_px + log_pz - log_qz

    def kl_per_layer(self, kl_per_dim) -> list[float]:
        """Split a kl_per_dim list (from ``genlib.metrics.evaluate``) into one KL per layer, z_1 first."""
        kl = torch.as_tensor(kl_per_dim)
        return [part.sum().item() for part in kl.split(list(self.config.latent_dims), -1)]

    # ------------------------------------------------------------------ sampling

    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Standard-normal noise eps_i for every layer, (n, D_i) each, z_1 first; drawn top layer first."""
        noise = [torch.randn(n, d, generator=generator, device=self.device) for d in reversed(self.config.latent_dims)]
        return noise[::-1]

    @torch.no_grad()
    def sample_latents(self, n: int, generator: torch.Generator | None = None, *,
                       temperature: float | Sequence[float] = 1.0, fixed: dict | None = None) -> list[Layer]:
        """Ancestral samples z_L -> ... -> z_1, one Layer per z_i (z_1 first; ``mu``/``logvar`` = the prior).

        ``temperature``: one T for every layer or one per layer (z_1 first): z_i = mu_p + T_i sigma_p eps_i.
        ``fixed``: {layer index: eps} holds that layer's noise (shape (D_i,) or (n, D_i)) fixed; the noise of
        the other layers is drawn from ``generator`` exactly as it would be with nothing fixed.
        """
        temps = self._temperatures(temperature)
        noise = self.draw_noise(n, generator)
        for i, eps in (fixed or {}).items():
            if not 0 <= i < self.n_layers:
                raise ValueError(f"layer index {i} is out of range: this model has layers 0..{self.n_layers - 1}")
            noise[i] = torch.as_tensor(eps, dtype=noise[i].dtype, device=self.device).expand_as(noise[i])
        layers: list[Layer] = []
        z_above = None
        for i in reversed(range(self.n_layers)):
            if z_above is None:
                mu = torch.zeros_like(noise[i])
                logvar = torch.zeros_like(noise[i])
            else:
                mu, logvar = self.prior(i, z_above)
            z = mu + temps[i] * torch.exp(0.5 * logvar) * noise[i]
            layers.insert(0, Layer(z, mu, logvar, None if z_above is None else mu, None if z_above is None else logvar))
            z_above = z
        return layers

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *,
               temperature: float | Sequence[float] = 1.0, fixed: dict | None = None) -> torch.Tensor:
        """n decoded samples (the likelihood's mean), with per-layer temperatures and fixed layers."""
        layers = self.sample_latents(n, generator, temperature=temperature, fixed=fixed)
        return self.likelihood.mean(self.decode(layers[0].z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the mean path's z_1 for each x."""
        layers = self.posterior(self.bottom_up(self.likelihood.prepare(x)), use_mean=True)
        return self.likelihood.mean(self.decode(layers[0].z))

    def _temperatures(self, temperature) -> tuple[float, ...]:
        temps = (temperature,) * self.n_layers if isinstance(temperature, int | float) else tuple(temperature)
        if len(temps) != self.n_layers or any(not t >= 0 for t in temps):
            raise ValueError(f"give one temperature >= 0, or one per layer ({self.n_layers}), got {temperature!r}")
        return tuple(float(t) for t in temps)
