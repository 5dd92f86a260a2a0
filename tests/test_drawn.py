"""genlib.drawn: canvas pixels to the data's resolution and back, what is odd about a drawing, and what the
other models make of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlib import drawn, pretrained

S = 28


def canvas_of(image: np.ndarray) -> np.ndarray:
    """An 8 x 8 gray image painted as the canvas would hold it: S x S blocks, opaque, on black."""
    rgba = np.zeros((8 * S, 8 * S, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[..., :3] = np.kron(np.round(image * 255), np.ones((S, S)))[..., None].astype(np.uint8)
    return rgba


def test_canvas_pixels_average_to_the_data_resolution(digits_test):
    x = digits_test.x[:1]
    assert torch.allclose(drawn.to_image(canvas_of(x[0, 0].numpy())), x, atol=1 / 255)
    half = np.zeros((8 * S, 8 * S, 4), np.uint8)
    half[: S // 2, :S] = 255  # the top half of pixel (0, 0) white
    img = drawn.to_image(half)
    assert img.shape == (1, 1, 8, 8) and img[0, 0, 0, 0] == pytest.approx(0.5) and img.sum() == pytest.approx(0.5)
    transparent = np.full((8 * S, 8 * S, 4), 255, np.uint8)
    transparent[..., 3] = 0  # white but fully transparent: no ink
    assert drawn.to_image(transparent).sum() == 0
    with pytest.raises(ValueError, match="RGBA"):
        drawn.to_image(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="smaller"):
        drawn.to_image(np.zeros((4, 4, 4)))


def test_a_test_image_becomes_a_drawing_of_its_pixels(digits_test):
    x = digits_test.x[0]
    drawing = drawn.to_drawing(x, S)
    inked = int((x[0] > 0.02).sum())
    assert len(drawing["objects"]) == inked
    first = drawing["objects"][0]
    assert first["type"] == "rect" and first["width"] == S and first["left"] % S == 0


def test_empty_and_all_ink_drawings_get_a_sentence(digits_test):
    assert "empty" in drawn.problem(drawn.blank())
    assert "Every pixel is ink" in drawn.problem(torch.ones(1, 1, 8, 8))
    assert drawn.problem(digits_test.x[:1]) is None


def test_nearest_training_images(digits):
    idx, dist = drawn.nearest(digits.x[5:6], digits.x, 3)
    assert idx[0] == 5 and dist[0] == 0 and (dist[1:] >= 0).all() and len(idx) == 3


def test_the_drawing_sent_to_the_pixelcnn_and_the_multimodal_vae(digits_test):
    x = digits_test.x[:1]
    done = drawn.pixelcnn_completion(pretrained.load("pixelcnn-digits"), x, n_draws=2)
    kept = pretrained.load("pixelcnn-digits").likelihood.prepare(x)[..., :4, :].numpy()
    assert all(np.array_equal(done[f"draw {d}"][..., :4, :], kept) for d in (1, 2))  # the drawn top half kept
    given = drawn.multimodal_from_top(pretrained.load("mvae-poe-digits"), x, n_draws=3)
    assert given["whole"].shape == (3, 1, 8, 8) and given["label"].sum() == pytest.approx(1, abs=1e-5)
    assert torch.equal(given["whole"][:, :, :4], (x[:, :, :4] > 0.5).float().expand(3, 1, 4, 8))
    draws = drawn.posterior_draws(pretrained.load("vae-2d-digits"), x, 5)
    assert draws.shape == (5, 1, 8, 8) and 0 <= draws.min() and draws.max() <= 1
