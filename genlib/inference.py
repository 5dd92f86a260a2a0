"""Exact inference on a 2-D latent: log p(x) and the true posterior on a grid, and the gaps of the bound.

For a model with a 2-D latent, p(x) = ∫ p(x | z) p(z) dz can be computed by quadrature, so the ELBO can be
set against the number it bounds. The gap splits in two (Cremer, Li & Duvenaud 2018, "Inference
Suboptimality in Variational Autoencoders", Eq. 3-5):

    log p(x) - ELBO(q_φ) = [log p(x) - ELBO(q*)] + [ELBO(q*) - ELBO(q_φ)]
                         =   approximation gap   +   amortisation gap

where q_φ(z | x) is the encoder's Gaussian and q* the best diagonal Gaussian for this x alone (found by
optimising its mean and variance). Each gap is a KL: log p(x) - ELBO(q) = KL(q(z | x) || p(z | x)) >= 0.

- :func:`log_likelihood_grid` and :func:`posterior_grid`: trapezoidal quadrature of p(x | z) p(z), first
  on [-L, L]², then on a box zoomed onto where that pass found the posterior. Its error estimate is the
  change in log p(x) when the zoomed grid's resolution is halved (quadrature of a smooth, decaying
  integrand converges fast, so the full grid is closer than that), plus the share of the mass on the
  box's edge (mass the box may cut off), plus the rounding of the float32 result.
- :func:`elbo_quadrature`: E_q[log p(x | z) + log p(z)] + H(q) by Gauss-Hermite quadrature over the
  Gaussian q: deterministic, so q* can be found by gradient ascent.
- :func:`iwae_bounds`: the importance-weighted bound (Burda et al. 2016, Eq. 8) for several K, with its
  Monte-Carlo standard error; it rises towards log p(x) as K grows.

Everything is per example, in nats (the model's likelihood's unit), and draws no noise from the global
random state; model parameters are never changed (the optimisation of q* asks autograd for the gradient
of q's parameters only).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from genlib.distributions import LOG_2PI, log_normal
from genlib.nn import TensorAdam
from genlib.priors import prior_of

DECODE_CHUNK = 8192  # latent points decoded at once


@dataclass(frozen=True)
class Grid:
    n: int = 129  # points per axis; odd, so the half-resolution grid shares the box's corners
    half_width: float = 5.0  # the first pass covers [-L, L]²; N(0, I) puts 1.1e-6 of its mass outside
    zoom: bool = True  # second pass: n x n points on the box holding the posterior's mass
    floor: float = 30.0  # the zoomed box holds every first-pass point within this many nats of the peak

    def __post_init__(self):
        if self.n < 5 or self.n % 2 == 0:
            raise ValueError(f"the grid needs an odd number of points per axis, at least 5; got {self.n}")
        if not (self.half_width > 0 and math.isfinite(self.half_width)):
            raise ValueError(f"half_width must be a finite number > 0, got {self.half_width}")


@dataclass
class PosteriorGrid:
    """The true posterior of each example on its own box: ``axes`` (B, 2, n) the z_1 and z_2 points,
    ``log_density`` (B, n, n) log p(z | x) with rows along z_2 (a density: it integrates to 1 on the box),
    ``log_px`` and ``error`` (B,) in nats."""

    axes: torch.Tensor
    log_density: torch.Tensor
    log_px: torch.Tensor
    error: torch.Tensor

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean (B, 2) and covariance (B, 2, 2), by the same quadrature."""
        w = _trapezoid_weights(self.axes)  # (B, n, n), includes the cell area
        p = (self.log_density.double().exp() * w)  # (B, n, n): mass per point
        p = p / p.sum((1, 2), keepdim=True)
        z1, z2 = self.axes[:, 0, None, :].double(), self.axes[:, 1, :, None].double()  # (B, 1, n), (B, n, 1)
        m1, m2 = (p * z1).sum((1, 2)), (p * z2).sum((1, 2))
        d1, d2 = z1 - m1[:, None, None], z2 - m2[:, None, None]
        c11, c22, c12 = (p * d1 * d1).sum((1, 2)), (p * d2 * d2).sum((1, 2)), (p * d1 * d2).sum((1, 2))
        cov = torch.stack([torch.stack([c11, c12], -1), torch.stack([c12, c22], -1)], -2)
        return torch.stack([m1, m2], -1), cov


def modes(axes, log_density, *, min_mass: float = 0.05, radius: int = 6) -> list[tuple[float, float, float]]:
    """The modes of a posterior on its grid (``axes`` (2, n), ``log_density`` (n, n), rows along z_2): local
    maxima within ``radius`` cells on every side that hold at least ``min_mass`` of the mass in that window,
    as (z_1, z_2, mass), the heaviest first. A picture's notion of a mode, for saying "two modes" on a page."""
    from scipy.ndimage import maximum_filter

    density = np.exp(np.asarray(log_density, dtype=np.float64))
    mass = density / density.sum()
    peaks = (density == maximum_filter(density, size=2 * radius + 1, mode="constant")) & (mass > 0)
    found = []
    for r, c in zip(*np.nonzero(peaks), strict=True):
        share = float(mass[max(0, r - radius) : r + radius + 1, max(0, c - radius) : c + radius + 1].sum())
        if share >= min_mass:
            found.append((float(axes[0][c]), float(axes[1][r]), share))
    return sorted(found, key=lambda m: -m[2])


def check_2d(model) -> None:
    if not hasattr(model, "encode") or getattr(model.config, "latent_dim", None) != 2:
        d = getattr(getattr(model, "config", None), "latent_dim", None)
        raise ValueError(f"exact inference on a grid needs a model with a 2-D latent (this one has {d})")


def log_joint(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) + log p(z) for ``x`` (B, ...) prepared and ``z`` (B, M, D): (B, M), decoded in chunks."""
    b, m, d = z.shape
    out = torch.empty(b, m, dtype=torch.float32, device=z.device)
    prior = prior_of(model)
    per_chunk = max(1, DECODE_CHUNK // b)
    for start in range(0, m, per_chunk):
        zc = z[:, start : start + per_chunk].transpose(0, 1)  # (M', B, D): the sample axis in front of B
        log_px_z = model.likelihood.log_prob(model.decode(zc.float()), x)  # (M', B)
        out[:, start : start + per_chunk] = (log_px_z + log_prior(prior, zc.float())).T
    return out


def log_prior(prior, z: torch.Tensor) -> torch.Tensor:
    """log p(z) for z (..., D): (...)."""
    return prior.log_prob(z.reshape(-1, z.shape[-1])).reshape(z.shape[:-1])


def _trapezoid_weights(axes: torch.Tensor) -> torch.Tensor:
    """(B, 2, n) axes -> (B, n, n) trapezoid weights times the cell area, rows along z_2."""
    n = axes.shape[-1]
    h = (axes[:, :, 1] - axes[:, :, 0]).double()  # (B, 2)
    w = torch.ones(n, dtype=torch.float64, device=axes.device)
    w[0] = w[-1] = 0.5
    return (w[:, None] * w[None, :])[None] * (h[:, 0] * h[:, 1])[:, None, None]


def _box_points(lo: torch.Tensor, hi: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (B, 2) -> axes (B, 2, n) and the points (B, n * n, 2), row-major with rows along z_2."""
    t = torch.linspace(0, 1, n, dtype=torch.float64, device=lo.device)
    axes = lo.double()[:, :, None] + (hi - lo).double()[:, :, None] * t  # (B, 2, n)
    z1 = axes[:, 0, None, :].expand(-1, n, n)
    z2 = axes[:, 1, :, None].expand(-1, n, n)
    return axes, torch.stack([z1, z2], -1).reshape(len(lo), n * n, 2)


def _integrate(log_f: torch.Tensor, axes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log ∫ f on the grid, on its half-resolution subgrid, and the share of the mass on the edge: (B,) each."""
    b, n = log_f.shape[0], axes.shape[-1]
    log_f = log_f.double().reshape(b, n, n)
    full = torch.logsumexp(log_f + _trapezoid_weights(axes).log(), dim=(1, 2))
    half_axes = axes[:, :, ::2]
    half = torch.logsumexp(log_f[:, ::2, ::2] + _trapezoid_weights(half_axes).log(), dim=(1, 2))
    edge = torch.zeros_like(log_f, dtype=torch.bool)
    edge[:, 0, :] = edge[:, -1, :] = edge[:, :, 0] = edge[:, :, -1] = True
    edge_log = torch.logsumexp((log_f + _trapezoid_weights(axes).log()).masked_fill(~edge, -math.inf), dim=(1, 2))
    return full, half, (edge_log - full).exp()


@torch.no_grad()
def posterior_grid(model, x: torch.Tensor, grid: Grid = Grid()) -> PosteriorGrid:
    """The true posterior p(z | x) ∝ p(x | z) p(z) of each example of ``x`` on a grid, with log p(x)."""
    check_2d(model)
    x = model.likelihood.prepare(x.to(model.device))
    b, L = len(x), grid.half_width
    lo = torch.full((b, 2), -L, dtype=torch.float64, device=x.device)
    axes, z = _box_points(lo, -lo, grid.n)
    log_f = log_joint(model, x, z)  # (B, n * n)
    if grid.zoom:  # a box around the points within `floor` nats of the peak, one cell wider on each side
        keep = log_f >= log_f.max(1, keepdim=True).values - grid.floor  # (B, n * n)
        pts = z.masked_fill(~keep[..., None], math.nan)
        cell = 2 * L / (grid.n - 1)
        lo = (torch.from_numpy(np.nanmin(pts.cpu().numpy(), axis=1)).to(x.device) - cell).clamp(-L, L)
        hi = (torch.from_numpy(np.nanmax(pts.cpu().numpy(), axis=1)).to(x.device) + cell).clamp(-L, L)
        axes, z = _box_points(lo, hi, grid.n)
        log_f = log_joint(model, x, z)
    full, half, edge = _integrate(log_f, axes)
    error = (full - half).abs() + torch.log1p(edge) + 2 * torch.finfo(torch.float32).eps * full.abs()  # + rounding
    log_density = log_f.double().reshape(b, grid.n, grid.n) - full[:, None, None]
    return PosteriorGrid(axes.float(), log_density.float(), full.float(), error.float())


def log_likelihood_grid(model, x: torch.Tensor, grid: Grid = Grid()) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x) per example in nats (not its negative), and the estimate's error: two (B,) tensors."""
    result = posterior_grid(model, x, grid)
    return result.log_px, result.error


# ------------------------------------------------------------------------------------ the bound and its gaps


@functools.lru_cache(maxsize=16)
def _hermite_mesh(order: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Hermite points and weights for E_{N(0, I)}[f(ε)] in ``d`` dimensions, the product rule of
    ε = √2 t, w / √π: points (M, D) and weights (M,), M = order^D. Cached: q*'s fit calls the quadrature a
    hundred times or more, and ``hermgauss`` took a sixth of that time."""
    t, w = np.polynomial.hermite.hermgauss(order)
    eps = torch.tensor(t * math.sqrt(2), dtype=torch.float32, device=device)
    log_w = torch.tensor(np.log(w / math.sqrt(math.pi)), dtype=torch.float32, device=device)
    mesh = torch.stack(torch.meshgrid(*[eps] * d, indexing="ij"), -1).reshape(-1, d)  # (M, D)
    log_weights = torch.stack(torch.meshgrid(*[log_w] * d, indexing="ij"), -1).reshape(-1, d).sum(-1)  # (M,)
    return mesh, log_weights.exp()


def elbo_quadrature(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, order: int = 12,
                    prior=None):
    """ELBO(q) = E_q[log p(x | z) + log p(z)] + H(q) for the diagonal Gaussian q = N(mu, exp(logvar)) of
    each example (B, D): (B,) nats, by Gauss-Hermite quadrature with ``order`` points per dimension
    (order^D decoder calls per example). ``x`` is prepared. Differentiable in mu and logvar. ``prior``:
    the model's (``prior_of``), where a caller that integrates many times has it already."""
    d = mu.shape[-1]
    mesh, weights = _hermite_mesh(order, d, mu.device)  # (M, D), (M,)
    z = mu[:, None, :] + (0.5 * logvar).exp()[:, None, :] * mesh  # (B, M, D)
    prior = prior if prior is not None else prior_of(model)
    log_px_z = model.likelihood.log_prob(model.decode(z.transpose(0, 1)), x)  # (M, B)
    expected = (weights[:, None] * (log_px_z + log_prior(prior, z.transpose(0, 1)))).sum(0)
    entropy = 0.5 * (d * (1 + LOG_2PI) + logvar.sum(-1))
    return expected + entropy


def best_gaussian(model, x: torch.Tensor, starts: list[tuple[torch.Tensor, torch.Tensor]], *, steps: int = 300,
                  lr: float = 0.05, order: int = 12, tol: float = 1e-5):
    """q* = argmax ELBO over diagonal Gaussians, for each example alone (the encoder plays no part):
    gradient ascent (Adam) on its mean and log-variance from each of ``starts`` ((mu, logvar) pairs, each
    B x D, all optimised as one batch); the best per example is kept, never worse than its start. Stops
    early once no ELBO rose by more than ``tol`` nats over 25 steps. Returns (mu, logvar, elbo). ``x`` is
    prepared."""
    n_starts, b = len(starts), len(x)
    xs = x.repeat(n_starts, *[1] * (x.dim() - 1))  # (S * B, ...): start s of example i at row s * B + i
    mu0 = torch.cat([m for m, _ in starts]).detach()
    logvar0 = torch.cat([lv for _, lv in starts]).detach().clamp(-20, 5)
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    opt = TensorAdam([mu, logvar], lr=lr)  # torch.optim.Adam's numbers, without importing torch._dynamo
    quadrature = functools.partial(elbo_quadrature, model, xs, order=order, prior=prior_of(model))
    with torch.no_grad():
        start_elbo = quadrature(mu0, logvar0)
    best = start_elbo.clone()
    for step in range(steps):
        loss = -quadrature(mu, logvar).sum()  # examples are independent
        opt.step(torch.autograd.grad(loss, [mu, logvar]))  # q's gradient only; the model's parameters untouched
        if step % 25 == 24:
            with torch.no_grad():
                now = quadrature(mu, logvar)
            if (now - best).max() < tol:
                break
            best = torch.maximum(best, now)
    with torch.no_grad():
        elbo = quadrature(mu, logvar)
        keep = elbo >= start_elbo
        mu = torch.where(keep[:, None], mu, mu0).reshape(n_starts, b, -1)
        logvar = torch.where(keep[:, None], logvar, logvar0).reshape(n_starts, b, -1)
        elbo = torch.maximum(elbo, start_elbo).reshape(n_starts, b)
        pick = elbo.argmax(0)  # (B,): the best start of each example
        rows = torch.arange(b, device=pick.device)
        return mu[pick, rows], logvar[pick, rows], elbo[pick, rows]


def bound_gaps(model, x: torch.Tensor, *, grid: Grid = Grid(), steps: int = 300, order: int = 12,
               posterior: PosteriorGrid | None = None) -> dict:
    """log p(x), the encoder's ELBO, the best Gaussian's ELBO and the two gaps, per example (B,), nats.

    q* starts from the encoder's q and from the grid posterior's mean with its conditional variances
    1 / Λ_dd (Λ the inverse covariance: the best diagonal Gaussian when the posterior is Gaussian)."""
    check_2d(model)
    post = posterior if posterior is not None else posterior_grid(model, x, grid)
    xp = model.likelihood.prepare(x.to(model.device))
    with torch.no_grad():
        mu_enc, logvar_enc = model.encode(xp)
        elbo_enc = elbo_quadrature(model, xp, mu_enc, logvar_enc, order=order)
        mean, cov = post.moments()
        cond_var = 1.0 / torch.linalg.inv(cov + 1e-12 * torch.eye(2, dtype=cov.dtype)).diagonal(dim1=-2, dim2=-1)
    starts = [(mu_enc, logvar_enc), (mean.float(), cond_var.clamp_min(1e-12).log().float())]
    mu_best, logvar_best, elbo_best = best_gaussian(model, xp, starts, steps=steps, order=order)
    return {"log_px": post.log_px, "error": post.error, "elbo_encoder": elbo_enc, "elbo_best": elbo_best,
            "approximation_gap": post.log_px - elbo_best, "amortisation_gap": elbo_best - elbo_enc,
            "mu_encoder": mu_enc, "logvar_encoder": logvar_enc, "mu_best": mu_best.detach(),
            "logvar_best": logvar_best.detach(), "posterior": post}


@torch.no_grad()
def iwae_bounds(model, x: torch.Tensor, ks=(1, 10, 100, 1000, 5000), *, repeats: int = 8, seed: int = 0) -> dict:
    """The IWAE bound log (1/K) Σ_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x) the encoder's, for each K of
    ``ks``: ``{"k": [...], "mean": (len(ks), B), "stderr": (len(ks), B)}`` over ``repeats`` independent
    draws (each K uses the first K of a draw's samples). Nats per example; any latent size."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError("every K must be >= 1")
    xp = model.likelihood.prepare(x.to(model.device))
    mu, logvar = model.encode(xp)  # (B, D)
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    values = torch.empty(repeats, len(ks), len(xp), dtype=torch.float64)
    for r in range(repeats):
        eps = torch.randn((ks[-1], *mu.shape), generator=gen, device=mu.device, dtype=mu.dtype)  # (K, B, D)
        z = mu + (0.5 * logvar).exp() * eps
        log_w = log_joint(model, xp, z.transpose(0, 1)).T - log_normal(z, mu, logvar).sum(-1)  # (K, B)
        log_w = log_w.double()
        for i, k in enumerate(ks):
            values[r, i] = torch.logsumexp(log_w[:k], 0) - math.log(k)
    stderr = values.std(0) / math.sqrt(repeats) if repeats > 1 else torch.zeros_like(values[0])
    return {"k": ks, "mean": values.mean(0), "stderr": stderr}


@torch.no_grad()
def elbo_monte_carlo(model, x: torch.Tensor, *, samples: int = 1000, seed: int = 0):
    """The encoder's ELBO, E_q[log p(x, z) - log q(z | x)], by ``samples`` draws z ~ q(z | x), for any latent
    size: (mean, standard error), each (B,), nats. For a 2-D latent :func:`elbo_quadrature` is exact."""
    xp = model.likelihood.prepare(x.to(model.device))
    mu, logvar = model.encode(xp)
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    z = mu + (0.5 * logvar).exp() * torch.randn((samples, *mu.shape), generator=gen, device=mu.device)
    log_w = (log_joint(model, xp, z.transpose(0, 1)).T - log_normal(z, mu, logvar).sum(-1)).double()  # (S, B)
    return log_w.mean(0), log_w.std(0) / math.sqrt(samples)


KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)  # the Inference lab's IWAE-K steps


def report(model, x: torch.Tensor, *, ks=KS, repeats: int = 8, seed: int = 0, grid: Grid = Grid()) -> dict:
    """Everything the Inference lab shows for one image ``x`` (1, ..., a tensor or an array), as floats and
    numpy arrays: q(z|x)'s ``mu`` and ``logvar``; the IWAE bound for each K (``iwae``: k, mean, stderr);
    the encoder's ``elbo``; and for a 2-D latent also ``log_px`` and its ``error``, the best Gaussian's
    ``mu_best`` / ``logvar_best`` and ``elbo_best``, the two gaps, and the true posterior on its grid
    (``axes``, ``log_density``)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    iw = iwae_bounds(model, x, ks, repeats=repeats, seed=seed)
    out = {"iwae": {"k": iw["k"], "mean": iw["mean"][:, 0].numpy(), "stderr": iw["stderr"][:, 0].numpy()}}
    if getattr(model.config, "latent_dim", None) != 2:
        with torch.no_grad():
            mu, logvar = model.encode(model.likelihood.prepare(x.to(model.device)))
        elbo, se = elbo_monte_carlo(model, x, seed=seed)
        return {**out, "mu": mu[0].cpu().numpy(), "logvar": logvar[0].cpu().numpy(), "elbo": float(elbo[0]),
                "elbo_stderr": float(se[0])}
    gaps = bound_gaps(model, x, grid=grid)
    post = gaps["posterior"]
    first = {k: float(v[0]) for k, v in gaps.items() if k in ("log_px", "error", "elbo_best", "approximation_gap",
                                                              "amortisation_gap")}
    return {**out, **first, "elbo": float(gaps["elbo_encoder"][0]), "elbo_stderr": 0.0,
            "modes": modes(post.axes[0].cpu().numpy(), post.log_density[0].cpu().numpy()),
            "mu": gaps["mu_encoder"][0].cpu().numpy(), "logvar": gaps["logvar_encoder"][0].cpu().numpy(),
            "mu_best": gaps["mu_best"][0].cpu().numpy(), "logvar_best": gaps["logvar_best"][0].cpu().numpy(),
            "axes": post.axes[0].cpu().numpy(), "log_density": post.log_density[0].cpu().numpy()}
