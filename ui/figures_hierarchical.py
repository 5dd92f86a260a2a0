"""Figures for the hierarchical VAE page: arrays in, ``go.Figure`` out (no streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures import PALETTE, _figure, _layout, bar_chart, curve_layout, thin


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
