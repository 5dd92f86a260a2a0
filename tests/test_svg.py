"""The home page's figure drawn as SVG (ui.svg) and plotly.js fetched behind it (ui.prefetch)."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.apptest import open_page
from ui import figures, prefetch
from ui.svg import WIDTH, line_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-0.05, 1.05), (0.0, 1996.0), (-3.2, 17.9), (1e-4, 3e-4)])
def test_nice_ticks_are_evenly_spaced_round_values_inside_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= 10
    assert all(low - 1e-12 <= t <= high + 1e-12 for t in ticks)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6  # 1, 2 or 5 times a power of ten
    assert ticks[0] - low < steps[0] and high - ticks[-1] < steps[0]  # no round value left out at either end


def test_an_axis_without_finite_limits_is_refused():
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0.0, float("nan"))


def _chart():
    x = np.arange(0, 100, 10)
    return figures.line_chart({"rising": (x, x / 100), "flat": (x, np.full(len(x), 0.5))}, "Two curves",
                              ylabel="β", height=230, dashed=("flat",))


def test_each_curve_is_a_polyline_at_its_values_position():
    svg = ET.fromstring(line_svg(_chart()))
    assert svg.get("viewBox") == f"0 0 {WIDTH} 230"
    lines = svg.findall(f"{SVG}polyline")
    assert [line.find(f"{SVG}title").text for line in lines] == ["rising", "flat"]
    assert [line.get("stroke") for line in lines] == list(figures.PALETTE[:2])
    assert lines[1].get("stroke-dasharray") and not lines[0].get("stroke-dasharray")
    rising = np.array([[float(v) for v in p.split(",")] for p in lines[0].get("points").split()])
    flat = np.array([[float(v) for v in p.split(",")] for p in lines[1].get("points").split()])
    assert np.all(np.diff(rising[:, 0]) > 0) and np.all(np.diff(rising[:, 1]) < 0)  # x right, larger y higher
    assert np.allclose(np.diff(rising[:, 0]), np.diff(rising[:, 0])[0], atol=0.15)  # x is linear
    assert np.allclose(flat[:, 1], flat[0, 1])
    # 0.5 lies halfway between 0 and 0.9 in value, so halfway between them on the page (to rounding)
    assert flat[0, 1] == pytest.approx(rising[0, 1] + (rising[-1, 1] - rising[0, 1]) * 0.5 / 0.9, abs=0.15)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Two curves" in texts and "β" in texts and "step" in texts and "rising" in texts


def test_a_long_legend_wraps_onto_rows_inside_the_drawing():
    x = np.arange(5)
    names = [f"a rather long curve name {i}" for i in range(4)]
    svg = ET.fromstring(line_svg(figures.line_chart({n: (x, x * i) for i, n in enumerate(names)}, "t")))
    legend = [t for t in svg.iter(f"{SVG}text") if t.text in names]
    assert len(legend) == 4 and len({t.get("y") for t in legend}) > 1
    assert all(float(t.get("x")) + 0.58 * 12 * len(t.text) <= WIDTH for t in legend)


def test_a_figure_without_curves_is_refused():
    with pytest.raises(ValueError, match="no scatter trace"):
        line_svg(figures.bar_chart(["a"], [1.0]))


def test_the_installed_streamlit_has_the_plotly_module_the_home_page_prefetches():
    module = prefetch.find_module("PlotlyChart")
    assert module is not None and module.startswith("PlotlyChart.") and module.endswith(".js")
    assert module in prefetch.script((module,))


def test_the_home_page_prefetches_every_module_it_names_plotly_first_and_only_files_that_exist():
    names = prefetch.modules()
    assert [name.split(".")[0] for name in names] == list(prefetch.MODULES)  # all found in our pinned Streamlit
    assert names[0] == prefetch.find_module("PlotlyChart")
    assert all((prefetch._static_js() / name).is_file() for name in names)
    html = prefetch.script(names)
    assert all(html.index(a) < html.index(b) for a, b in itertools.pairwise(names))  # in this order
    assert prefetch.find_module("NoSuchModule") is None


def test_home_draws_its_figure_as_svg_and_prefetches_plotly_without_drawing_a_plotly_chart():
    at = open_page("app.py").run()
    assert not at.exception
    assert not at.get("plotly_chart")
    assert any("<svg" in m.value for m in at.markdown)
    assert any(prefetch.find_module("PlotlyChart") in h.proto.body for h in at.get("html"))
