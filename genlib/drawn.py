"""A drawn input: canvas pixels at the data's resolution, what is wrong with a drawing, and what the models
make of it (posterior draws, nearest training images, a PixelCNN's completion, a multimodal VAE's
prediction from the drawn half).

The canvas is white ink on black, like the digits; it is ``scale`` canvas pixels to one data pixel.
"""

from __future__ import annotations

import numpy as np
import torch

from genlib.models.pixelcnn import complete_halves

INK = 0.5  # a pixel at or above this is ink (the Bernoulli models binarise here)


def to_image(rgba: np.ndarray, shape: tuple[int, ...] = (1, 8, 8)) -> torch.Tensor:
    """Canvas pixels (H·s, W·s, 4) uint8, RGBA -> one image (1, C, H, W) in [0, 1]: the gray level of each
    s x s block (the ink's luminance times its opacity, on black), averaged."""
    rgba = np.asarray(rgba, dtype=np.float64)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"a canvas image is H x W x 4 (RGBA), got shape {rgba.shape}")
    _, height, width = shape
    sy, sx = rgba.shape[0] // height, rgba.shape[1] // width
    if sy < 1 or sx < 1:
        raise ValueError(f"a canvas of {rgba.shape[1]} x {rgba.shape[0]} pixels is smaller than the data's "
                         f"{width} x {height}")
    rgba = rgba[: sy * height, : sx * width]
    gray = (rgba[..., :3] @ np.array([0.299, 0.587, 0.114])) / 255.0 * (rgba[..., 3] / 255.0)  # (H·s, W·s)
    blocks = gray.reshape(height, sy, width, sx).mean((1, 3))  # (H, W)
    return torch.tensor(blocks, dtype=torch.float32).clamp(0, 1).expand(1, shape[0], height, width).clone()


def blank(shape: tuple[int, ...] = (1, 8, 8)) -> torch.Tensor:
    """An empty canvas as an image: (1, C, H, W) zeros."""
    return torch.zeros(1, *shape)


def to_drawing(image: torch.Tensor, scale: int) -> dict:
    """One image (C, H, W) or (H, W) in [0, 1] as a canvas drawing (Fabric.js JSON): a gray square of
    ``scale`` canvas pixels for each pixel with any ink, so a drawing can start from a test image."""
    img = image.reshape(-1, *image.shape[-2:]).mean(0).numpy()  # (H, W)
    objects = []
    for r, c in zip(*np.nonzero(img > 0.02), strict=True):
        level = int(round(float(img[r, c]) * 255))
        objects.append({"type": "rect", "left": int(c) * scale, "top": int(r) * scale, "width": scale,
                        "height": scale, "fill": f"rgb({level},{level},{level})", "strokeWidth": 0,
                        "selectable": False})
    return {"version": "5.3.0", "objects": objects}


def problem(x: torch.Tensor) -> str | None:
    """A sentence on what is odd about a drawn image (1, C, H, W), or None where nothing is."""
    ink = (x >= INK).float().mean().item()
    if ink == 0:
        return ("The canvas is empty: no pixel reaches half ink. The numbers below are the model's for a blank "
                "image (a valid input, and a likely one for few models); draw a digit, or start from a test image.")
    if ink == 1:
        return ("Every pixel is ink: the image is all white. The numbers below are the model's for it; it looks "
                "like no digit, so expect a low log p(x). Clear the canvas to draw again.")
    return None


def nearest(x: torch.Tensor, train_x: torch.Tensor, k: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` training images closest to ``x`` (1, ...) in squared pixel distance: (indices, distances)."""
    d = (train_x.flatten(1) - x.flatten(1)).pow(2).sum(1)  # (N,)
    dist, idx = torch.topk(d, min(k, len(d)), largest=False)
    return idx, dist


@torch.no_grad()
def posterior_draws(model, x: torch.Tensor, n: int = 8, seed: int = 0) -> torch.Tensor:
    """n draws z ~ q(z | x) for one image x, each decoded to the likelihood's mean: (n, C, H, W)."""
    mu, logvar = model.encode(model.likelihood.prepare(x.to(model.device)))
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    z = mu + (0.5 * logvar).exp() * torch.randn((n, mu.shape[-1]), generator=gen, device=mu.device)
    return model.likelihood.mean(model.decode(z)).cpu()


def pixelcnn_completion(model, x: torch.Tensor, *, n_draws: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """The PixelCNN completes the drawn image's bottom half from its top half (``complete_halves``). ``x``
    may be a numpy array (a page's cached call)."""
    return complete_halves(model, torch.as_tensor(x, dtype=torch.float32), half="top", n_draws=n_draws, seed=seed)


@torch.no_grad()
def multimodal_from_top(model, x: torch.Tensor, *, n_draws: int = 4, seed: int = 0) -> dict:
    """A multimodal VAE with modalities top / bottom / label (``digits-halves-label``) given only the drawn
    image's top half: ``bottom`` draws (n, 1, 4, 8), the ``whole`` images (n, 1, 8, 8) they make with the drawn
    top, and the label's probabilities (10,) averaged over the posterior. ``x`` may be a numpy array."""
    x = torch.as_tensor(x, dtype=torch.float32)
    top = x[..., : x.shape[-2] // 2, :].reshape(1, -1)
    gen = torch.Generator(device=model.lambdas.device).manual_seed(seed)
    draws = model.generate({"top": top}, n=n_draws, generator=gen)
    shape = model.modalities[model.names.index("bottom")].shape
    bottom = draws["bottom"].reshape(n_draws, *shape).cpu()
    drawn_top = model.likelihoods["top"].prepare(x[..., : x.shape[-2] // 2, :]).cpu().expand(n_draws, *shape)
    label = model.predict({"top": top})["label"][0].cpu()
    return {"bottom": bottom, "whole": torch.cat([drawn_top, bottom], dim=-2), "label": label}
