"""The masked convolution stacks of the PixelCNN family and their output head (``genlib.models.pixelcnn``).

- ``PixelCNNNet``: a mask-A convolution, then residual blocks of mask-B convolutions (van den Oord et al.
  2016a, "Pixel Recurrent Neural Networks", Sec. 3.5 and Fig. 5).
- ``GatedPixelCNNNet``: gated layers of a vertical and a horizontal stack (van den Oord et al. 2016b,
  "Conditional Image Generation with PixelCNN Decoders", Sec. 2.2 and Fig. 2).
- ``OutputHead``: features -> logits, masked so that colour channel c sees channel groups <= c.

Each stack also composes its masks into receptive fields (``analytic_fields``) with the helpers of
``genlib.models.receptive_fields``; the masks themselves are ``genlib.nn.MaskedConv2d``'s.
"""

from __future__ import annotations

import torch
from torch import nn

from genlib.models.receptive_fields import identity_field, spatial, spread
from genlib.nn import MaskedConv2d, gate


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
