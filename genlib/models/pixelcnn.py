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

Both models share ``PixelCNN``; the gated model overrides one hook, ``make_network``.
Receptive fields are measured by gradients (``receptive_field``) and computed by composing the
masks (``analytic_receptive_field``); the two agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genlib.models.base import GenerativeModel
from genlib.nn import MaskedConv2d, causal_mask, gate
from genlib.objectives import likelihood as make_likelihood
from genlib.objectives import nats_to_bits_per_dim


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


# ------------------------------------------------------------------------------------------ networks


class ResidualBlock(nn.Module):
    """x + 1x1(relu(k x k masked B(relu(x)))): the PixelCNN residual block (PixelRNN paper, Fig. 5), thinned."""

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.conv = MaskedConv2d(channels, channels, kernel_size, "B", groups=groups)
        self.out = MaskedConv2d(channels, channels, 1, "B", groups=groups)

    def forward(self, h):
        return h + self.out(torch.relu(self.conv(torch.relu(h))))


class PixelCNNNet(nn.Module):
    """(B, C, H, W) -> features (B, channels, H, W): a mask-A layer, then ``n_layers - 1`` residual blocks."""

    def __init__(self, in_channels: int, channels: int, n_layers: int, kernel_size: int):
        super().__init__()
        self.first = MaskedConv2d(in_channels, channels, kernel_size, "A", groups=in_channels)
        self.blocks = nn.ModuleList(ResidualBlock(channels, kernel_size, in_channels) for _ in range(n_layers - 1))

    def forward(self, x, depth: int | None = None):
        h = self.first(x)
        for block in self.blocks[: None if depth is None else depth - 1]:
            h = block(h)
        return h

    def analytic_fields(self, shape: tuple[int, int], depth: int) -> torch.Tensor:
        f = spread(identity_field(shape), spatial(self.first.mask))
        for block in self.blocks[: depth - 1]:
            f = f | spread(f, spatial(block.conv.mask))  # the residual keeps what h saw
        return f


class GatedLayer(nn.Module):
    """One gated layer (van den Oord et al. 2016b, Fig. 2): vertical and horizontal stacks.

    v' = gate(V * v),  h' = h + 1x1(gate(H * h + 1x1(V * v)))   (the residual from the second layer on)

    V is a "vertical" masked convolution (rows above; the centre row too after the first layer, since
    vertical features at row i only ever depend on rows < i), H a "horizontal" one (left of the centre).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, mask_type: str, groups: int):
        super().__init__()
        self.vertical = MaskedConv2d(in_channels, 2 * channels, kernel_size, mask_type, stack="vertical")
        self.horizontal = MaskedConv2d(in_channels, 2 * channels, kernel_size, mask_type, groups=groups,
                                       stack="horizontal")
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)  # safe unmasked: v carries only rows above
        self.h_out = MaskedConv2d(channels, channels, 1, "B", groups=groups)
        self.groups, self.residual = groups, mask_type == "B"

    def forward(self, v, h):
        v_pre = self.vertical(v)  # (B, 2n, H, W)
        h_new = self.h_out(gate(self.horizontal(h) + self.v_to_h(v_pre), self.groups))
        return gate(v_pre), h + h_new if self.residual else h_new


class GatedPixelCNNNet(nn.Module):
    """(B, C, H, W) -> features of the horizontal stack (B, channels, H, W) after ``depth`` gated layers."""

    def __init__(self, in_channels: int, channels: int, n_layers: int, kernel_size: int):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(in_channels if i == 0 else channels, channels, kernel_size, "A" if i == 0 else "B", in_channels)
            for i in range(n_layers))

    def forward(self, x, depth: int | None = None):
        v = h = x
        for layer in self.layers[:depth]:
            v, h = layer(v, h)
        return h

    def analytic_fields(self, shape: tuple[int, int], depth: int) -> torch.Tensor:
        v = h = identity_field(shape)
        for layer in self.layers[:depth]:
            v = spread(v, spatial(layer.vertical.mask))
            h_new = spread(h, spatial(layer.horizontal.mask)) | v  # v -> h at the same position
            h = h | h_new if layer.residual else h_new
        return h


class OutputHead(nn.Module):
    """features -> logits (B, K, C, H, W): relu, 1x1, relu, 1x1, masked so colour channel c sees groups <= c."""

    def __init__(self, channels: int, n_params: int, data_channels: int):
        super().__init__()
        self.hidden = MaskedConv2d(channels, channels, 1, "B", groups=data_channels)
        self.out = MaskedConv2d(channels, n_params * data_channels, 1, "B", groups=data_channels)
        self.n_params, self.data_channels = n_params, data_channels

    def forward(self, h):
        out = self.out(torch.relu(self.hidden(torch.relu(h))))  # (B, C*K, H, W), grouped by colour channel
        b, _, height, width = out.shape
        return out.view(b, self.data_channels, self.n_params, height, width).transpose(1, 2)  # (B, K, C, H, W)


# ------------------------------------------------------------------------------------------- the model


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


# ---------------------------------------------------------------------------------- receptive fields


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


# ---------------------------------------------------------------------------- what the page shows


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


def compare_fields(pixel: tuple[int, int], depth: int, *, kernel_size: int = 3, shape: tuple[int, int] = (8, 8),
                   seed: int = 0) -> dict:
    """Receptive fields of a plain and a gated PixelCNN of the same depth and kernel at ``pixel``.

    Both are freshly built with random weights from ``seed`` (a field depends on the architecture, not
    on training). Returns bool (H, W) numpy maps "pixelcnn", "gated-pixelcnn", their "blind_spot"s
    (past pixels within reach that a model misses), and "analytic_agrees": whether the gradient maps
    equal the maps composed from the masks.
    """
    from genlib.models.registry import build  # the registry imports this module

    out, agrees = {}, True
    for name in ("pixelcnn", "gated-pixelcnn"):
        model = build(name, (1, *shape), seed=seed, channels=8, n_layers=depth, kernel_size=kernel_size)
        field = receptive_field(model, pixel, seed=seed)
        agrees &= bool(torch.equal(field, analytic_receptive_field(model, pixel)))
        out[name] = field.numpy()
        out[f"{name} blind_spot"] = blind_spot(model, pixel).numpy()
    out["analytic_agrees"] = agrees
    return out


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
    "original" (as the likelihood sees it), "observed" (NaN where hidden) and "draw 1".."draw n"."""
    mask = half_mask(model.data_shape, half).to(model.device)
    x = model.likelihood.prepare(x.to(model.device))
    out = {"original": x.cpu().numpy(), "observed": torch.where(mask, x, torch.nan).cpu().numpy()}
    generator = torch.Generator(device=model.device).manual_seed(seed)
    for d in range(n_draws):
        out[f"draw {d + 1}"] = model.complete(x, mask, generator).cpu().numpy()
    return out
