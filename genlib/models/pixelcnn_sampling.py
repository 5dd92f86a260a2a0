"""Drawing from a PixelCNN for the page: the canvas after every drawn pixel, and completions of half images.

Both wrap ``PixelCNN.complete``, which draws the unobserved pixels in raster order, each conditioned on
every pixel before it (Eq. 1 of van den Oord et al. 2016a).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from genlib.models.pixelcnn import PixelCNN


def sampling_frames(model: PixelCNN, n: int, seed: int = 0, observed: torch.Tensor | None = None,
                    x: torch.Tensor | None = None) -> np.ndarray:
    """Canvases of n samples (or completions of x where ``observed``) after each drawn pixel:
    (T, n, C, H, W) with not-yet-drawn pixels as NaN; frame 0 is the empty (or observed) canvas."""
    frames: list[torch.Tensor] = []
    if x is None:
        x, observed = torch.zeros(n, *model.data_shape), torch.zeros(1, *model.data_shape, dtype=torch.bool)
    model.complete(x, observed, torch.Generator(device=model.device).manual_seed(seed), frames=frames)
    return torch.stack(frames).numpy()


def half_mask(data_shape: tuple[int, ...], half: str = "top") -> torch.Tensor:
    """(1, C, H, W) bool: the "top" or "left" half of the image observed."""
    _, height, width = data_shape
    mask = torch.zeros(1, *data_shape, dtype=torch.bool)
    if half == "top":
        mask[..., : height // 2, :] = True
    elif half == "left":
        mask[..., : width // 2] = True
    else:
        raise ValueError(f"half must be 'top' or 'left', got {half!r}")
    return mask


def complete_halves(model: PixelCNN, x: torch.Tensor, *, half: str = "top", n_draws: int = 3,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Complete each image of x from its observed half, ``n_draws`` times: numpy images (N, C, H, W) under
    "original" (as the likelihood sees it), "observed" (NaN where hidden) and "draw 1".."draw n". The draws
    are made as one batch (a pass of the network per hidden pixel for all of them, not one per draw)."""
    mask = half_mask(model.data_shape, half).to(model.device)
    x = model.likelihood.prepare(x.to(model.device))
    out = {"original": x.cpu().numpy(), "observed": torch.where(mask, x, torch.nan).cpu().numpy()}
    generator = torch.Generator(device=model.device).manual_seed(seed)
    draws = model.complete(x.repeat(n_draws, *[1] * (x.dim() - 1)), mask, generator).cpu()  # (n_draws * N, ...)
    for d, draw in enumerate(draws.split(len(x))):
        out[f"draw {d + 1}"] = draw.numpy()
    return out
