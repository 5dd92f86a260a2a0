"""PixelCNN (van den Oord et al. 2016a, "Pixel Recurrent Neural Networks", Sec. 3.5) and the gated
PixelCNN (van den Oord et al. 2016b, "Conditional Image Generation with PixelCNN Decoders", Sec. 2.2).

Both factorise the image in raster order (row by row, left to right, colour channel by channel):

    log p(x) = sum_i log p(x_i | x_<i)        (Eq. 1 of both papers)

and compute every conditional at once with convolutions masked so that the output at position i
never sees x_i or anything after it. The first layer uses mask "A" (the centre hidden), later layers
mask "B" (the centre shown: by then it carries only the past). The loss is -log p(x), summed over
pixels and channels: nats per image, averaged over the batch; ``bits_per_dim`` divides by D ln 2.

- ``pixelcnn``: a mask-A convolution, then residual blocks of mask-B convolutions. Stacked 3x3
  masks grow a receptive field with a blind spot: pixels above and to the right that no path reaches.
- ``gated-pixelcnn``: a vertical stack (rows above, full width) and a horizontal stack (the current
  row, to the left) with gated activations tanh(a) * sigmoid(b); the vertical stack feeds the
  horizontal one, and the blind spot is gone.

Both models share ``PixelCNN``; the gated model overrides one hook, ``make_network``. The networks
are in ``genlib.models.pixelcnn_networks``, receptive fields in ``genlib.models.receptive_fields``
and the page's sampling animation and completions in ``genlib.models.pixelcnn_sampling``; their
public names are importable from here too (``genlib.models.pixelcnn.receptive_field``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlib.models.base import GenerativeModel
from genlib.models.pixelcnn_networks import GatedPixelCNNNet, OutputHead, PixelCNNNet
from genlib.models.pixelcnn_sampling import complete_halves, half_mask, sampling_frames
from genlib.models.receptive_fields import (
    analytic_receptive_field,
    blind_spot,
    mask_pictures,
    receptive_field,
    receptive_fields_by_layer,
)
from genlib.objectives import likelihood as make_likelihood
from genlib.objectives import nats_to_bits_per_dim

__all__ = ["GatedPixelCNN", "PixelCNN", "PixelCNNConfig", "analytic_receptive_field", "blind_spot", "compare_fields",
           "complete_halves", "half_mask", "mask_pictures", "receptive_field", "receptive_fields_by_layer",
           "sampling_frames"]


@dataclass
class PixelCNNConfig:
    channels: int = 32  # feature maps per layer; a multiple of the image's colour channels
    n_layers: int = 6  # masked layers: the mask-A layer, then mask-B blocks (the depth)
    kernel_size: int = 3  # odd; the kernel of every masked layer
    likelihood: str = "bernoulli"  # bernoulli (binarised) or categorical (gray levels)
    levels: int | None = None  # gray levels for the categorical likelihood (17 for digits)

    def __post_init__(self):
        for name in ("channels", "n_layers", "kernel_size"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
            setattr(self, name, int(value))
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.likelihood not in ("bernoulli", "categorical"):
            raise ValueError(f"a PixelCNN models discrete pixels: likelihood must be bernoulli or categorical, "
                             f"got {self.likelihood!r}")


class PixelCNN(GenerativeModel):
    """An autoregressive image model: ``model(x)`` gives the logits of p(x_i | x_<i) at every position."""

    Config = PixelCNNConfig
    EXAMPLE_CONFIG = {"channels": 8, "n_layers": 3}

    def __init__(self, data_shape: tuple[int, ...], config: PixelCNNConfig):
        super().__init__(data_shape, config)
        if len(self.data_shape) != 3:
            raise ValueError(f"a PixelCNN models images (C, H, W), got data of shape {self.data_shape}")
        c = self.data_shape[0]
        if config.channels % c:
            raise ValueError(f"channels ({config.channels}) must be a multiple of the image's {c} colour channels")
        self.likelihood = make_likelihood(config.likelihood, config.levels)
        self.network = self.make_network()
        self.head = OutputHead(config.channels, self.likelihood.n_params, c)

    def make_network(self) -> nn.Module:
        c = self.config
        return PixelCNNNet(self.data_shape[0], c.channels, c.n_layers, c.kernel_size)

    # ------------------------------------------------------------------ the model

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W), as the likelihood prepares it -> logits (B, K, C, H, W)."""
        return self.head(self.network(2 * x - 1))  # inputs centred on 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits laid out like the image: (B, K, H, W) for one channel, (B, K, C, H, W) for C."""
        logits = self.logits(x)
        return logits.squeeze(2) if self.data_shape[0] == 1 else logits

    def x_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K, C, H, W) -> the likelihood's layout: (B, C, H, W) for Bernoulli, unchanged for categorical."""
        return logits.squeeze(1) if self.likelihood.n_params == 1 else logits

    def loss(self, x: torch.Tensor, step: int = 0) -> dict:
        x = self.likelihood.prepare(x)
        nll = -self.likelihood.log_prob(self.x_logits(self.logits(x)), x)  # (B,) nats per image, summed
        bits = nats_to_bits_per_dim(nll, math.prod(self.data_shape))  # (B,) the same, in bits per pixel
        return {"loss": nll.mean(), "nll": nll, "bits_per_dim": bits}

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images drawn pixel by pixel in raster order (one forward pass per pixel and channel)."""
        x = torch.zeros(n, *self.data_shape, device=self.device)
        return self.complete(x, torch.zeros(1, *self.data_shape, dtype=torch.bool), generator)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, observed_mask: torch.Tensor, generator: torch.Generator | None = None,
                 *, frames: list | None = None) -> torch.Tensor:
        """Keep the pixels where ``observed_mask`` is True and draw the rest in raster order.

        ``observed_mask`` broadcasts against x (B, C, H, W), e.g. (1, 1, H, W). Each drawn pixel is
        conditioned on every pixel before it, observed or drawn; observed pixels after it cannot inform
        it (a PixelCNN only looks back). With ``frames`` a list, the canvas after every drawn pixel is
        appended to it, with not-yet-drawn pixels as NaN: the frames of a sampling animation.
        """
        x = self.likelihood.prepare(x.to(self.device)).clone()
        observed = observed_mask.to(self.device, torch.bool).expand_as(x)
        was_training = self.training
        self.eval()
        drawn = torch.zeros(1, *self.data_shape, dtype=torch.bool, device=self.device)
        if frames is not None:
            frames.append(torch.where(observed, x, torch.nan).cpu())
        channels, height, width = self.data_shape
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    todo = ~observed[:, c, i, j]  # (B,)
                    if not todo.any():
                        continue
                    x_logits = self.x_logits(self.logits(x))
                    draw = self.likelihood.sample(x_logits[..., c, i, j], generator)  # (B,)
                    x[:, c, i, j] = torch.where(todo, draw, x[:, c, i, j])
                    drawn[:, c, i, j] = True
                    if frames is not None:
                        frames.append(torch.where(observed | drawn, x, torch.nan).cpu())
        self.train(was_training)
        return x


class GatedPixelCNN(PixelCNN):
    """The gated PixelCNN: vertical and horizontal stacks, no blind spot (van den Oord et al. 2016b)."""

    def make_network(self) -> nn.Module:
        c = self.config
        return GatedPixelCNNNet(self.data_shape[0], c.channels, c.n_layers, c.kernel_size)


# ---------------------------------------------------------------------------------------- a comparison


def compare_fields(pixel: tuple[int, int], depth: int, *, kernel_size: int = 3, shape: tuple[int, int] = (8, 8),
                   seed: int = 0) -> dict:
    """Receptive fields of a plain and a gated PixelCNN of the same depth and kernel at ``pixel``.

    Both are freshly built with random weights from ``seed`` (a field depends on the architecture, not
    on training). Returns bool (H, W) numpy maps "pixelcnn", "gated-pixelcnn", their "blind_spot"s
    (past pixels within reach that a model misses), and "analytic_agrees": whether the gradient maps
    equal the maps composed from the masks.
    """
    out, agrees = {}, True
    for name, cls in (("pixelcnn", PixelCNN), ("gated-pixelcnn", GatedPixelCNN)):
        config = PixelCNNConfig(channels=8, n_layers=depth, kernel_size=kernel_size)
        with torch.random.fork_rng(devices=[]):  # as genlib.models.build seeds a model
            torch.manual_seed(seed)
            model = cls((1, *shape), config)
        field = receptive_field(model, pixel, seed=seed)
        agrees &= bool(torch.equal(field, analytic_receptive_field(model, pixel)))
        out[name] = field.numpy()
        out[f"{name} blind_spot"] = blind_spot(model, pixel).numpy()
    out["analytic_agrees"] = agrees
    return out
