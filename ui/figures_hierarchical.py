"""Figures for the hierarchical VAE page: arrays in, ``go.Figure`` out; and what the page says of a model's
layers, numbers in, text out (no streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures import PALETTE, _figure, _layout, bar_chart, curve_layout, thin


def layer_names(n_layers: int) -> list[str]:
    """The layers' names, bottom up, the top one marked: ["z1", "z2 (top)"]."""
    return [f"z{i + 1}" + (" (top)" if i == n_layers - 1 else "") for i in range(n_layers)]


def kl_per_layer_chart(curves: dict, title: str = "KL per layer during training", height: int = 280) -> go.Figure:
    """``curves`` maps a layer's name to (steps, raw batch KL, smoothed KL): faint raw, bold smoothed."""
    traces = []
    for i, (name, (x, raw, smoothed)) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        xr, raw = thin(x, raw)
        xs, smoothed = thin(x, smoothed)
        traces.append({"type": "scatter", "x": xr, "y": raw, "mode": "lines", "line": {"color": color, "width": 1},
                       "opacity": 0.3, "showlegend": False, "hoverinfo": "skip"})
        traces.append({"type": "scatter", "x": xs, "y": smoothed, "name": name, "mode": "lines",
                       "line": {"color": color, "width": 2}})
    layout = curve_layout(list(curves), "step", "nats per image", titled=bool(title))
    layout["yaxis"]["rangemode"] = "tozero"
    return _figure(traces, title, height, **layout)


def kl_per_layer_bars(kl_per_layer: list[float], title: str = "KL per layer (test set)") -> go.Figure:
    return bar_chart([f"z{i + 1}" for i in range(len(kl_per_layer))], kl_per_layer, title, ylabel="nats per image")


def correlation_pair(marginal: np.ndarray, conditional: np.ndarray, *, marginal_title: str, conditional_title: str,
                     height: int = 320) -> go.Figure:
    """Two correlation matrices side by side on one -1..1 colour scale."""
    labels = [f"z1[{i}]" for i in range(marginal.shape[0])]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(marginal_title, conditional_title), horizontal_spacing=0.12)
    for col, z in ((1, marginal), (2, conditional)):
        fig.add_trace(go.Heatmap(z=np.asarray(z), x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu",
                                 reversescale=True, showscale=col == 2, colorbar={"title": "corr"},
                                 hovertemplate="%{y} vs %{x}: %{z:.2f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    fig.update_annotations(font={"size": 13})
    return _layout(fig, None, height)


def layer_split(top: str, lower: str, top_share: float, lower_share: float) -> tuple[str, str]:
    """What the page says of how a model splits its samples' pixel variance between the top layer ``top`` and
    the layers below ``lower`` (``genlib.models.hierarchical.layer_report``'s shares): (kind, text), kind the
    message's look: "success", "warning" or "info"."""
    shares = (f"Holding {top} fixed removes {top_share:.0%} of the samples' pixel variance; holding the noise of "
              f"{lower} fixed removes {lower_share:.0%}.")
    unused = top if top_share < 0.05 else lower if lower_share < 0.05 else None
    if unused:
        return "warning", (f"{shares} This run does **not** show \"higher layers: global, lower layers: detail\": "
                           f"{unused} barely changes the samples: it has collapsed onto its prior (see the KL per "
                           "layer) and the model is in effect a one-layer VAE. Free bits λ > 0 usually keeps every "
                           "layer in use.")
    if top_share > lower_share + 0.1:
        return "success", (f"{shares} In this model the top layer sets the global form (each row on the left looks "
                           "alike; along a row on the right the form changes) and the lower layers add variations.")
    if lower_share > top_share + 0.1:
        return "warning", (f"{shares} This run does **not** show \"higher layers: global, lower layers: detail\": "
                           "the lower layers carry more of the variation than the top.")
    return "info", f"{shares} Neither layer dominates here: the split between global form and detail is weak."


def independence_text(marginal: float, conditional: float) -> str:
    """The page's account of conditional independence: ``marginal`` and ``conditional``, the mean |corr|
    between z1's coordinates with the layers above redrawn and held (``layer_report``'s off-diagonals)."""
    return ("**Conditional independence.** The model draws z1 from p(z1 | z2) = ∏_d N(μ_d(z2), σ_d²(z2)): given the "
            "layer above, the coordinates of z1 are independent. They are *not* independent on their own: they share "
            "a parent, and moving z2 moves all their means together. Left: correlations of z1's coordinates over "
            "samples in which the layers above are redrawn as well. Right: the same inside groups of 128 samples that "
            f"share the layers above (averaged over 16 groups): mean |corr| drops from {marginal:.2f} to "
            f"{conditional:.2f}, the level of sampling noise. Every dependence between lower codes runs through the "
            "layer above.")
