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
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar))  # a product: finite gradients at tiny var


def log_standard_normal(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, 1) per dimension."""
    return -0.5 * (LOG_2PI + x.pow(2))


def _experts_present(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor | None,
                     prior: bool) -> torch.Tensor:
    """Which of the prior expert and the E experts (E x B x D) take part: (E + 1) x B booleans, the prior
    first. The prior takes part where asked, and wherever every expert of a row is missing."""
    if mu.shape != logvar.shape or mu.dim() != 3:
        raise ValueError(f"mu and logvar must both be E x B x D, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    E, B, _ = mu.shape
    present = torch.ones(E, B, dtype=torch.bool, device=mu.device) if mask is None else mask.to(torch.bool)
    if present.shape != (E, B):
        raise ValueError(f"mask must be E x B = {(E, B)}, got {tuple(present.shape)}")
    use_prior = present.new_full((1, B), prior) | ~present.any(0, keepdim=True)  # (1, B)
    return torch.cat([use_prior, present])


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
    present = _experts_present(mu, logvar, mask, prior)[..., None]  # (E + 1, B, 1)
    _, B, D = mu.shape
    mu = torch.cat([mu.new_zeros(1, B, D), mu])  # the prior expert first: mean 0, log-precision 0
    log_precision = torch.cat([logvar.new_zeros(1, B, D), -logvar])
    log_precision = log_precision.masked_fill(~present, float("-inf"))
    log_total = torch.logsumexp(log_precision, dim=0)  # (B, D): log of the fused precision
    weights = torch.softmax(log_precision, dim=0)  # T_e / T, exactly 0 for missing experts
    return (weights * mu.masked_fill(~present, 0.0)).sum(0), -log_total


def mixture_of_experts(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor | None = None,
                       prior: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fuse E diagonal Gaussian experts (E x B x D) as an equal-weight mixture, the MoE of the MMVAE
    (Shi et al. 2019, "Variational Mixture-of-Experts Autoencoders for Multi-Modal Deep Generative
    Models", Eq. 2): q(z | x_S) = 1/|S| sum_{m in S} q_m(z | x_m).

    Unlike a product, a mixture is not one Gaussian: this returns its components as ``(log_weights,
    mu, logvar)`` with shapes (E + 1) x B, (E + 1) x B x D, (E + 1) x B x D. Component 0 is the N(0, I)
    prior expert, used when ``prior=True`` or where every expert of a row is missing (as in
    :func:`product_of_experts`); a missing expert (``mask`` False) gets weight exactly 0 (log weight
    -inf). Score points with :func:`mixture_log_prob`.
    """
    present = _experts_present(mu, logvar, mask, prior)  # (E + 1, B)
    E, B, D = mu.shape
    count = present.sum(0, keepdim=True).to(mu.dtype)  # (1, B): |S|, at least 1
    log_weights = (-count.log()).expand(E + 1, B).masked_fill(~present, float("-inf"))
    mu = torch.cat([mu.new_zeros(1, B, D), mu.masked_fill(~present[1:, :, None], 0.0)])
    logvar = torch.cat([logvar.new_zeros(1, B, D), logvar.masked_fill(~present[1:, :, None], 0.0)])
    return log_weights, mu, logvar


def mixture_log_prob(z: torch.Tensor, log_weights: torch.Tensor, mu: torch.Tensor,
                     logvar: torch.Tensor) -> torch.Tensor:
    """log sum_c w_c N(z; mu_c, diag exp(logvar_c)), summed over D: z (..., B, D) -> (..., B).

    Components are stacked on dim 0 (C x B and C x B x D, as :func:`mixture_of_experts` returns them);
    a stable log-sum-exp over c, where components of weight 0 (log weight -inf) drop out.
    """
    log_components = log_normal(z.unsqueeze(-3), mu, logvar).sum(-1)  # (..., C, B)
    return torch.logsumexp(log_weights + log_components, dim=-2)


def product_of_gaussians(mu: torch.Tensor, cov: torch.Tensor, mask: torch.Tensor | None = None,
                         prior: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The product of E full-covariance Gaussians N(mu_e, cov_e) (E x D, E x D x D), renormalised.

    Precisions add and the mean is the precision-weighted mean: Λ = sum_e Λ_e, mu = Λ^-1 sum_e Λ_e mu_e
    (the full-covariance form of :func:`product_of_experts`; what the page's 2-D experts show).
    ``mask`` (E,) leaves experts out; ``prior=True`` adds N(0, I); with no expert left, the prior.
    """
    if mu.dim() != 2 or cov.shape != (*mu.shape, mu.shape[1]):
        raise ValueError(f"mu must be E x D and cov E x D x D, got {tuple(mu.shape)} and {tuple(cov.shape)}")
    E, D = mu.shape
    present = torch.ones(E, dtype=torch.bool) if mask is None else torch.as_tensor(mask, dtype=torch.bool)
    eye = torch.eye(D, dtype=mu.dtype, device=mu.device)
    precisions = [torch.linalg.inv(cov[e]) for e in range(E) if present[e]]
    weighted = [p @ mu[e] for p, e in zip(precisions, [e for e in range(E) if present[e]], strict=True)]
    if prior or not precisions:
        precisions.append(eye)
        weighted.append(torch.zeros_like(mu[0]))
    precision = torch.stack(precisions).sum(0)
    fused_cov = torch.linalg.inv(precision)
    fused_cov = 0.5 * (fused_cov + fused_cov.T)  # symmetric to the last bit
    return fused_cov @ torch.stack(weighted).sum(0), fused_cov


def log_normal_full(x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, cov) for a full covariance (D x D): x (..., D) -> (...)."""
    chol = torch.linalg.cholesky(cov)  # cov = L L^T
    solved = torch.linalg.solve_triangular(chol, (x - mu).unsqueeze(-1), upper=False)  # L^-1 (x - mu): (..., D, 1)
    maha = solved.squeeze(-1).pow(2).sum(-1)  # (x - mu)^T cov^-1 (x - mu)
    return -0.5 * (mu.shape[-1] * LOG_2PI + maha) - torch.log(torch.diagonal(chol)).sum()


def covariance_2d(var_x: float, var_y: float, correlation: float) -> torch.Tensor:
    """The 2 x 2 covariance with these variances and correlation ρ: [[vx, ρ√(vx vy)], [ρ√(vx vy), vy]]."""
    if not (var_x > 0 and var_y > 0 and -1 < correlation < 1):
        raise ValueError(f"need variances > 0 and a correlation in (-1, 1), got {var_x}, {var_y}, {correlation}")
    c = correlation * math.sqrt(var_x * var_y)
    return torch.tensor([[var_x, c], [c, var_y]], dtype=torch.float64)


def experts_on_grid(mu: torch.Tensor, cov: torch.Tensor, mask=None, prior: bool = False, *, n: int = 201,
                    half_width: float = 4.0) -> dict:
    """E Gaussian experts in 1-D or 2-D (E x D, E x D x D), their product, and every density on a grid.

    Returns ``axis`` (n,), ``experts`` (E x n, or E x n x n with rows along y), ``prior`` (the N(0, I)
    density), ``product`` (the renormalised product of the present experts, with the prior if asked),
    and its ``mean`` (D,) and ``cov`` (D x D) from :func:`product_of_gaussians`.
    """
    mu = torch.as_tensor(mu, dtype=torch.float64)
    cov = torch.stack([torch.as_tensor(c, dtype=torch.float64) for c in cov])  # a list of D x D, or E x D x D
    D = mu.shape[-1]
    if D not in (1, 2):
        raise ValueError(f"experts_on_grid draws 1-D or 2-D experts, got D = {D}")
    mean, fused = product_of_gaussians(mu, cov, mask, prior)
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    points = axis[:, None] if D == 1 else torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1)  # (n[, n], D)
    density = lambda m, c: log_normal_full(points, m, c).exp()  # noqa: E731
    return {"axis": axis, "experts": torch.stack([density(mu[e], cov[e]) for e in range(mu.shape[0])]),
            "prior": density(torch.zeros(D, dtype=torch.float64), torch.eye(D, dtype=torch.float64)),
            "product": density(mean, fused), "mean": mean, "cov": fused}
