"""Diagonal Gaussians: sampling, log-densities, KL divergences, and fusion of Gaussian experts.

Notation: ``mu`` and ``logvar`` are (..., D); every function returns per-dimension values unless its
name says otherwise, so that the reduction (sum over D, mean over B) happens in one visible place.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None):
    """z = mu + sigma * eps with eps ~ N(0, I): the reparameterisation trick (Kingma & Welling 2014, Sec. 2.4)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per dimension, shape like ``mu`` (B x D).

    Appendix B of Kingma & Welling (2014): -KL = 1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_kl_between(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per dimension (both diagonal)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)


def log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, exp(logvar)) per dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp())


def log_standard_normal(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, 1) per dimension."""
    return -0.5 * (LOG_2PI + x.pow(2))


def product_of_experts(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor | None = None,
                       prior: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Fuse E diagonal Gaussian experts (stacked on dim 0: E x B x D) into one Gaussian.

    The product of Gaussians is Gaussian with precision T = sum_e T_e and mean sum_e T_e mu_e / T
    (Wu & Goodman 2018, "Multimodal Generative Models for Scalable Weakly-Supervised Learning", Sec. 2.1).
    Computed in log-precision space: log T = logsumexp_e(-logvar_e) and the mean as a softmax-weighted
    sum, so it stays finite for variances from 1e-30 to 1e30. ``mask`` (E x B, True = present) leaves a
    missing expert out (it is never fed zeros). ``prior=True`` adds the N(0, I) expert. Where every
    expert of a row is missing, the result is the prior N(0, I), with or without ``prior``.
    """
    if mu.shape != logvar.shape or mu.dim() != 3:
        raise ValueError(f"mu and logvar must both be E x B x D, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    E, B, D = mu.shape
    present = torch.ones(E, B, dtype=torch.bool, device=mu.device) if mask is None else mask.to(torch.bool)
    if present.shape != (E, B):
        raise ValueError(f"mask must be E x B = {(E, B)}, got {tuple(present.shape)}")
    use_prior = present.new_full((1, B), prior) | ~present.any(0, keepdim=True)  # (1, B)
    mu = torch.cat([mu.new_zeros(1, B, D), mu])  # the prior expert first: mean 0, log-precision 0
    log_precision = torch.cat([logvar.new_zeros(1, B, D), -logvar])
    present = torch.cat([use_prior, present])[..., None]  # (E + 1, B, 1)
    log_precision = log_precision.masked_fill(~present, float("-inf"))
    log_total = torch.logsumexp(log_precision, dim=0)  # (B, D): log of the fused precision
    weights = torch.softmax(log_precision, dim=0)  # T_e / T, exactly 0 for missing experts
    return (weights * mu.masked_fill(~present, 0.0)).sum(0), -log_total
