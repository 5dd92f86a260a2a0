"""AppTest for the Product of experts page: the classic numbers by default, 2-D experts, the pretrained
PoE and MoE side by side, bad input as a message, and a few live-training ticks."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genlib import pretrained

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "50_product_of_experts.py")
BUILT = all(n in pretrained.names() for n in ("mvae-poe-digits", "mvae-moe-digits"))


def page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_default_reproduces_the_classic_example():
    at = page().run()
    assert not at.exception and not at.error
    assert "mean **0.32**, variance **0.40**" in _text(at)
    assert any(r"\Sigma^{-1} = \sum_e" in x.value for x in at.latex)
    at.toggle(key="prior").set_value(True).run()  # the N(0, 1) expert adds precision 1
    assert "mean **0.23**, variance **0.29**" in _text(at)
    at.toggle(key="on_A").set_value(False).run()
    at.toggle(key="on_B").set_value(False).run()
    assert "mean **0.00**, variance **1.00**" in _text(at)  # nobody present: the prior


def test_two_dimensional_experts_with_full_covariance():
    at = page(dims="2-D").run()
    assert not at.exception and not at.error
    assert "covariance [[" in _text(at)
    assert at.get("plotly_chart")


@pytest.mark.skipif(not BUILT, reason="pretrained mvae-poe-digits / mvae-moe-digits not built")
def test_pretrained_poe_and_moe_side_by_side():
    at = page(given=["top"]).run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert any(label.startswith("PoE: label accuracy") for label in labels)
    assert any(label.startswith("MoE: label accuracy") for label in labels)
    assert len(at.get("plotly_chart")) >= 5  # densities + a grid and a label chart per model
    for given in (["label"], ["top", "bottom", "label"], ["top", "bottom"]):  # label -> images, all, image -> label
        at.multiselect(key="given").set_value(given).run()
        assert not at.exception and not at.error, given
        assert any(m.label.startswith("PoE: label accuracy") for m in at.metric) == ("label" not in given)
    at.multiselect(key="given").set_value([]).run()
    assert at.error and not at.exception  # nothing to condition on: a message, not a traceback


def test_training_here_runs_a_few_ticks():
    at = page(source="train here", steps="300").run()
    assert not at.exception
    at.button(key="poe-train").click().run()
    assert not at.exception and not at.error
    at.run()
    text = next(p.proto.text for p in at.get("progress"))
    assert int(text.split()[1].replace(",", "")) > 0
    assert len(at.get("plotly_chart")) >= 6  # densities, the ELBO curves, a grid and a label chart per model
    at.button(key="poe-pause").click().run()
    assert not at.exception
