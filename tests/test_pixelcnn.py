"""PixelCNN and gated PixelCNN: causality by gradients, the blind spot, receptive fields, sampling, training."""

from __future__ import annotations

import math

import pytest
import torch

from genlib import checkpoints
from genlib.metrics import evaluate
from genlib.models import build
from genlib.models.pixelcnn import (
    analytic_receptive_field,
    blind_spot,
    complete_halves,
    receptive_field,
    receptive_fields_by_layer,
)
from genlib.train import fit

MODELS = ("pixelcnn", "gated-pixelcnn")


def random_model(name, data_shape, seed=0, **config):
    """A model with random Gaussian weights (scaled by 1.5 / sqrt(fan-in), so that signals neither vanish
    nor explode) and small random biases."""
    model = build(name, data_shape, seed=seed, **config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            scale = 1.5 / p[0].numel() ** 0.5 if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return model


def dependence(model, x):
    """Which inputs each output logit depends on, for any of the images x (B, C, H, W):
    bool (C_out, H, W, C_in, H, W), any parameter K. Images are independent, so the Jacobian of the
    batch sum holds every image's own Jacobian."""
    jac = torch.autograd.functional.jacobian(lambda t: model.logits(t).sum(0), x)  # (K, C, H, W, B, C, H, W)
    return (jac != 0).any(0).any(3)


def raster_index(c, h, w):
    """The raster order of (channel, row, col): row by row, left to right, channel by channel."""
    rows, cols, chans = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(c), indexing="ij")
    return (rows * w * c + cols * c + chans).permute(2, 0, 1)  # (C, H, W)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("n_layers", [1, 2, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_causal_by_gradients(name, n_layers, channels):
    """The output for (c, i, j) depends on no input at or after (c, i, j) in raster order; with colours,
    channel c at a pixel does depend on the earlier channels at that pixel."""
    h = w = 5
    model = random_model(name, (channels, h, w), seed=n_layers, channels=12, n_layers=n_layers,
                         likelihood="categorical" if channels == 3 else "bernoulli", levels=4)
    x = torch.rand(4, channels, h, w, generator=torch.Generator().manual_seed(1))
    dep = dependence(model, x)  # (C, H, W, C, H, W)
    order = raster_index(channels, h, w)
    allowed = order[None, None, None] < order[:, :, :, None, None, None]  # input before output
    assert not (dep & ~allowed).any()
    assert dep[0, 2, 2, 0, 2, 1] and dep[0, 2, 2, 0, 1, 2]  # left and above are seen
    for c in range(channels):  # colour channel c sees exactly the earlier channels at its own pixel
        assert torch.equal(dep[c, 2, 2, :, 2, 2], torch.arange(channels) < c)


@pytest.mark.parametrize("name", MODELS)
def test_logits_layout(name):
    gray = build(name, (1, 8, 8), channels=8, n_layers=2, likelihood="categorical", levels=17)
    assert gray(torch.rand(2, 1, 8, 8)).shape == (2, 17, 8, 8)  # B x K x H x W
    binary = build(name, (1, 8, 8), channels=8, n_layers=2)
    assert binary(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    colour = build(name, (3, 6, 6), channels=6, n_layers=2, likelihood="categorical", levels=5)
    assert colour(torch.rand(2, 3, 6, 6)).shape == (2, 5, 3, 6, 6)  # B x K x C x H x W


def test_nll_is_the_sum_of_conditionals():
    """loss()['nll'] = -sum over pixels of log p(x_i | x_<i) from the logits, in nats; bits/dim = nll / (D ln 2)."""
    model = build("pixelcnn", (1, 4, 4), channels=8, n_layers=2)
    x = (torch.rand(3, 1, 4, 4) > 0.5).float()
    p = torch.sigmoid(model(x))
    reference = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    terms = model.loss(x)
    assert torch.allclose(terms["nll"], reference, atol=1e-5)
    assert torch.allclose(terms["bits_per_dim"], reference / (16 * math.log(2)), atol=1e-6)


def test_blind_spot_plain_but_not_gated():
    """Same depth and kernel: the plain PixelCNN misses past pixels above-right that the gated one sees;
    the gated one misses none."""
    config = dict(channels=8, n_layers=4, kernel_size=3)
    plain, gated = random_model("pixelcnn", (1, 8, 8), **config), random_model("gated-pixelcnn", (1, 8, 8), **config)
    pixel = (5, 4)
    seen_plain, seen_gated = receptive_field(plain, pixel), receptive_field(gated, pixel)
    missed = seen_gated & ~seen_plain
    assert missed.any()
    rows, cols = missed.nonzero().unbind(1)
    assert (rows < pixel[0]).all() and (cols > pixel[1]).all()  # above and to the right
    assert not (seen_plain & ~seen_gated).any()
    assert blind_spot(plain, pixel).equal(missed)
    assert not blind_spot(gated, pixel).any()


@pytest.mark.parametrize("pixel", [(7, 7), (4, 3), (1, 6)])
def test_deep_gated_sees_the_whole_past(pixel):
    """With reach >= the image (8 layers of 3x3 on 8 x 8), the gated field is exactly the strict past."""
    gated = random_model("gated-pixelcnn", (1, 8, 8), channels=8, n_layers=8)
    past = torch.arange(64).view(8, 8) < pixel[0] * 8 + pixel[1]
    assert torch.equal(receptive_field(gated, pixel), past)
    plain = random_model("pixelcnn", (1, 8, 8), channels=8, n_layers=8)
    seen_plain = receptive_field(plain, pixel)
    assert not (seen_plain & ~past).any()
    if pixel[1] < 6 and pixel[0] > 0:
        assert not torch.equal(seen_plain, past)  # the blind spot is still there


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_analytic_equals_gradient_field(name, kernel_size):
    model = random_model(name, (1, 7, 7), channels=8, n_layers=4, kernel_size=kernel_size)
    for pixel in [(0, 0), (3, 3), (6, 1), (2, 6)]:
        assert torch.equal(receptive_field(model, pixel), analytic_receptive_field(model, pixel))
        for layer in range(1, 5):
            assert torch.equal(receptive_field(model, pixel, layer=layer),
                               analytic_receptive_field(model, pixel, layer=layer))


@pytest.mark.parametrize("name", MODELS)
def test_field_grows_with_depth(name):
    model = random_model(name, (1, 8, 8), channels=8, n_layers=5)
    fields = receptive_fields_by_layer(model, (6, 4))
    sizes = fields.flatten(1).sum(1)
    assert (sizes[1:] > sizes[:-1]).all()
    assert not fields[:, 6, 4].any()  # never the pixel itself
    # layer 1 is one mask-A kernel (3 x 3): three pixels above and one to the left
    assert sizes[0] == 4


def test_receptive_field_bad_input():
    model = build("pixelcnn", (1, 8, 8), channels=8, n_layers=2)
    with pytest.raises(ValueError, match="outside"):
        receptive_field(model, (8, 0))
    with pytest.raises(ValueError, match="layer"):
        receptive_field(model, (1, 1), layer=3)


@pytest.mark.parametrize("name", MODELS)
def test_sampling_shapes_and_determinism(name):
    model = build(name, (1, 6, 6), channels=8, n_layers=2)
    a = model.sample(5, torch.Generator().manual_seed(3))
    b = model.sample(5, torch.Generator().manual_seed(3))
    c = model.sample(5, torch.Generator().manual_seed(4))
    assert a.shape == (5, 1, 6, 6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    colour = build(name, (3, 4, 4), channels=6, n_layers=2, likelihood="categorical", levels=4)
    s = colour.sample(2, torch.Generator().manual_seed(0))
    assert s.shape == (2, 3, 4, 4) and set((s * 3).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_sampling_follows_the_model():
    """A model whose output ignores the input (zero weights, bias b) draws pixels at rate sigmoid(b)."""
    model = build("pixelcnn", (1, 4, 4), channels=8, n_layers=1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.out.bias.fill_(math.log(0.2 / 0.8))  # p(x = 1) = 0.2
    s = model.sample(400, torch.Generator().manual_seed(0))
    assert abs(s.mean().item() - 0.2) < 0.02


def test_completion_keeps_observed_pixels_and_records_frames():
    model = build("gated-pixelcnn", (1, 4, 4), channels=8, n_layers=2)
    x = (torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    top_half = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    top_half[..., :2, :] = True
    frames = []
    out = model.complete(x, top_half, torch.Generator().manual_seed(0), frames=frames)
    assert torch.equal(out[..., :2, :], x[..., :2, :])
    assert len(frames) == 1 + 8  # the observed canvas, then one frame per drawn pixel
    assert frames[0][..., 2:, :].isnan().all() and not frames[-1].isnan().any()
    assert torch.equal(frames[-1], out)
    again = model.complete(x, top_half, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_complete_halves_draws_each_image_from_its_own_half():
    model = build("gated-pixelcnn", (1, 4, 4), channels=8, n_layers=2, seed=0)
    x = (torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    out = complete_halves(model, x, half="top", n_draws=4, seed=0)
    assert set(out) == {"original", "observed", "draw 1", "draw 2", "draw 3", "draw 4"}
    for d in range(1, 5):  # the draws are made as one batch: each keeps its own image's top half
        assert out[f"draw {d}"].shape == (3, 1, 4, 4)
        assert (out[f"draw {d}"][..., :2, :] == x[..., :2, :].numpy()).all()
        assert set(out[f"draw {d}"][..., 2:, :].flatten().tolist()) <= {0.0, 1.0}
    again = complete_halves(model, x, half="top", n_draws=4, seed=0)
    assert all((again[k] == out[k]).all() for k in out if k != "observed")
    assert len({out[f"draw {d}"].tobytes() for d in range(1, 5)}) > 1  # not one draw four times


@pytest.mark.parametrize("name", MODELS)
def test_nll_falls_when_training_briefly(name, digits, digits_test):
    model = build(name, digits.shape, seed=0, channels=16, n_layers=3)
    before = evaluate(model, digits_test)
    for _ in fit(model, digits, steps=60, batch_size=64, lr=5e-3, seed=0):
        pass
    after = evaluate(model, digits_test)
    assert after["bits_per_dim"] < before["bits_per_dim"] - 0.2  # about 1.0 -> 0.54 bits/dim
    assert after["bits_per_dim"] == pytest.approx(after["nll"] / (64 * math.log(2)))


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip(name, tmp_path):
    model = random_model(name, (1, 8, 8), channels=8, n_layers=3)
    model.name = name
    loaded = checkpoints.load(checkpoints.save(model, tmp_path / "m.safetensors"))
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(model(x), loaded(x))


@pytest.mark.parametrize("config", [dict(channels=5, data_shape=(3, 8, 8)), dict(likelihood="gaussian"),
                                    dict(kernel_size=4), dict(n_layers=0), dict(data_shape=(2,))])
def test_bad_config(config):
    data_shape = config.pop("data_shape", (1, 8, 8))
    with pytest.raises(ValueError):
        build("pixelcnn", data_shape, **config)
