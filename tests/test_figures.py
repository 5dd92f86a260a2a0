"""ui.figures builds its figures without plotly's property validation (for speed on the live pages); here
every such builder's figure is validated and must come out the same, so nothing invalid reaches plotly.js."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from ui import figures
from ui.figures_hierarchical import independence_text, kl_per_layer_chart, layer_names, layer_split

rng = np.random.default_rng(0)
steps = np.arange(1, 1500)
curve = rng.normal(size=steps.size).cumsum()

BUILDERS = {
    "line_chart": lambda: figures.line_chart({"ELBO": (steps, curve), "β": (steps, curve / 3)}, "ELBO",
                                             ylabel="nats per image", dashed=("β",)),
    "line_chart one curve, log y, no title": lambda: figures.line_chart({"β": (steps, np.exp(curve / 50))}, log_y=True),
    "image_grid": lambda: figures.image_grid(rng.random((16, 1, 8, 8)), 8, "Samples"),
    "image_grid with row labels": lambda: figures.image_grid(rng.random((12, 3, 8, 8)), 4, row_labels=["a", "b", "c"]),
    "heatmap": lambda: figures.heatmap(rng.random((4, 6)), title="KL", colorscale="Viridis", colorbar_title="nats"),
    "heatmap, a colour scale given as a list": lambda: figures.heatmap(rng.random((3, 3)), colorscale=[[0, "red"],
                                                                                                  [1, "blue"]]),
    "bar_chart": lambda: figures.bar_chart(["z0", "z1"], [0.5, 0.001], "KL", threshold=0.01, threshold_label="0.01"),
    "kl_per_layer_chart": lambda: kl_per_layer_chart({"z1": (steps, curve, curve), "z2": (steps, curve, curve)}),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_a_figure_built_without_validation_is_what_validation_gives(name):
    fig = BUILDERS[name]()
    validated = go.Figure(fig.to_dict())  # raises on a property plotly does not know, coerces names to values
    assert json.loads(validated.to_json()) == json.loads(fig.to_json())


def test_validation_would_catch_a_misspelt_property():  # the check above can fail
    fig = figures._figure([{"type": "scatter", "x": [1], "y": [2], "colour": "red"}], "t", 200)
    with pytest.raises(ValueError):
        go.Figure(fig.to_dict())


def test_live_curves_have_fixed_margins_with_room_for_the_legend():
    layout = BUILDERS["line_chart"]().layout
    assert layout.margin.autoexpand is False and layout.legend.yref == "container" and layout.showlegend
    single = BUILDERS["line_chart one curve, log y, no title"]().layout
    assert not single.showlegend and single.margin.b < layout.margin.b and single.yaxis.type == "log"


def test_a_legend_too_long_for_one_row_gets_margins_that_grow():
    names = ["β = 1 (plain VAE)", "monotonic, R = 0.25", "cyclical, M = 4, R = 0.5", "free bits, λ = 0.5"]
    layout = figures.line_chart({n: (steps, curve) for n in names}, "β(t) of each run").layout
    assert layout.margin.autoexpand is not False and layout.legend.yref == "container"


def test_curves_are_thinned_and_keep_their_last_point():
    trace = BUILDERS["line_chart"]().data[0]
    assert len(trace.x) <= figures.MAX_POINTS + 1 and trace.x[-1] == steps[-1] and trace.y[-1] == curve[-1]


@pytest.mark.parametrize("top_share, lower_share, kind, says", [
    (0.01, 0.50, "warning", "z2 barely changes the samples"),
    (0.50, 0.02, "warning", "z1 barely changes the samples"),
    (0.60, 0.20, "success", "the top layer sets the global form"),
    (0.20, 0.60, "warning", "the lower layers carry more of the variation"),
    (0.30, 0.35, "info", "Neither layer dominates"),
])
def test_the_hierarchical_page_says_how_the_layers_split_the_variance(top_share, lower_share, kind, says):
    got_kind, text = layer_split("z2", "z1", top_share, lower_share)
    assert got_kind == kind and says in text
    assert f"removes {top_share:.0%}" in text and f"removes {lower_share:.0%}." in text


def test_the_hierarchical_page_gives_both_correlations():
    text = independence_text(0.314, 0.049)
    assert "drops from 0.31 to 0.05" in text


def test_layer_names_mark_the_top_layer():
    assert layer_names(2) == ["z1", "z2 (top)"] and layer_names(3) == ["z1", "z2", "z3 (top)"]
