"""Resampling any one layer of a hierarchical VAE (genlib.models.hierarchical.resample_layer) and the page's
control for it, on a 3-layer model: every level, not only the top."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from genlib.models import build
from genlib.models.hierarchical import resample_layer, samples_with_fixed_layers
from genlib.train import fit

ROOT = Path(__file__).resolve().parent.parent
THREE = {"latent_dim": 4, "upper_dims": (3, 2), "hidden": (32,), "ladder_hidden": 16, "free_bits": 0.25}


@pytest.fixture(scope="module")
def model(digits):
    model = build("hierarchical-vae", digits.shape, seed=0, **THREE)
    list(fit(model, digits, steps=60, batch_size=64, seed=0))
    return model


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_the_grid_redraws_that_layer_only(model, layer):
    out = resample_layer(model, layer, rows=3, cols=5, seed=4)
    others = [i for i in range(3) if i != layer]
    expected = samples_with_fixed_layers(model, others, rows=3, cols=5, seed=4).numpy()
    assert out["grid"].shape == (15, 1, 8, 8)
    np.testing.assert_array_equal(out["grid"], expected)
    assert 0 < out["share"] <= 1.5  # some of the free variation; a sampling estimate, so not capped at 1


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_a_layer_at_temperature_zero_changes_nothing_when_redrawn(model, layer):
    temperature = tuple(0.0 if i == layer else 1.0 for i in range(3))
    out = resample_layer(model, layer, temperature=temperature, rows=2, cols=4, seed=1)
    rows = out["grid"].reshape(2, 4, -1)
    np.testing.assert_allclose(rows, rows[:, :1].repeat(4, 1), atol=1e-6)  # the same picture along a row
    assert out["share"] == pytest.approx(0.0, abs=1e-9)


def test_a_layer_out_of_range_is_one_clear_error(model):
    for layer in (-1, 3):
        with pytest.raises(ValueError, match="out of range"):
            resample_layer(model, layer)


def test_resampling_keeps_the_model_in_training_mode(model):
    model.train()
    resample_layer(model, 1)
    assert model.training


def test_the_page_redraws_a_chosen_level_of_a_3_level_model():
    at = AppTest.from_file(str(ROOT / "pages" / "70_hierarchical_vae.py"), default_timeout=90)
    at.query_params["hv_layers"] = "3"
    at.run()
    assert not at.exception
    assert at.button(key="hvae-train") is not None
    at.button(key="hvae-train").click().run()  # no pretrained 3-layer model: train a little, then look
    at.button(key="hvae-pause").click().run()
    assert not at.exception
    radio = at.radio(key="hv_redraw3")
    assert list(radio.options) == ["z1", "z2", "z3 (top)"] and radio.value == 2
    for level, name in ((0, "z1"), (1, "z2")):
        radio.set_value(level).run()
        assert not at.exception
        assert any(f"Redrawing {name} alone brings back" in c.value for c in at.caption), name
