"""Masked convolutions: the mask invariants, checked on the masks and by gradients through the layer."""

from __future__ import annotations

import pytest
import torch

from genlib.nn import MaskedConv2d, causal_mask, gate


def dependence(layer, x):
    """d out / d in for one image: bool (out_ch, H, W, in_ch, H, W), True where the gradient is non-zero."""
    jac = torch.autograd.functional.jacobian(layer, x)  # (1, out, H, W, 1, in, H, W)
    return jac[0, :, :, :, 0] != 0


def raster_before(height, width):
    """before[i, j, k, l]: position (k, l) comes strictly before (i, j) in raster order."""
    index = torch.arange(height * width).view(height, width)
    return index[None, None, :, :] < index[:, :, None, None]


def random_layer(*args, **kwargs):
    torch.manual_seed(0)
    layer = MaskedConv2d(*args, **kwargs)
    with torch.no_grad():
        layer.weight.normal_()  # random weights: no allowed weight is zero
    return layer


def test_masks_A_and_B_one_group():
    a = causal_mask(5, "A")[0, 0]
    b = causal_mask(5, "B")[0, 0]
    expected_a = torch.tensor([[1, 1, 1, 1, 1],
                               [1, 1, 1, 1, 1],
                               [1, 1, 0, 0, 0],
                               [0, 0, 0, 0, 0],
                               [0, 0, 0, 0, 0]], dtype=torch.float)
    assert torch.equal(a, expected_a)
    expected_b = expected_a.clone()
    expected_b[2, 2] = 1
    assert torch.equal(b, expected_b)


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_one_layer_causal_by_gradients(mask_type, kernel_size):
    """Output at p depends on inputs strictly before p; on p itself only for mask B."""
    h = w = 6
    layer = random_layer(2, 4, kernel_size, mask_type)
    dep = dependence(layer, torch.randn(1, 2, h, w)).any(3).any(0)  # (H, W, H, W): any channel pair
    before = raster_before(h, w)
    assert not (dep & ~before & ~torch.eye(h * w, dtype=torch.bool).view(h, w, h, w)).any()  # nothing after p
    own = dep.view(h * w, h * w).diagonal()
    assert own.all() if mask_type == "B" else not own.any()
    if kernel_size > 1:  # the immediate past neighbours are seen
        assert dep[3, 3, 3, 2] and dep[3, 3, 2, 4] and dep[3, 3, 2, 2]


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_channel_groups_rgb(mask_type):
    """C = 3 groups (R, G, B): at the same pixel, group g sees input groups < g (A) or <= g (B);
    earlier pixels are seen from every channel."""
    layer = random_layer(3, 6, 3, mask_type, groups=3)
    dep = dependence(layer, torch.randn(1, 3, 5, 5))  # (6, 5, 5, 3, 5, 5)
    at_centre = dep[:, 2, 2, :, 2, 2]  # (out 6, in 3)
    out_group = torch.arange(6) // 2
    in_group = torch.arange(3)
    rule = in_group[None, :] < out_group[:, None] if mask_type == "A" else in_group[None, :] <= out_group[:, None]
    assert torch.equal(at_centre, rule)
    assert dep[:, 2, 2, :, 2, 1].all() and dep[:, 2, 2, :, 1, 3].all()  # left and above-right: all channels
    assert not dep[:, 2, 2, :, 2, 3].any() and not dep[:, 2, 2, :, 3, 2].any()  # right and below: none


def test_channel_group_mask_shape_and_values():
    m = causal_mask(1, "A", 3, 3, 3)[:, :, 0, 0]
    assert torch.equal(m, torch.tensor([[0, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=torch.float))
    m = causal_mask(1, "B", 3, 3, 3)[:, :, 0, 0]
    assert torch.equal(m, torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.float))


def test_vertical_and_horizontal_stacks():
    v_a, v_b = causal_mask(3, "A", stack="vertical")[0, 0], causal_mask(3, "B", stack="vertical")[0, 0]
    h_a, h_b = causal_mask(3, "A", stack="horizontal")[0, 0], causal_mask(3, "B", stack="horizontal")[0, 0]
    assert torch.equal(v_a, torch.tensor([[1, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=torch.float))
    assert torch.equal(v_b, torch.tensor([[1, 1, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.float))
    assert torch.equal(h_a, torch.tensor([[0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float))
    assert torch.equal(h_b, torch.tensor([[0, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=torch.float))
    # the two stacks of mask A together are the full mask A
    assert torch.equal(torch.maximum(v_a, h_a), causal_mask(3, "A")[0, 0])


def test_gate_keeps_colour_groups():
    """tanh(a) * sigmoid(b) over 3 groups: output channel of group g reads only input channels of group g."""
    h = torch.randn(1, 12, 2, 2)
    jac = torch.autograd.functional.jacobian(lambda t: gate(t, 3), h)[0, :, 0, 0, 0, :, 0, 0]  # (6 out, 12 in)
    groups_out, groups_in = torch.arange(6) // 2, torch.arange(12) // 4
    reads = jac != 0
    assert not (reads & (groups_out[:, None] != groups_in[None, :])).any()
    assert (reads.sum(1) == 2).all()  # its a and its b


def test_masked_weights_never_used():
    layer = random_layer(1, 1, 3, "A")
    with torch.no_grad():
        layer.weight[0, 0, 2, :] = 1e6  # below the centre: masked out
        layer.weight[0, 0, 1, 1:] = 1e6  # centre and right
    x = torch.randn(1, 1, 4, 4)
    reference = torch.nn.functional.conv2d(x, layer.weight * causal_mask(3, "A"), layer.bias, padding=1)
    assert torch.allclose(layer(x), reference)
    assert layer(x).abs().max() < 1e3


@pytest.mark.parametrize("kwargs", [dict(mask_type="C"), dict(kernel_size=4), dict(in_channels=4, groups=3),
                                    dict(stack="diagonal")])
def test_bad_arguments(kwargs):
    args = dict(kernel_size=3, mask_type="A", in_channels=3, out_channels=6, groups=1) | kwargs
    with pytest.raises(ValueError):
        causal_mask(**args)
