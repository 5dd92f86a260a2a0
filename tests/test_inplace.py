"""ui.inplace: during a stretch of training a chart keeps its element and its new figures travel beside it.

(The browser side, charts kept and updated in Streamlit's theme: tests/test_browser.py.)"""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
from streamlit.testing.v1 import AppTest

from ui import inplace


def _app():
    import numpy as np
    import streamlit as st

    from ui import figures, inplace
    from ui.state import plot

    n = st.session_state["ticks"] = st.session_state.get("ticks", 0) + 1
    stretch = st.session_state.setdefault("stretch", inplace.Stretch())  # one stretch over every run
    with inplace.tick(stretch):
        plot(figures.line_chart({"loss": (np.arange(n + 2), np.ones(n + 2))}, "Loss"), key="loss curve")
    plot(figures.line_chart({"loss": (np.arange(n + 2), np.ones(n + 2))}, "Loss"), key="outside")


def _charts(at):
    return {c.proto.id.rsplit("-", 1)[-1]: c.proto for c in at.get("plotly_chart")}


def _values(array) -> np.ndarray:
    """An array as plotly writes it to JSON: a list, or {"dtype", "bdata"} (base64)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def _sent(at) -> dict:
    components = at.get("bidi_component")
    return json.loads(json.loads(components[0].proto.json)["figures"]) if components else {}


def test_a_chart_keeps_its_element_and_its_new_figure_is_sent_beside_it():
    at = AppTest.from_function(_app).run()
    assert not at.exception
    first = _charts(at)
    assert _sent(at) == {}, "the first tick draws the chart itself"
    at.run()
    second = _charts(at)
    assert second["loss curve"].id == first["loss curve"].id, "the same element: the browser keeps the chart"
    assert second["loss curve"].spec == first["loss curve"].spec
    assert second["outside"].spec != first["outside"].spec, "outside a stretch a chart is drawn anew"
    sent = _sent(at)
    assert list(sent) == ["st-key-loss-curve"], "the new figure goes to the chart's element by its class"
    assert len(_values(sent["st-key-loss-curve"]["data"][0]["x"])) == 4, "this tick's figure, not the first"
    assert "template" not in sent["st-key-loss-curve"]["layout"], "the chart's own (themed) template stays"


def test_outside_a_stretch_or_for_selections_and_animations_nothing_is_taken():
    fig = go.Figure()
    assert not inplace.draw(fig, "k", {})  # no stretch open
    with inplace.tick(inplace.Stretch()):
        assert not inplace.draw(fig, None, {}), "a chart without a key cannot be found on the page"
        assert not inplace.draw(fig, "k", {}, on_select="rerun"), "a selection needs Streamlit's chart"
        assert not inplace.draw(go.Figure(frames=[go.Frame(data=[])]), "k", {}), "animations are drawn anew"


def test_class_names_follow_streamlits_rule():
    # frontend: `st-key-` + key.trim().replaceAll(/[^a-zA-Z0-9_-]/g, "-")
    assert inplace.class_name(" KL per dim (β=4) ") == "st-key-KL-per-dim----4-"  # space, (, β and = each become -
    assert inplace.class_name("elbo_curve") == "st-key-elbo_curve"
