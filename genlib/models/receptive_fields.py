"""Receptive fields of a PixelCNN: which input pixels the output at a pixel depends on.

Measured by gradients (``receptive_field``) and computed by composing the layers' masks
(``analytic_receptive_field``, through each network's ``analytic_fields``); the two agree exactly. The
plain PixelCNN's stacked 3x3 masks leave a blind spot above and to the right (``blind_spot``) that the
gated PixelCNN's two stacks close (van den Oord et al. 2016b, Sec. 2.2 and Fig. 1). ``mask_pictures``
gives the masks themselves as arrays to draw.

Nothing here imports a model: the functions take one (``genlib.models.pixelcnn.PixelCNN``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from genlib.nn import causal_mask

if TYPE_CHECKING:
    from genlib.models.pixelcnn import PixelCNN


def check_pixel(model: PixelCNN, pixel: tuple[int, int]) -> tuple[int, int]:
    _, height, width = model.data_shape
    i, j = (int(v) for v in pixel)
    if not (0 <= i < height and 0 <= j < width):
        raise ValueError(f"pixel {tuple(pixel)} is outside the {height}x{width} image")
    return i, j


def check_layer(model: PixelCNN, layer: int | None) -> int:
    """``layer`` in 1..n_layers (None: the output, which sees what the last layer sees)."""
    n = model.config.n_layers
    if layer is None:
        return n
    if int(layer) != layer or not 1 <= layer <= n:
        raise ValueError(f"layer must be between 1 and {n} for this model, got {layer}")
    return int(layer)


def receptive_field(model: PixelCNN, pixel: tuple[int, int], *, layer: int | None = None, n_inputs: int = 32,
                    seed: int = 0) -> torch.Tensor:
    """The input pixels that the output at ``pixel`` depends on, measured by gradients: bool (H, W).

    d(output at pixel, summed over its channels) / d(input), on ``n_inputs`` random images; a pixel
    counts if its gradient is non-zero (any channel, any image); many images make it unlikely that
    dead ReLUs hide a path the masks allow (``analytic_receptive_field`` is the exact answer).
    ``layer`` measures the features after that many masked layers instead of the output logits
    (the per-layer receptive field).
    """
    i, j = check_pixel(model, pixel)
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n_inputs, *model.data_shape, generator=generator).to(model.device).requires_grad_(True)
    with torch.enable_grad():
        out = model.logits(x) if layer is None else model.network(2 * x - 1, check_layer(model, layer))
        (grad,) = torch.autograd.grad(out[..., i, j].sum(), x)
    return (grad != 0).any(0).any(0).cpu()  # (H, W)


def analytic_receptive_field(model: PixelCNN, pixel: tuple[int, int], *, layer: int | None = None) -> torch.Tensor:
    """The same map as ``receptive_field``, from composing the layers' masks (no weights, no gradients).

    A masked k x k convolution makes position p depend on what p + d depended on, for every offset d
    that its mask (any channel pair) lets through; residual connections add what p already saw. The
    1x1 convolutions of the blocks and the head do not move anything.
    """
    i, j = check_pixel(model, pixel)
    return model.network.analytic_fields(model.data_shape[1:], check_layer(model, layer))[i, j].cpu()


def receptive_fields_by_layer(model: PixelCNN, pixel: tuple[int, int], **kwargs) -> torch.Tensor:
    """receptive_field after each of the model's layers: bool (n_layers, H, W)."""
    return torch.stack([receptive_field(model, pixel, layer=d, **kwargs) for d in range(1, model.config.n_layers + 1)])


def blind_spot(model: PixelCNN, pixel: tuple[int, int], *, layer: int | None = None) -> torch.Tensor:
    """Pixels before ``pixel`` in raster order, within the stacks' reach, that the model does not see: (H, W).

    The reach after d layers of kernel k is what a model without blind spot sees (the gated PixelCNN):
    rows up to d * (k // 2) above, columns up to d * (k // 2) either side, and d * (k // 2) to the left
    on the pixel's own row. Empty for the gated model; above-right of the pixel for the plain one.
    """
    i, j = check_pixel(model, pixel)
    depth, r = check_layer(model, layer), model.config.kernel_size // 2
    _, height, width = model.data_shape
    rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
    above = (rows < i) & (rows >= i - depth * r) & ((cols - j).abs() <= depth * r)
    left = (rows == i) & (cols < j) & (cols >= j - depth * r)
    return (above | left) & ~receptive_field(model, pixel, layer=layer)


def identity_field(shape: tuple[int, int]) -> torch.Tensor:
    """field[p, q] = position p depends on input position q: (H, W, H, W), at first q == p only."""
    height, width = shape
    return torch.eye(height * width, dtype=torch.bool).view(height, width, height, width)


def spatial(mask: torch.Tensor) -> torch.Tensor:
    """A conv mask (out, in, k, k) -> the offsets any channel pair may use: bool (k, k)."""
    return mask.flatten(0, 1).bool().any(0)


def spread(field: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """One same-padded convolution with spatial ``kernel`` (k, k) applied to a field (H, W, H, W):
    position p now depends on every q that p + d depended on, for each allowed offset d."""
    height, width = field.shape[:2]
    c = kernel.shape[0] // 2
    out = torch.zeros_like(field)
    for a, b in kernel.nonzero().tolist():
        di, dj = a - c, b - c  # the offset d: output p reads input p + d
        rows_out = slice(max(0, -di), min(height, height - di))
        cols_out = slice(max(0, -dj), min(width, width - dj))
        rows_in = slice(max(0, di), min(height, height + di))
        cols_in = slice(max(0, dj), min(width, width + dj))
        out[rows_out, cols_out] |= field[rows_in, cols_in]
    return out


def mask_pictures(kernel_size: int, colours: int = 1) -> dict[str, np.ndarray]:
    """The masks as arrays to draw: name -> (colours, colours, k, k), 1 where a weight may be non-zero.

    "A" and "B" are the PixelCNN masks (output channel group x input channel group); "vertical A/B" and
    "horizontal A/B" are the gated PixelCNN's two stacks.
    """
    masks = {t: causal_mask(kernel_size, t, colours, colours, colours) for t in ("A", "B")}
    for stack in ("vertical", "horizontal"):
        for t in ("A", "B"):
            masks[f"{stack} {t}"] = causal_mask(kernel_size, t, colours, colours, colours, stack)
    return {name: m.numpy() for name, m in masks.items()}
