"""What the hierarchical VAE page shows of each layer: sample grids with chosen layers' noise held fixed, how
much of the samples' variation each layer carries, and the correlations of the codes of a layer, marginally and
given the layers above (Sønderby et al. 2016: higher layers hold the global form, lower ones the detail).

Every function takes a ``genlib.models.hierarchical.HierarchicalVAE`` and uses only its sampling methods
(``draw_noise``, ``sample_latents``, ``sample``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from genlib.models.hierarchical import HierarchicalVAE


@torch.no_grad()
def samples_with_fixed_layers(model: HierarchicalVAE, fixed_layers: Sequence[int], *, rows: int = 4, cols: int = 8,
                              temperature: float | Sequence[float] = 1.0, seed: int = 0) -> torch.Tensor:
    """rows x cols samples (rows * cols, C, H, W): within a row the noise of ``fixed_layers`` is shared,
    every other layer is redrawn per picture. Rows differ in the fixed layers' noise."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    row_noise = model.draw_noise(rows, g)  # the shared noise of each row
    fixed = {i: row_noise[i].repeat_interleave(cols, 0) for i in fixed_layers}  # (rows * cols, D_i)
    return model.sample(rows * cols, g, temperature=temperature, fixed=fixed)


@torch.no_grad()
def sample_variance(model: HierarchicalVAE, fixed_layers: Sequence[int] = (), *, groups: int = 8, per_group: int = 32,
                    temperature: float | Sequence[float] = 1.0, seed: int = 0) -> float:
    """How much samples vary when ``fixed_layers`` are held fixed: the per-pixel variance of the decoded means
    across the ``per_group`` samples of a group (sharing the fixed layers' noise), averaged over pixels and
    ``groups``. With nothing fixed it is the variance of free samples, measured the same way."""
    x = samples_with_fixed_layers(model, fixed_layers, rows=groups, cols=per_group, temperature=temperature, seed=seed)
    return x.view(groups, per_group, -1).var(1).mean().item()


@torch.no_grad()
def code_correlations(model: HierarchicalVAE, layer: int = 0, *, groups: int = 16, per_group: int = 128,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Correlation matrices (D_i x D_i) of prior samples of z_i: marginal (every layer redrawn) and
    conditional on the layers above (their noise shared within a group; the within-group correlations
    are averaged over ``groups``). p(z_i | z_{i+1}) is a diagonal Gaussian, so the conditional matrix is
    the identity up to sampling noise, whatever the marginal one shows."""
    if not 0 <= layer < model.n_layers:
        raise ValueError(f"layer index {layer} is out of range: this model has layers 0..{model.n_layers - 1}")
    g = torch.Generator(device=model.device).manual_seed(seed)
    n = groups * per_group
    marginal = torch.corrcoef(model.sample_latents(n, g)[layer].z.T)
    row_noise = model.draw_noise(groups, g)
    fixed = {i: row_noise[i].repeat_interleave(per_group, 0) for i in range(layer + 1, model.n_layers)}
    z = model.sample_latents(n, g, fixed=fixed)[layer].z.view(groups, per_group, -1)  # (groups, per_group, D_i)
    conditional = torch.stack([torch.corrcoef(group.T) for group in z]).mean(0)
    return marginal, conditional


def off_diagonal_mean(corr: torch.Tensor) -> float:
    """Mean |correlation| over the off-diagonal entries of a correlation matrix (0 for a 1 x 1 one)."""
    d = corr.shape[0]
    if d < 2:
        return 0.0
    return (corr.abs().sum() - corr.diagonal().abs().sum()).item() / (d * (d - 1))


@torch.no_grad()
def layer_report(model: HierarchicalVAE, *, temperature: float | Sequence[float] = 1.0, rows: int = 4, cols: int = 8,
                 seed: int = 0) -> dict:
    """What a page shows about the layers, as numpy arrays and floats (z_1 is layer 0, the top is L - 1):

    - ``top_fixed`` / ``lower_fixed``: rows x cols sample grids (N, C, H, W) with the top layer's noise
      (resp. every lower layer's) shared along each row and the other layers redrawn per picture;
    - ``variance``: the same per-pixel sample variance with nothing, the top, or the lower layers fixed
      (see :func:`sample_variance`), and ``top_share`` / ``lower_share`` = 1 - variance fixed / free:
      the share of the samples' variation that holding those layers removes;
    - ``marginal`` / ``conditional``: z_1's correlation matrices from :func:`code_correlations`.
    """
    was_training = model.training
    model.eval()
    try:
        top, lower = (model.n_layers - 1,), tuple(range(model.n_layers - 1))
        kw = {"temperature": temperature, "seed": seed}
        variance = {name: sample_variance(model, fixed, **kw)
                    for name, fixed in (("free", ()), ("top_fixed", top), ("lower_fixed", lower))}
        marginal, conditional = code_correlations(model, 0, seed=seed)
        return {
            "top_fixed": samples_with_fixed_layers(model, top, rows=rows, cols=cols, **kw).cpu().numpy(),
            "lower_fixed": samples_with_fixed_layers(model, lower, rows=rows, cols=cols, **kw).cpu().numpy(),
            "variance": variance,
            "top_share": 1 - variance["top_fixed"] / max(variance["free"], 1e-12),
            "lower_share": 1 - variance["lower_fixed"] / max(variance["free"], 1e-12),
            "marginal": marginal.cpu().numpy(), "conditional": conditional.cpu().numpy(),
            "marginal_off_diagonal": off_diagonal_mean(marginal),
            "conditional_off_diagonal": off_diagonal_mean(conditional),
        }
    finally:
        model.train(was_training)


@torch.no_grad()
def resample_layer(model: HierarchicalVAE, layer: int, *, temperature: float | Sequence[float] = 1.0, rows: int = 4,
                   cols: int = 8, seed: int = 0) -> dict:
    """What layer ``layer`` alone does (z_1 is 0, the top L - 1), as numpy arrays and a float:

    - ``grid``: rows x cols samples (N, C, H, W) with every other layer's noise shared along each row and
      z_layer's noise redrawn per picture: a row shows what redrawing that one layer changes;
    - ``share``: the per-pixel variance within a row over that of free samples (``sample_variance``): the
      part of the samples' variation that this layer, redrawn alone, brings back.
    """
    if not 0 <= layer < model.n_layers:
        raise ValueError(f"layer index {layer} is out of range: this model has layers 0..{model.n_layers - 1}")
    was_training = model.training
    model.eval()
    try:
        others = tuple(i for i in range(model.n_layers) if i != layer)
        kw = {"temperature": temperature, "seed": seed}
        alone, free = sample_variance(model, others, **kw), sample_variance(model, (), **kw)
        return {"grid": samples_with_fixed_layers(model, others, rows=rows, cols=cols, **kw).cpu().numpy(),
                "share": alone / max(free, 1e-12)}
    finally:
        model.train(was_training)
