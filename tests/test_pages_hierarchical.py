"""AppTest: the Hierarchical VAE page opens on the pretrained model, trains live, and handles its settings."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "70_hierarchical_vae.py")


def page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def _messages(at: AppTest) -> str:
    return " ".join(m.value for kind in (at.success, at.warning, at.info) for m in kind)


def _step(at: AppTest) -> int:
    text = next(p.proto.text for p in at.get("progress"))
    return int(text.split()[1].replace(",", ""))


def test_opens_on_the_pretrained_model_with_grids_correlations_and_metrics():
    at = page().run()
    assert not at.exception and not at.error
    assert "pretrained model" in _messages(at)
    assert "Holding z2 fixed removes" in _messages(at)  # the verdict on "global vs detail", from the numbers
    assert "Conditional independence" in " ".join(m.value for m in at.markdown)
    assert {"IWAE NLL (nats)", "−ELBO", "Active units"} <= {m.label for m in at.metric}
    assert len(at.get("plotly_chart")) >= 4  # KL per layer, two sample grids, correlations
    latex = " ".join(x.value for x in at.latex)
    assert r"\beta_i(t)" in latex and r"\max\big(\lambda" in latex and r"\hat\sigma_i^{-2}" in latex
    assert len([s for s in at.slider if s.key.startswith("hv_t")]) == 2  # a temperature per layer


def test_temperatures_and_three_layers():
    at = page(hv_t2="0.0").run()
    assert not at.exception and not at.error
    assert at.slider(key="hv_t2").value == 0.0
    at = page(hv_layers="3").run()
    assert not at.exception and not at.error
    assert "Press **Train**" in _messages(at)  # no pretrained model for these settings: nothing trains
    assert len([s for s in at.slider if s.key.startswith("hv_t")]) == 3


def test_live_training_shows_a_kl_curve_per_layer_and_pauses():
    at = page(hv_steps="1000", hv_warmup="top layer only").run()
    at.button(key="hvae-train").click().run()
    assert not at.exception and not at.error
    at.run()  # each tick draws what the one before trained
    first = _step(at)
    at.run()
    assert _step(at) > first > 0
    names = [trace.get("name") for chart in at.get("plotly_chart")
             for trace in json.loads(chart.proto.spec)["data"]]
    assert "KL z1" in names and "KL z2 (top)" in names
    at.button(key="hvae-pause").click().run()
    paused = _step(at)
    at.run()
    assert _step(at) == paused
    assert "IWAE NLL (nats)" in {m.label for m in at.metric}  # paused: evaluated on the test split
    assert not at.exception and not at.error
