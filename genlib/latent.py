"""Looking inside a latent space: encode a set, order dimensions by KL, traverse, interpolate, decode grids.

Works with any VAE-family model that has ``encode(x) -> (mu, logvar)``, ``decode(z) -> x_logits`` and a
``likelihood`` whose ``mean(x_logits)`` is the picture of a decoded code.

- Traversals (Higgins et al. 2017, "beta-VAE", Fig. 1-2): sweep one dimension of a code over a range, the
  others held fixed, and decode each step. Dimensions are listed by their average KL(q(z_d | x) || N(0, 1)),
  largest first: a dimension with KL near 0 carries no information about x and decodes to the same image.
- Interpolation: linear, or spherical (slerp; Shoemake 1985, used for latent paths by White 2016,
  "Sampling Generative Networks"), which keeps the path at the norm typical of Gaussian codes
  instead of cutting through the low-norm centre.
- The manifold grid of a 2-D latent (Kingma & Welling 2014, Fig. 4): decode a regular grid of codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from genlib import pretrained
from genlib.distributions import gaussian_kl

INTERPOLATIONS = ("linear", "spherical")


EXPLORABLE = ("vae", "info-vae", "mmd-vae", "aae", "hierarchical-vae")  # registry names with encode / decode(z)
IMAGE_SHAPES = {(1, 8, 8): "digits", (1, 16, 16): "sprites", (1, 28, 28): "mnist"}  # data_shape -> a dataset


@dataclass
class Codes:
    """The posterior of each example: ``mu`` and ``logvar`` (N x D), and the per-dimension KL (D,), nats.

    ``decoded`` is how many leading dimensions ``decode`` takes (all of them for a VAE; z_1 only for a
    hierarchical VAE, whose ``encode`` lists z_1 first and the upper layers after it).
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    kl_per_dim: torch.Tensor
    decoded: int

    @property
    def dims_by_kl(self) -> list[int]:
        """The decodable latent dimensions ordered by their mean KL, largest first."""
        return torch.argsort(self.kl_per_dim[: self.decoded], descending=True, stable=True).tolist()

    def kl_of(self, dims: list[int]) -> list[float]:
        """The mean KL of each dimension in ``dims``, nats."""
        return self.kl_per_dim[dims].tolist()

    def code(self, index: int) -> torch.Tensor:
        """Example ``index``'s posterior mean, cut to what ``decode`` takes: (decoded,)."""
        return self.mu[index, : self.decoded]


def can_explore(model) -> bool:
    """Whether ``model`` has a code this module can encode, traverse and decode (images only)."""
    return (getattr(model, "name", None) in EXPLORABLE and len(getattr(model, "data_shape", ())) == 3
            and hasattr(model, "encode") and hasattr(model, "likelihood"))


def explorable_pretrained() -> list[str]:
    """The pretrained models (see genlib.pretrained) whose latent space this module can explore."""
    return [name for name, entry in sorted(pretrained.manifest().items())
            if entry.get("model") in EXPLORABLE and entry.get("data") in IMAGE_SHAPES.values()]


def colour_values(dataset, by: str) -> np.ndarray:
    """What to colour each example by: ``"label"`` or the name of one of the dataset's factors: (N,)."""
    if by == "label" and dataset.y is not None:
        return dataset.y.numpy()
    if dataset.factors is not None and by in dataset.factor_names:
        return dataset.factors[:, dataset.factor_names.index(by)].numpy().astype(np.int64)
    raise ValueError(f"{dataset.name} has no {by!r} to colour by")


def data_name(model) -> str | None:
    """The dataset a model was trained on: its checkpoint's record, else guessed from its data shape."""
    recorded = (getattr(model, "checkpoint", None) or {}).get("data")
    return recorded or IMAGE_SHAPES.get(tuple(getattr(model, "data_shape", ())))


def _check_latent(model) -> None:
    missing = [name for name in ("encode", "decode", "likelihood") if not hasattr(model, name)]
    if missing:
        raise TypeError(f"{type(model).__name__} has no latent code to explore (it lacks {', '.join(missing)})")


@torch.no_grad()
def encode(model, x: torch.Tensor, *, batch_size: int = 1000) -> Codes:
    """Encode ``x`` (N x ...) to its posterior parameters, in evaluation mode, without gradients."""
    _check_latent(model)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        parts = [model.encode(model.likelihood.prepare(x[s : s + batch_size].to(device)))
                 for s in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    mu = torch.cat([p[0] for p in parts]).cpu()
    logvar = torch.cat([p[1] for p in parts]).cpu()
    return Codes(mu=mu, logvar=logvar, kl_per_dim=gaussian_kl(mu, logvar).mean(0), decoded=latent_dim(model))


@torch.no_grad()
def decode(model, z: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The picture of each code: E[x | z] (the likelihood's mean), shaped (..., *data_shape), on the CPU."""
    _check_latent(model)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        flat = z.reshape(-1, z.shape[-1]).to(device)  # (M, D)
        out = torch.cat([model.likelihood.mean(model.decode(flat[s : s + batch_size]))
                         for s in range(0, len(flat), batch_size)])
    finally:
        model.train(was_training)
    return out.cpu().reshape(*z.shape[:-1], *out.shape[1:])


# ------------------------------------------------------------------------------------------- paths


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` codes evenly spaced on the straight line from z0 to z1 (both D): (steps, D)."""
    t = _fractions(steps, z0)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` codes along the great-circle arc from z0 to z1 (Shoemake 1985): (steps, D).

    slerp(t) = sin((1 - t) Ω) / sin Ω · z0 + sin(t Ω) / sin Ω · z1, with Ω the angle between z0 and z1;
    the norm is interpolated linearly along the way, so the endpoints are exactly z0 and z1 and, for two
    codes of equal norm, every point keeps that norm. Nearly parallel (or zero) codes fall back to ``lerp``.
    """
    t = _fractions(steps, z0)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-12 or n1 < 1e-12:
        return lerp(z0, z1, steps)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1.0, 1.0))
    if omega < 1e-6 or math.pi - omega < 1e-6:  # parallel or opposite: the great circle is undefined or not unique
        return lerp(z0, z1, steps)
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)  # unit vectors
    return direction * ((1 - t) * n0 + t * n1)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """``lerp`` or ``slerp`` by name ("linear" or "spherical")."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose one of {INTERPOLATIONS}")
    return (lerp if method == "linear" else slerp)(z0, z1, steps)


def interpolation_paths(model, z0: torch.Tensor, z1: torch.Tensor, steps: int = 9) -> dict:
    """Both paths from z0 to z1, decoded: method -> (images (steps, *data_shape), code norms |z| (steps,)),
    as numpy arrays."""
    out = {}
    for method in INTERPOLATIONS:
        path = interpolate(z0.detach().cpu().float(), z1.detach().cpu().float(), steps, method)  # (steps, D)
        out[method] = (decode(model, path).numpy(), path.norm(dim=-1).numpy())
    return out


def _fractions(steps: int, like: torch.Tensor) -> torch.Tensor:
    if int(steps) != steps or steps < 2:
        raise ValueError(f"a path needs at least 2 steps, got {steps}")
    return torch.linspace(0, 1, int(steps), dtype=like.dtype, device=like.device)[:, None]  # (steps, 1)


# ------------------------------------------------------------------------------------------- traversals


def traversal_codes(base: torch.Tensor, dims: list[int], values: torch.Tensor) -> torch.Tensor:
    """Codes that sweep each dimension in ``dims`` over ``values``, the others held at ``base`` (D):
    (len(dims), len(values), D)."""
    d = base.shape[-1]
    bad = [i for i in dims if not 0 <= i < d]
    if bad:
        raise ValueError(f"latent dimensions {bad} do not exist; the code has {d}")
    codes = base.expand(len(dims), len(values), d).clone()
    for row, i in enumerate(dims):
        codes[row, :, i] = values
    return codes


def traverse(model, base: torch.Tensor | None, dims: list[int], low: float = -3.0, high: float = 3.0,
             steps: int = 9) -> torch.Tensor:
    """Decoded traversals: row r sweeps dimension ``dims[r]`` from ``low`` to ``high`` in ``steps`` steps,
    the other dimensions held at ``base`` (None: at 0, the prior's mean).

    Returns (len(dims), steps, *data_shape).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"the traversal range needs low < high, got [{low}, {high}]")
    if steps < 2:
        raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
    values = torch.linspace(low, high, int(steps))
    base = torch.zeros(latent_dim(model)) if base is None else base.detach().cpu().float()
    return decode(model, traversal_codes(base, dims, values))


def manifold_grid(model, n: int = 15, span: float = 2.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode an n x n grid of a 2-D latent over [-span, span]^2: returns (images (n, n, *data_shape), values (n,)).

    Row 0 is the largest z_2, so the picture reads like a plot (z_1 to the right, z_2 upwards).
    """
    d = latent_dim(model)
    if d != 2:
        raise ValueError(f"the manifold grid needs a 2-D latent; this model's has {d} dimensions")
    if n < 2 or not (math.isfinite(span) and span > 0):
        raise ValueError("the grid needs n >= 2 and a span > 0")
    values = torch.linspace(-span, span, int(n))
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")  # (n, n): columns z1, rows z2 descending
    return decode(model, torch.stack([z1, z2], dim=-1)), values


def latent_dim(model) -> int:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "latent_dim"):
        return int(config.latent_dim)
    raise TypeError(f"cannot tell the latent size of {type(model).__name__}")
