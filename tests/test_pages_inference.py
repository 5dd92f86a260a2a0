"""AppTest: the Inference lab (a test image, a cleared canvas, a larger latent), the MI-VAE on the Objectives
page, and the figures of ui.figures_inference validated by plotly."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.apptest import open_page as page
from ui import figures_inference as fi


def _metrics(at) -> dict:
    return {m.label.split(",")[0]: float(m.value) for m in at.metric}


def test_inference_lab_opens_on_a_test_image_with_the_bounds_in_order():
    at = page("80_inference_lab.py").run()
    assert not at.exception and not at.error
    m = _metrics(at)
    assert m["ELBO(q)"] <= m["ELBO(q*)"] <= m["log p(x)"]  # q* is the best Gaussian; every ELBO is a bound
    assert m["IWAE"] >= m["ELBO(q)"]
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) == 8  # gaps, IWAE, overview, posterior, images, PixelCNN, multimodal images and label
    assert not at.info  # a digit: no sentence about the drawing


def test_a_cleared_canvas_gets_a_sentence_and_numbers():
    at = page("80_inference_lab.py").run()
    at.button(key="clear").click().run()
    assert not at.exception and not at.error
    assert any("The canvas is empty" in i.value for i in at.info)
    assert _metrics(at)["log p(x)"] < -20  # a blank image is unlikely under a model of digits
    at.button(key="start").click().run()
    assert not any("empty" in i.value for i in at.info)


def test_a_larger_latent_shows_bars_and_no_grid():
    at = page("80_inference_lab.py", model="VAE, 8-D latent", k="100").run()
    assert not at.exception and not at.error
    assert set(_metrics(at)) == {"ELBO(q)", "IWAE"}
    assert any("cannot be integrated" in c.value for c in at.caption)


def test_the_objectives_page_offers_the_mi_vae():
    at = page("40_objectives.py", models=["VAE", "MI-VAE"], gamma="2.0").run()
    assert not at.exception and not at.error
    assert any("MI-VAE" in x.value for x in at.latex)
    assert any("MI-VAE has none" in i.value for i in at.info)  # the VAE pretrained, the MI-VAE untrained
    assert [row for row in at.dataframe[0].value["model"]] == ["VAE", "MI-VAE"]


rng = np.random.default_rng(0)
axes = np.stack([np.linspace(-1, 1, 9), np.linspace(0, 2, 9)])
QS = {"q(z|x), the encoder's": (np.zeros(2), np.zeros(2)), "q*, the best Gaussian": (np.ones(2), -np.ones(2))}
BUILDERS = {
    "latent_overview": lambda: fi.latent_overview(rng.normal(size=(30, 2)), rng.integers(0, 10, 30), QS,
                                                  ((-1, 1), (0, 2)), "codes"),
    "posterior_heatmap": lambda: fi.posterior_heatmap(axes, rng.normal(size=(9, 9)), QS, "posterior"),
    "iwae_curve": lambda: fi.iwae_curve([1, 10, 100], [-10, -9.6, -9.5], [0.2, 0.1, 0.05], {"log p(x)": -9.4}),
    "gap_bars": lambda: fi.gap_bars(0.05, 0.2, "gaps"),
    "posterior_bars": lambda: fi.posterior_bars(rng.normal(size=8), rng.normal(size=8)),
    "surgery_curves": lambda: fi.surgery_curves([0, 10, 20], {k: [1.0, 2.0, 3.0] for k in
                                                              ("kl", "mutual_information", "marginal_kl",
                                                               "total_correlation")}),
    "surgery_bars": lambda: fi.surgery_bars({"a": {"mutual_information": 1.0, "marginal_kl": 0.2,
                                                   "total_correlation": 0.1}}),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_figures_are_valid_plotly(name):
    fig = BUILDERS[name]()
    assert json.loads(go.Figure(fig.to_dict()).to_json()) == json.loads(fig.to_json())


def test_an_ellipse_is_the_gaussians_contour():
    ex, ey = fi.ellipse(np.array([1.0, -1.0]), np.log(np.array([4.0, 0.25])), radius=2.0)
    assert np.allclose(((ex - 1) / 4) ** 2 + ((ey + 1) / 1) ** 2, 1.0)


def test_the_missed_mode_case_is_one_click_away():
    at = page("80_inference_lab.py", model="InfoVAE, 2-D latent").run()
    at.button(key="missed").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model").value == "VAE, 2-D latent" and at.number_input(key="image").value == 237
    assert any("modes" in i.value for i in at.info)


def test_the_mi_vae_trains_live_on_the_objectives_page():
    from tests.apptest import progress_step

    at = page("40_objectives.py", models=["MI-VAE"], steps="300", gamma="4.0").run()
    at.button(key="objectives-train").click().run()
    at.run()
    assert not at.exception and not at.error and progress_step(at) > 0
    assert at.dataframe[0].value["I(x; z) (nats)"][0] > 0
