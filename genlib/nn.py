"""Building blocks: MLPs, small conv encoders / decoders, masked convolutions, and the optimiser.

Networks are plain ``nn.Module``s injected into models; nothing here knows about a loss.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch supports it for the parameters' device
    (on small CPU models it cuts the optimiser's share of a step by about a quarter)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


class MLP(nn.Sequential):
    """in_features -> hidden[0] -> ... -> hidden[-1] -> out_features, ReLU between layers."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int):
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features): stride-2 4x4 convolutions with ``channels`` widths, then a linear map."""

    def __init__(self, data_shape: tuple[int, int, int], channels: tuple[int, ...], out_features: int):
        super().__init__()
        c, h, w = data_shape
        check_conv_shape(data_shape, len(channels))
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, 4, stride=2, padding=1), nn.ReLU()]
            c, h, w = width, h // 2, w // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(c * h * w, out_features)

    def forward(self, x):
        return self.head(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, out_channels, H, W): a linear map, then stride-2 transposed convolutions."""

    def __init__(self, in_features: int, channels: tuple[int, ...], data_shape: tuple[int, int, int],
                 out_channels: int):
        super().__init__()
        _, h, w = data_shape
        check_conv_shape(data_shape, len(channels))
        widths = tuple(reversed(channels))
        self.start = (widths[0], h >> len(widths), w >> len(widths))
        self.head = nn.Linear(in_features, math.prod(self.start))
        layers: list[nn.Module] = [nn.ReLU()]
        for i, width in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else out_channels
            layers.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if i + 1 < len(widths):
                layers.append(nn.ReLU())
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        return self.deconvs(self.head(z).view(-1, *self.start))


def check_conv_shape(data_shape: tuple[int, ...], depth: int) -> None:
    if len(data_shape) != 3:
        raise ValueError(f"a conv network needs image data (C, H, W), got shape {data_shape}")
    _, h, w = data_shape
    if h % (2**depth) or w % (2**depth):
        raise ValueError(f"{depth} stride-2 layers need H and W divisible by {2**depth}; the data is {h}x{w}. "
                         f"Use fewer conv widths in 'hidden'.")


# ------------------------------------------------------------------------------------ masked convolution


def causal_mask(kernel_size: int, mask_type: str, in_channels: int = 1, out_channels: int = 1,
                groups: int = 1) -> torch.Tensor:
    """The PixelCNN mask (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4):
    (out_channels, in_channels, k, k), 1 where a weight may be non-zero.

    Rows above the centre and pixels left of the centre on its row are visible. At the centre pixel,
    with ``groups`` colour channel groups (R, G, B...), an output channel of group g sees input groups
    strictly before g for mask "A" and up to and including g for mask "B". With one group, mask A hides
    the centre and mask B shows it.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"in ({in_channels}) and out ({out_channels}) channels must divide into {groups} groups")
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(out_channels, in_channels, k, k)
    mask[:, :, :c, :] = 1  # rows above
    mask[:, :, c, :c] = 1  # left of the centre
    group_in = torch.arange(in_channels) // (in_channels // groups)  # (in,) group of each input channel
    group_out = torch.arange(out_channels) // (out_channels // groups)
    allowed = group_in[None, :] < group_out[:, None] if mask_type == "A" else group_in[None, :] <= group_out[:, None]
    mask[:, :, c, c] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by a causal mask of type "A" or "B"."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, mask_type: str = "B", *, groups: int = 1,
                 bias: bool = True):
        super().__init__(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type, in_ch, out_ch, groups), persistent=False)

    def forward(self, x):
        return self._conv_forward(x, self.weight * self.mask, self.bias)
