"""The multimodal VAE: one encoder and decoder per modality, one shared z, experts fused by PoE or MoE.

Each modality m has an encoder, its Gaussian expert q_m(z | x_m), and a decoder p(x_m | z). Given any
subset S of the modalities the posterior is

- ``poe``: q(z | x_S) ∝ p(z) prod_{m in S} q_m(z | x_m), the product of experts of the MVAE
  (Wu & Goodman 2018, "Multimodal Generative Models for Scalable Weakly-Supervised Learning", Eq. 4);
- ``moe``: q(z | x_S) = 1/|S| sum_{m in S} q_m(z | x_m), the mixture of the MMVAE (Shi et al. 2019, Eq. 2).

A missing modality is simply left out of the fusion (see genlib.distributions). Training uses the
MVAE's sub-sampled objective (Wu & Goodman, Sec. 3), summed over subsets S, averaged over the batch:

    loss = sum_S [ -sum_{m in S} λ_m E_q(z|x_S)[log p(x_m | z)] + β(step) · KL(q(z | x_S) || N(0, I)) ]

with S the joint set, every single modality, and ``n_subsets`` random non-empty subsets per example;
λ_m are the per-modality likelihood weights. For the mixture the expectation is stratified (one
draw from each component, weighted by its weight: Shi et al., Eq. 3 with K = 1) and the KL, which
has no closed form, is estimated as log q(z | x_S) - log p(z) at those draws.

The examples arrive packed in one row each (see ``genlib.data.LAYOUTS``): ``split`` unpacks them. The
fusion of the experts and the MVAE's subsets are ``genlib.models.fusion``; what the product-of-experts
page shows (``cross_modal``, ``label_accuracy``) is ``genlib.models.multimodal_views``, importable from here.
Reported terms (``recon``, ``kl``, ``elbo``) are those of the joint set with λ = 1, so ``elbo`` is a
bound on log p(all modalities) in nats per example; ``elbo_<m>`` is each single-modality ELBO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from genlib import schedules
from genlib.data import LAYOUTS, unpack
from genlib.distributions import gaussian_kl, log_standard_normal, mixture_log_prob, reparameterize
from genlib.models.base import GenerativeModel
from genlib.models.fusion import FUSIONS, draw, fuse, subset_masks
from genlib.models.multimodal_views import cross_modal, label_accuracy
from genlib.nn import MLP
from genlib.objectives import Likelihood
from genlib.objectives import likelihood as make_likelihood

__all__ = ["FUSIONS", "MultimodalVAE", "MultimodalVAEConfig", "cross_modal", "label_accuracy"]


@dataclass
class MultimodalVAEConfig:
    layout: str = "digits-image-label"  # how a row packs the modalities: a key of genlib.data.LAYOUTS
    latent_dim: int = 16  # D, the size of the shared z
    hidden: tuple[int, ...] = (256, 256)  # MLP widths of every encoder (each decoder uses them reversed)
    fusion: str = "poe"  # "poe" (product with a N(0, I) expert, MVAE) or "moe" (equal mixture, MMVAE)
    image_likelihood: str = "bernoulli"  # pixels: bernoulli (binarised) or categorical; labels: categorical
    weights: dict = field(default_factory=dict)  # λ_m on each modality's log-likelihood; absent = 1
    n_subsets: int = 1  # k random subsets per example added to the joint + single-modality ELBOs
    # β(step): a KL warm-up from 0 to 1 over 400 steps. With β = 1 from the start the PoE collapsed on digits
    # (an expert whose precision -> 0 gives its mean no gradient, and it did not recover in 1000 steps).
    beta_schedule: dict = field(default_factory=lambda: {"kind": "monotonic", "total_steps": 1600, "ratio": 0.25})

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        self.beta_schedule = schedules.from_dict(self.beta_schedule).to_dict()
        self.weights = {str(k): float(v) for k, v in dict(self.weights).items()}
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; choose one of: {', '.join(LAYOUTS)}")
        names = [m.name for m in LAYOUTS[self.layout]]
        if int(self.latent_dim) != self.latent_dim or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list at least one positive width, got {self.hidden}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.image_likelihood not in ("bernoulli", "categorical"):
            raise ValueError(f"image_likelihood must be bernoulli or categorical, got {self.image_likelihood!r}")
        unknown = sorted(set(self.weights) - set(names))
        if unknown:
            raise ValueError(f"weights name no modality of {self.layout} ({', '.join(names)}): {unknown}")
        if any(not math.isfinite(w) or w < 0 for w in self.weights.values()):
            raise ValueError(f"likelihood weights must be finite and >= 0, got {self.weights}")
        if int(self.n_subsets) != self.n_subsets or self.n_subsets < 0:
            raise ValueError(f"n_subsets must be an integer >= 0, got {self.n_subsets}")


class PackedLikelihood:
    """What ``genlib.metrics.evaluate`` asks of ``model.likelihood`` for packed rows: prepare and unit."""

    def __init__(self, model: MultimodalVAE):
        self._model = model

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        m = self._model
        parts = m.split(x)
        return torch.cat([parts[name].flatten(1) for name in m.names], dim=1)

    def unit(self, data_shape) -> str:
        return "nats per example (all modalities)"


class MultimodalVAE(GenerativeModel):
    Config = MultimodalVAEConfig
    EXAMPLE_DATA = "digits-image-label"
    EXAMPLE_CONFIG = {"latent_dim": 4, "hidden": (64,)}

    def __init__(self, data_shape: tuple[int, ...], config: MultimodalVAEConfig):
        super().__init__(data_shape, config)
        self.modalities = LAYOUTS[config.layout]
        self.names = tuple(m.name for m in self.modalities)
        packed = sum(m.size for m in self.modalities)
        if self.data_shape != (packed,):
            raise ValueError(f"layout {config.layout} packs {packed} values per example; "
                             f"the data is {self.data_shape}. "
                             f"Train it on the dataset of the same name.")
        self.likelihoods: dict[str, Likelihood] = {
            m.name: make_likelihood("categorical", m.levels) if m.kind == "label"
            else make_likelihood(config.image_likelihood, m.levels) for m in self.modalities}
        self.likelihood = PackedLikelihood(self)
        self.schedule = schedules.from_dict(config.beta_schedule)
        d, h = config.latent_dim, config.hidden
        self.encoders = nn.ModuleDict({m.name: MLP(self._encoder_width(m), h, 2 * d) for m in self.modalities})
        self.decoders = nn.ModuleDict({
            m.name: MLP(d, tuple(reversed(h)), self.likelihoods[m.name].n_params * m.size) for m in self.modalities})
        lambdas = torch.tensor([config.weights.get(n, 1.0) for n in self.names])  # (M,) the λ_m
        self.register_buffer("lambdas", lambdas, persistent=False)

    def _encoder_width(self, modality) -> int:
        return modality.size * (modality.levels if modality.kind == "label" else 1)

    # ------------------------------------------------------------------ the model

    def split(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Packed rows (B, D) -> {modality: (B, *shape)}, each as its likelihood models it."""
        return {n: self.likelihoods[n].prepare(v) for n, v in unpack(x, self.config.layout).items()}

    def encode_expert(self, name: str, x_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q_m(z | x_m): (B, D) mean and log-variance. A label enters its encoder one-hot."""
        if self.modalities[self.names.index(name)].kind == "label":  # stored as c / (K - 1)
            k = self.likelihoods[name].levels
            x_m = F.one_hot(torch.round(x_m * (k - 1)).long(), k).to(self.lambdas.dtype)
        mu, logvar = self.encoders[name](x_m.flatten(1)).chunk(2, dim=-1)
        return mu, logvar

    def encode_experts(self, parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every given modality's expert, stacked in layout order: mu, logvar (M x B x D) and the mask (M x B).

        A modality missing from ``parts`` runs no encoder; its rows are placeholders the mask leaves out.
        """
        given = [n for n in self.names if n in parts]
        if not given:
            raise ValueError(f"give at least one modality of {', '.join(self.names)}")
        unknown = sorted(set(parts) - set(self.names))
        if unknown:
            raise ValueError(f"{self.config.layout} has no modality {unknown}; it has {', '.join(self.names)}")
        B = parts[given[0]].shape[0]
        placeholder = torch.zeros(B, self.config.latent_dim, device=self.lambdas.device)
        experts = {n: self.encode_expert(n, parts[n]) for n in given}
        mu = torch.stack([experts[n][0] if n in experts else placeholder for n in self.names])
        logvar = torch.stack([experts[n][1] if n in experts else placeholder for n in self.names])
        mask = torch.tensor([n in experts for n in self.names], device=mu.device)[:, None].expand(-1, B)
        return mu, logvar, mask

    def fuse(self, mu, logvar, mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The posterior as mixture components (``genlib.models.fusion.fuse`` by this model's fusion)."""
        return fuse(self.config.fusion, mu, logvar, mask)

    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> x_logits of modality ``name``: (..., *shape) or (..., K, *shape)."""
        lik, shape = self.likelihoods[name], self.modalities[self.names.index(name)].shape
        lead = z.shape[:-1]
        h = self.decoders[name](z.reshape(-1, z.shape[-1]))
        x_logits = lik.unflatten(h, shape)
        return x_logits.reshape(*lead, *x_logits.shape[1:])

    def log_likelihoods(self, z: torch.Tensor, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """log p(x_m | z) for every modality: z (C, B, D) -> (M, C, B), nats per example."""
        return torch.stack([self.likelihoods[n].log_prob(self.decode(n, z), parts[n]) for n in self.names])

    def subset_masks(self, batch: int) -> torch.Tensor:
        """The MVAE's subsets as masks (S x M x B): the joint set, each single modality, k random subsets."""
        return subset_masks(len(self.names), self.config.n_subsets, batch).to(self.lambdas.device)

    def beta(self, step: int) -> float:
        return self.schedule(step)

    def loss(self, x: torch.Tensor, step: int = 0) -> dict:
        parts = self.split(x)
        B, M = x.shape[0], len(self.names)
        masks = self.subset_masks(B)  # (S, M, B)
        S = masks.shape[0]
        mu_e, logvar_e, _ = self.encode_experts(parts)  # (M, B, D)
        mask = masks.transpose(0, 1).reshape(M, S * B)  # row s * B + b is subset s of example b
        log_w, mu, logvar = self.fuse(mu_e.repeat(1, S, 1), logvar_e.repeat(1, S, 1), mask)  # (C, S*B, ...)
        z = reparameterize(mu, logvar)  # (C, S*B, D): one draw per component (stratified for MoE)
        log_px = self.log_likelihoods(z, {n: v.repeat(S, *[1] * (v.dim() - 1)) for n, v in parts.items()})
        observed = mask[:, None].to(log_px.dtype)  # (M, 1, S*B): a subset reconstructs what it sees
        weight = log_w.exp()  # (C, S*B)
        recon = -(weight * (observed * log_px).sum(0)).sum(0)  # (S*B,) λ = 1: what the ELBO reports
        weighted_recon = -(weight * (self.lambdas[:, None, None] * observed * log_px).sum(0)).sum(0)
        if self.config.fusion == "poe":
            kl_per_dim = gaussian_kl(mu[0], logvar[0])  # (S*B, D) closed form
            kl = kl_per_dim.sum(-1)
        else:  # no closed form for a mixture: log q(z | x_S) - log p(z) at the stratified draws
            kl = (weight * (mixture_log_prob(z, log_w, mu, logvar) - log_standard_normal(z).sum(-1))).sum(0)
            kl_per_dim = (weight[..., None] * gaussian_kl(mu, logvar)).sum(0)  # its experts' mean: an upper bound
        beta = self.beta(step)
        per_subset = (weighted_recon + beta * kl).view(S, B)
        elbo = -(recon + kl).view(S, B)  # (S, B)
        terms = {"loss": per_subset.sum(0).mean(), "recon": recon[:B], "kl": kl[:B], "elbo": elbo[0],
                 "kl_per_dim": kl_per_dim[:B], "beta": beta}
        terms.update({f"elbo_{n}": elbo[1 + i] for i, n in enumerate(self.names)})
        return terms

    # ------------------------------------------------------------------ inference and pictures

    def posterior(self, parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q(z | the given modalities) as components (log weights C x B, mu and logvar C x B x D)."""
        return self.fuse(*self.encode_experts(parts))

    def draw(self, log_w, mu, logvar, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of z from a posterior given as components: (n, B, D)."""
        return draw(log_w, mu, logvar, n, generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The joint posterior as one Gaussian (B x D): the product itself, or the mixture's moments."""
        log_w, mu, logvar = self.posterior(self.split(x))
        if mu.shape[0] == 1:  # one Gaussian already (the product, or a single expert)
            return mu[0], logvar[0]
        w = log_w.exp()[..., None]
        mean = (w * mu).sum(0)
        var = (w * (logvar.exp() + mu.pow(2))).sum(0) - mean.pow(2)
        return mean, var.clamp_min(1e-12).log()

    def log_importance_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for K draws from the joint posterior: (K, B)."""
        parts = self.split(x)
        log_w, mu, logvar = self.posterior(parts)
        z = self.draw(log_w, mu, logvar, k)  # (K, B, D)
        log_px = self.log_likelihoods(z, parts).sum(0)  # (K, B)
        return log_px + log_standard_normal(z).sum(-1) - mixture_log_prob(z, log_w, mu, logvar)

    def _means(self, name: str, x_logits: torch.Tensor) -> torch.Tensor:
        """What a picture shows: pixel means (..., *shape), or a label's class probabilities (..., K)."""
        lik, modality = self.likelihoods[name], self.modalities[self.names.index(name)]
        if modality.kind == "label":
            return torch.softmax(x_logits, dim=-2).flatten(-2)  # (..., K, 1) -> (..., K)
        n_lead = x_logits.dim() - len(modality.shape) - (lik.n_params > 1)
        means = lik.mean(x_logits.reshape(-1, *x_logits.shape[n_lead:]))  # (N, *shape)
        return means.reshape(*x_logits.shape[:n_lead], *modality.shape)

    @torch.no_grad()
    def predict(self, given: dict[str, torch.Tensor], n_samples: int = 0,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Every modality predicted from the ``given`` ones (raw values, as unpacked; any non-empty subset).

        Image means (B, *shape) and label probabilities (B, K), averaged over the posterior: at each
        component's mean weighted by its weight when ``n_samples`` is 0, else over that many draws.
        """
        parts = {n: self.likelihoods[n].prepare(v.to(self.lambdas.device)) for n, v in given.items()}
        log_w, mu, logvar = self.posterior(parts)
        if n_samples:
            z, w = self.draw(log_w, mu, logvar, n_samples, generator), None
        else:
            z, w = mu, log_w.exp()
        out = {}
        for n in self.names:
            means = self._means(n, self.decode(n, z))  # (C or n, B, ...)
            if w is None:
                out[n] = means.mean(0)
            else:
                out[n] = (w.view(*w.shape, *[1] * (means.dim() - 2)) * means).sum(0)
        return out

    @torch.no_grad()
    def generate(self, given: dict[str, torch.Tensor], n: int = 1,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """n draws z ~ q(z | given), each decoded: {modality: (n, B, *shape) means or (n, B, K) probabilities}."""
        parts = {m: self.likelihoods[m].prepare(v.to(self.lambdas.device)) for m, v in given.items()}
        z = self.draw(*self.posterior(parts), n, generator)
        return {m: self._means(m, self.decode(m, z)) for m in self.names}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n prior draws decoded into packed rows (n, D); a label is shown as its expected class / 9."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.lambdas.device)
        return self._pack_means(z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the joint posterior mean of each packed row: packed rows (B, D) of means."""
        return self._pack_means(self.encode(x)[0])

    def _pack_means(self, z: torch.Tensor) -> torch.Tensor:
        rows = []
        for n in self.names:
            x_logits = self.decode(n, z)
            rows.append(self.likelihoods[n].mean(x_logits).flatten(1))
        return torch.cat(rows, dim=1)
