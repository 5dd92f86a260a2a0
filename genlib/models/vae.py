"""The variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

Minimises, per example, the negative ELBO with a weight on the KL term:

    loss = -E_q[log p(x | z)] + β(step) · KL(q(z | x) || N(0, I))

summed over pixels and latent dimensions (nats per example), averaged over the batch. β > 1 at every
step is the β-VAE (Higgins et al. 2017, Eq. 4); a β that grows is KL annealing (see genlib.schedules).
``free_bits`` > 0 applies Kingma et al. (2016, Eq. 15): a latent dimension whose batch-mean KL is below
λ nats is not pushed further down.

Variants override one hook, ``regularizer(kl_per_dim, mu, logvar, z, beta)``, which returns what the
model adds to the reconstruction term per example (disentanglement_lib's pattern).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from genlib import schedules
from genlib.distributions import gaussian_kl, log_normal, log_standard_normal, reparameterize
from genlib.models.base import GenerativeModel
from genlib.nn import MLP, ConvDecoder, ConvEncoder
from genlib.objectives import likelihood as make_likelihood

NETWORKS = ("mlp", "conv")


@dataclass
class VAEConfig:
    latent_dim: int = 8  # D, the size of z
    hidden: tuple[int, ...] = (256, 256)  # MLP layer widths (or conv channel widths), encoder order
    network: str = "mlp"  # "mlp" or "conv" (images only)
    likelihood: str = "bernoulli"  # bernoulli (binarised), categorical (gray levels) or gaussian (points)
    levels: int | None = None  # gray levels for the categorical likelihood (17 for digits)
    beta_schedule: dict = field(default_factory=lambda: {"kind": "constant", "beta": 1.0})  # β(step)
    free_bits: float = 0.0  # λ in nats per latent dimension; 0 turns free bits off

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        self.beta_schedule = schedules.from_dict(self.beta_schedule).to_dict()
        if int(self.latent_dim) != self.latent_dim or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list at least one positive width, got {self.hidden}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if not math.isfinite(self.free_bits) or self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {self.free_bits}")


def free_bits(kl_per_dim: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-example KL with free bits: dimension d counts only where its batch-mean KL exceeds λ.

    Its batch mean equals sum_d max(λ, mean_b KL_bd), Kingma et al.'s objective, up to a constant.
    """
    if lam <= 0:
        return kl_per_dim.sum(-1)
    above = kl_per_dim.mean(0, keepdim=True).detach() > lam  # (1, D)
    return torch.where(above, kl_per_dim, torch.full_like(kl_per_dim, lam)).sum(-1)


def regularizer_parts(reg, name: str) -> tuple[torch.Tensor, dict]:
    """A regulariser (a tensor, or a dict of named parts) as (its sum, name -> batch mean of each part).

    The sum adds the parts in their order, so a one-part dict gives the same numbers as the bare tensor.
    """
    if not isinstance(reg, dict):
        return reg, {name: reg.mean()}
    values = list(reg.values())
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total, {key: value.mean() for key, value in reg.items()}


class VAE(GenerativeModel):
    Config = VAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 4, "hidden": (64,)}

    def __init__(self, data_shape: tuple[int, ...], config: VAEConfig):
        super().__init__(data_shape, config)
        self.likelihood = make_likelihood(config.likelihood, config.levels)
        if self.likelihood.name == "gaussian" and len(self.data_shape) != 1:
            raise ValueError("the gaussian likelihood is for point data; use bernoulli or categorical for images")
        if self.likelihood.name != "gaussian" and len(self.data_shape) != 3:
            raise ValueError(f"{config.likelihood} is a likelihood for images; use gaussian for points")
        self.schedule = schedules.from_dict(config.beta_schedule)
        self.encoder, self.decoder = self.make_networks()

    def make_networks(self):
        """Encoder x -> (mu, logvar) stacked as 2D outputs; decoder z -> decoder outputs."""
        c, d = self.config, self.config.latent_dim
        n_out = self.likelihood.n_params * math.prod(self.data_shape)
        if c.network == "conv":
            out_channels = self.likelihood.n_params * self.data_shape[0]
            encoder = ConvEncoder(self.data_shape, c.hidden, 2 * d)
            return encoder, ConvDecoder(d, c.hidden, self.data_shape, out_channels)
        flat = math.prod(self.data_shape)
        return MLP(flat, c.hidden, 2 * d), MLP(d, tuple(reversed(c.hidden)), n_out)

    # ------------------------------------------------------------------ the model

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x if self.config.network == "conv" else x.flatten(1))
        mu, logvar = h.chunk(2, dim=-1)  # (B, D) each
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> x_logits: the likelihood's parameters laid out like the data."""
        lead = z.shape[:-1]
        h = self.decoder(z.reshape(-1, z.shape[-1]))
        x_logits = self.likelihood.unflatten(h.reshape(math.prod(lead), -1), self.data_shape)
        return x_logits.reshape(*lead, *self._out_shape())

    def _out_shape(self) -> tuple[int, ...]:
        n = self.likelihood.n_params
        return self.data_shape if n == 1 else (n, *self.data_shape)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar, z

    def beta(self, step: int) -> float:
        return self.schedule(step)

    def regularizer(self, kl_per_dim, mu, logvar, z, beta: float):
        """What the objective adds to the reconstruction term, per example: β · KL (with free bits).

        A variant returns a tensor, or a dict of named weighted parts (per example or per batch) when its
        regulariser has several: a step's dissection then shows each part's gradient on its own.
        """
        return beta * free_bits(kl_per_dim, self.config.free_bits)

    def loss(self, x: torch.Tensor, step: int = 0) -> dict:
        return self.loss_parts(x, step)[0]

    def loss_parts(self, x: torch.Tensor, step: int = 0) -> tuple[dict, dict]:
        x = self.likelihood.prepare(x)
        x_logits, mu, logvar, z = self(x)
        recon = -self.likelihood.log_prob(x_logits, x)  # (B,) -log p(x | z), nats per example
        kl_per_dim = gaussian_kl(mu, logvar)  # (B, D) closed form, Appendix B of Kingma & Welling
        kl = kl_per_dim.sum(1)
        beta = self.beta(step)
        reg, parts = regularizer_parts(self.regularizer(kl_per_dim, mu, logvar, z, beta), "β·KL")
        terms = {"loss": (recon + reg).mean(), "recon": recon, "kl": kl, "elbo": -(recon + kl),
                 "kl_per_dim": kl_per_dim, "beta": beta}
        return terms, {"recon": recon.mean(), **parts}

    # ------------------------------------------------------------------ evaluation and pictures

    def log_importance_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for K samples z_k ~ q(z | x): (K, B). ``x`` is prepared."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))  # (K, B, D)
        log_px = self.likelihood.log_prob(self.decode(z), x)  # (K, B)
        return log_px + log_standard_normal(z).sum(-1) - log_normal(z, mu, logvar).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n decoded prior samples, as the likelihood's mean (what a picture of a sample shows)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.likelihood.mean(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each x: the likelihood's mean, shaped like x."""
        mu, _ = self.encode(self.likelihood.prepare(x))
        return self.likelihood.mean(self.decode(mu))
