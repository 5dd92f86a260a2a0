"""ELBO surgery on the ELBO & β page and the Annealing lab: off by default, drawn when its toggle is on."""

from __future__ import annotations

from apptest import open_page


def _keys(at) -> set:
    return {c.key for c in at.get("plotly_chart")}


def test_the_elbo_page_splits_the_pretrained_models_kl():
    at = open_page("10_elbo.py").run()
    assert "elbo-surgery-bars" not in _keys(at), "off by default: the page opens as fast as before"
    at.toggle(key="elbo_surgery").set_value(True).run()
    assert not at.exception and "elbo-surgery-bars" in _keys(at)


def test_the_annealing_lab_shows_it_over_the_shipped_runs():
    at = open_page("30_annealing_lab.py").run()
    at.toggle(key="lab_surgery").set_value(True).run()
    assert not at.exception
    assert any(k.startswith("lab-surgery-") for k in _keys(at))
