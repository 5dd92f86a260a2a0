"""Fusing Gaussian experts into one posterior, and the subsets of modalities the MVAE trains on.

Given the experts q_m(z | x_m) of the modalities present (stacked M x B x D, with a mask M x B):

- ``poe``: q(z | x_S) ∝ p(z) prod_{m in S} q_m(z | x_m), a product of Gaussians with a N(0, I) expert
  (Wu & Goodman 2018, "Multimodal Generative Models for Scalable Weakly-Supervised Learning", Eq. 4);
- ``moe``: q(z | x_S) = 1/|S| sum_{m in S} q_m(z | x_m), a mixture (Shi et al. 2019, Eq. 2).

Both come back as mixture components (log weights, means, log-variances), one of weight 1 for the
product, so that drawing from and scoring a posterior is the same code for either. The Gaussian
algebra itself is ``genlib.distributions`` (``product_of_experts``, ``mixture_of_experts``).
"""

from __future__ import annotations

import torch

from genlib.distributions import mixture_of_experts, product_of_experts

FUSIONS = ("poe", "moe")


def fuse(fusion: str, mu: torch.Tensor, logvar: torch.Tensor,
         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Experts mu, logvar (M x B x D) and mask (M x B) -> log weights (C x B), mu and logvar (C x B x D).

    PoE gives one component of weight 1; MoE one per expert used by some row (the prior when none).
    """
    if fusion == "poe":
        mu, logvar = product_of_experts(mu, logvar, mask, prior=True)
        return mu.new_zeros(1, mu.shape[0]), mu[None], logvar[None]
    if fusion != "moe":
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    log_w, mu, logvar = mixture_of_experts(mu, logvar, mask)
    used = torch.isfinite(log_w).any(1)  # drop components no row uses (no decoding wasted on them)
    return log_w[used], mu[used], logvar[used]


def draw(log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, n: int,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """n draws of z from a posterior given as components (log weights C x B, mu and logvar C x B x D): (n, B, D)."""
    C, B, D = mu.shape
    comp = torch.multinomial(log_w.exp().T, n, replacement=True, generator=generator).T  # (n, B)
    rows = torch.arange(B, device=mu.device).expand(n, B)
    eps = torch.randn(n, B, D, generator=generator, device=mu.device)
    return mu[comp, rows] + (0.5 * logvar[comp, rows]).exp() * eps


def subset_masks(n_modalities: int, n_random: int, batch: int) -> torch.Tensor:
    """The MVAE's subsets (Wu & Goodman 2018, Sec. 3) as masks (S x M x B): the joint set, each single
    modality, and ``n_random`` random non-empty subsets per example (drawn from the global generator)."""
    M = n_modalities
    joint = torch.ones(1, M, batch, dtype=torch.bool)
    singles = torch.eye(M, dtype=torch.bool)[:, :, None].expand(M, M, batch)
    codes = torch.randint(1, 2**M, (n_random, batch))  # a non-empty subset as M bits
    random = (codes[:, None, :] >> torch.arange(M)[None, :, None]) & 1 == 1  # (k, M, B)
    return torch.cat([joint, singles, random])
