"""Priors p(z) for latent codes, and how far a model's codes are from one.

Every prior here is a mixture of isotropic Gaussians, p(z) = sum_k w_k N(z; m_k, s_k^2 I), so each one
can be sampled exactly and has an exact log-density (what the pages draw under the codes):

- ``gaussian``: N(0, I), one component, any dimension (the VAE's prior).
- ``mixture``: ``components`` Gaussians with means on a circle of radius 2 in the first two dimensions
  (like the 10-component mixture prior of Makhzani et al. 2016, "Adversarial Autoencoders").
- ``rings``, ``pinwheel``, ``moons``: 2-D toy shapes, drawn as chains of narrow Gaussians along two
  rings, five curved arms, or two interleaved half-moons. Their scale is about that of N(0, I).

``code_diagnostics`` measures a model's codes against its prior (KL, MMD, mutual information) and
``ProbedRun`` wraps a ``TrainingRun`` to take that measurement after every chunk of live training.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from genlib.distributions import LOG_2PI, reparameterize
from genlib.objectives import mmd, mutual_information

PRIORS = ("gaussian", "mixture", "rings", "pinwheel", "moons")
SHAPES_2D = ("rings", "pinwheel", "moons")  # priors that exist only in two dimensions


class GaussianMixture(nn.Module):
    """p(z) = sum_k w_k N(z; m_k, s_k^2 I). Its tensors are buffers, so it moves with the model that holds it
    (and, being non-persistent, adds nothing to a checkpoint: the prior is rebuilt from the config)."""

    def __init__(self, means: torch.Tensor, stds: torch.Tensor, weights: torch.Tensor, name: str = "mixture"):
        super().__init__()
        k = means.shape[0] if means.dim() == 2 else -1
        if k < 1 or tuple(stds.shape) != (k,) or tuple(weights.shape) != (k,):
            raise ValueError("means must be K x D, stds and weights K")
        self.name = name
        self.register_buffer("means", means.float(), persistent=False)  # (K, D)
        self.register_buffer("stds", stds.float(), persistent=False)  # (K,)
        self.register_buffer("log_weights", torch.log(weights / weights.sum()).float(), persistent=False)  # (K,)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact draws: (n, D), on the prior's device. Pick a component by its weight, then add its Gaussian
        noise. The draws are made where ``generator`` lives (a CUDA generator draws on CUDA), else on the CPU."""
        device = self.means.device
        where = generator.device if generator is not None else torch.device("cpu")
        k = torch.multinomial(self.log_weights.exp().to(where), n, replacement=True, generator=generator).to(device)
        eps = torch.randn(n, self.dim, generator=generator, device=where).to(device)
        return self.means[k] + self.stds[k, None] * eps

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_d | z_<d) for each dimension d: (B, D). It sums over d to log p(z) (the chain rule);
        for N(0, I) it is log N(z_d; 0, 1)."""
        var = self.stds.pow(2)  # (K,)
        sq = (z[:, None, :] - self.means).pow(2)  # (B, K, D)
        per_dim = -0.5 * (LOG_2PI + var.log()[:, None] + sq / var[:, None])  # log N(z_d; m_kd, s_k^2)
        joint = self.log_weights[:, None] + per_dim.cumsum(-1)  # (B, K, D): log w_k p_k(z_<=d)
        log_marginal = torch.logsumexp(joint, dim=1)  # (B, D): log p(z_<=d)
        return torch.diff(log_marginal, dim=1, prepend=torch.zeros_like(log_marginal[:, :1]))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): (B,)."""
        var = self.stds.pow(2)
        sq = (z[:, None, :] - self.means).pow(2).sum(-1)  # (B, K)
        per_component = -0.5 * (self.dim * (LOG_2PI + var.log()) + sq / var)
        return torch.logsumexp(self.log_weights + per_component, dim=1)


def _chain(points: np.ndarray, std: float, name: str) -> GaussianMixture:
    """A 2-D shape as a chain of equal-weight Gaussians centred on ``points`` (K x 2)."""
    points = torch.as_tensor(points, dtype=torch.float32)
    k = points.shape[0]
    return GaussianMixture(points, torch.full((k,), std), torch.ones(k), name)


def make_prior(name: str, dim: int, *, components: int = 10) -> GaussianMixture:
    """The prior called ``name`` over ``dim``-dimensional codes (see the module docstring), on the CPU: it moves
    with the model that holds it. (Under the meta device, where a checkpoint's shape check builds its model,
    the prior's arithmetic would run Python decompositions that import torch._dynamo: 1.5 s on 2 cores.)"""
    with torch.device("cpu"):
        return _make_prior(name, dim, components)


def _make_prior(name: str, dim: int, components: int) -> GaussianMixture:
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {PRIORS}")
    if name in SHAPES_2D and dim != 2:
        raise ValueError(f"the {name} prior is a 2-D shape; it needs latent_dim = 2, not {dim}")
    if name == "gaussian":
        return GaussianMixture(torch.zeros(1, dim), torch.ones(1), torch.ones(1), name)
    if name == "mixture":
        if dim < 2 or components < 1:
            raise ValueError("the mixture prior needs latent_dim >= 2 and at least one component")
        angle = 2 * math.pi * torch.arange(components) / components
        means = torch.zeros(components, dim)
        means[:, 0], means[:, 1] = 2.0 * angle.cos(), 2.0 * angle.sin()
        return GaussianMixture(means, torch.full((components,), 0.3), torch.ones(components), name)
    if name == "rings":  # radii 0.8 and 2, components spaced by about one std along each ring
        points = [r * np.stack([np.cos(t), np.sin(t)], 1)
                  for r, n in ((0.8, 40), (2.0, 100)) for t in [np.linspace(0, 2 * np.pi, n, endpoint=False)]]
        return _chain(np.concatenate(points), 0.12, name)
    if name == "pinwheel":  # five arms that curl as they leave the centre (after Johnson et al. 2016)
        t = np.linspace(0.35, 2.2, 24)
        points = [t[:, None] * np.stack([np.cos(a + 0.5 * t), np.sin(a + 0.5 * t)], 1)
                  for a in 2 * np.pi * np.arange(5) / 5]
        return _chain(np.concatenate(points), 0.12, name)
    t = np.linspace(0, np.pi, 40)  # moons: the two half circles of sklearn's make_moons, centred, x 1.5
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    return _chain((np.concatenate([upper, lower]) - [0.5, 0.25]) * 1.5, 0.12, name)


# --------------------------------------------------------------------------------------- 2-D pictures


def two_clouds(n: int, *, shift: float = 1.0, scale: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 2-D Gaussian samples of n points each: x ~ N(0, I) and y ~ N((shift, 0), scale^2 I)."""
    if int(n) != n or n < 2:
        raise ValueError(f"each cloud needs at least 2 points, got {n}")
    if not (scale > 0 and math.isfinite(scale) and math.isfinite(shift)):
        raise ValueError(f"the scale must be a finite number > 0 and the shift finite, got {scale} and {shift}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(int(n), 2, generator=g)
    y = scale * torch.randn(int(n), 2, generator=g) + torch.tensor([shift, 0.0])
    return x, y


def grid_2d(limit: float, n: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """An n x n grid over [-limit, limit]^2: the axes (n,), (n,) and its points (n * n, 2), row-major in y."""
    axis = np.linspace(-limit, limit, n)
    gx, gy = np.meshgrid(axis, axis)
    return axis, axis, torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)


@torch.no_grad()
def seeded_draws(prior: GaussianMixture, n: int, seed: int = 0) -> np.ndarray:
    """n draws of ``prior`` from ``seed`` as numpy (the same points every time they are drawn)."""
    return prior.sample(n, torch.Generator().manual_seed(seed)).cpu().numpy()


@torch.no_grad()
def density_grid(prior: GaussianMixture, limit: float = 3.5, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The density p(z) of a 2-D prior on an n x n grid: (xs, ys, density with rows along y)."""
    if prior.dim != 2:
        raise ValueError(f"only a 2-D prior can be drawn as a density; this one has {prior.dim} dimensions")
    xs, ys, points = grid_2d(limit, n)
    return xs, ys, prior.log_prob(points.to(prior.means.device)).exp().reshape(n, n).cpu().numpy()


# ----------------------------------------------------------------------------- codes against the prior


def prior_of(model) -> GaussianMixture:
    """The model's prior: its own ``prior`` if it has one (the AAE), else N(0, I) (the VAE family)."""
    prior = getattr(model, "prior", None)
    return prior if prior is not None else make_prior("gaussian", model.config.latent_dim).to(model.device)


@torch.no_grad()
def code_diagnostics(model, x: torch.Tensor, *, kernel: str = "imq", bandwidth: float = 1.0,
                     scales: tuple[float, ...] = (1.0,), seed: int = 0) -> dict:
    """How far the codes of ``x`` are from the model's prior, in nats per example (MMD is unitless):

    - ``kl``: the model's own KL term, E_x KL(q(z|x) || p(z)) (``model.loss``);
    - ``mmd``: unbiased MMD^2 between one code z ~ q(z|x) per example and as many prior draws;
    - ``mi``: the minibatch estimate of I(x; z) under q (``objectives.mutual_information``);
    - ``recon``: -E_q log p(x|z).

    Draws its noise from ``seed`` without touching the caller's random state.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
            torch.manual_seed(seed)
            x = x.to(model.device)
            terms = model.loss(x)
            mu, logvar = model.encode(model.likelihood.prepare(x))
            z = reparameterize(mu, logvar)
            prior = prior_of(model)
            z_prior = prior.sample(len(z), torch.Generator().manual_seed(seed))
            return {
                "kl": terms["kl"].mean().item(),
                "recon": terms["recon"].mean().item(),
                "mmd": mmd(z, z_prior, kernel, bandwidth=bandwidth, scales=scales).item(),
                "mi": mutual_information(mu, logvar, z).item(),
            }
    finally:
        model.train(was_training)


class ProbedRun:
    """A ``TrainingRun`` that measures ``code_diagnostics`` on held-out ``x`` as it trains.

    Run-like for the live pages (``advance``, ``done``, ``stopped``, ``step``, ``steps``); ``probes`` holds
    one dict per measurement with the step and the diagnostics: at step 0, then after any chunk that ends
    at least ``every`` steps after the last measurement, and at the end. Probing uses its own seed, so the
    run trains exactly as it would unprobed.
    """

    def __init__(self, run, x: torch.Tensor, *, every: int = 10, **diagnostic_settings):
        self.run = run
        self.x = x
        self.every = int(every)
        self.settings = diagnostic_settings
        self.probes: list[dict] = []
        self.probe()

    def probe(self) -> None:
        self.probes.append({"step": self.run.step, **code_diagnostics(self.run.model, self.x, **self.settings)})

    def probe_if_due(self) -> None:
        """Probe where a measurement is due: after each piece of training (``advance``, or the run's
        ``TrainingRun`` trained outside it, as ``ui.live`` does with runs stacked by ``genlib.batched``)."""
        if self.run.done or self.run.step - self.probes[-1]["step"] >= self.every:
            self.probe()

    def advance(self, n_steps: int) -> list[dict]:
        records = self.run.advance(n_steps)
        if records:
            self.probe_if_due()
        return records

    def dissect_next(self) -> dict | None:
        """The next step dissected (``TrainingRun.dissect_next``), probed like any other step."""
        dissection = self.run.dissect_next()
        if dissection is not None:
            self.probe_if_due()
        return dissection

    def extend(self, n_steps: int) -> None:
        self.run.extend(n_steps)

    def view_at(self, step: int, states: dict):
        """The run at ``step`` (``genlib.timeline``), with the probes taken up to it."""
        view = copy.copy(self)
        view.run = self.run.view_at(step, states)
        view.probes = [p for p in self.probes if p["step"] <= step]
        return view

    @property
    def model(self):
        return self.run.model

    @property
    def history(self) -> list[dict]:
        return self.run.history

    @property
    def done(self) -> bool:
        return self.run.done

    @property
    def stopped(self) -> str | None:
        return self.run.stopped

    @property
    def step(self) -> int:
        return self.run.step

    @property
    def steps(self) -> int:
        return self.run.steps
