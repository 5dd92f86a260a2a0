"""Figures for the objectives, MMD and adversarial-autoencoder pages: arrays in, ``go.Figure`` out. No streamlit.

Their point clouds (at most a few hundred codes or draws) are SVG scatter traces, not WebGL (``Scattergl``):
each WebGL chart starts a GL context of its own, which took Chromium 260-500 ms a chart on a 2-core machine
without a GPU against 120-160 ms for the same chart in SVG (a density heatmap and 256 codes); the objectives
page draws three of them on its first paint. WebGL pays off only for thousands of points.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures import PALETTE, _layout
from ui.palette import LABELS, PRIOR_EDGE

DIGIT_COLOURS = LABELS  # ten labels


def _codes(fig: go.Figure, codes: np.ndarray, labels=None, name: str = "codes") -> None:
    """The codes as one trace, each point coloured by its label (one trace, not one per label: these
    figures show no legend, and each trace costs plotly.js a pass of its own)."""
    codes = np.asarray(codes)
    marker = {"size": 4, "color": PALETTE[0]}
    extra = {}
    if labels is not None:
        labels = np.asarray(labels)
        index = {lab: i for i, lab in enumerate(np.unique(labels))}
        marker["color"] = [DIGIT_COLOURS[index[lab] % len(DIGIT_COLOURS)] for lab in labels]
        extra = {"text": [str(lab) for lab in labels],
                 "hovertemplate": "label %{text}: (%{x:.2f}, %{y:.2f})<extra></extra>"}
    fig.add_trace(go.Scatter(x=codes[:, 0], y=codes[:, 1], mode="markers", name=name, marker=marker, **extra))


def _square(fig: go.Figure, limit: float) -> None:
    fig.update_xaxes(range=[-limit, limit], title="z₁", constrain="domain")
    fig.update_yaxes(range=[-limit, limit], title="z₂", scaleanchor="x", constrain="domain")


def codes_over_density(xs, ys, density, codes, labels=None, title: str | None = None, height: int = 340,
                       limit: float = 3.5) -> go.Figure:
    """The prior's density as a light heatmap with the codes (coloured by label) on top."""
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=density, colorscale="Greys", showscale=False, opacity=0.55,
                               hovertemplate="p(z) = %{z:.3f}<extra></extra>"))
    _codes(fig, codes, labels)
    _square(fig, limit)
    return _layout(fig, title, height, showlegend=False)


ARROW_LENGTH = 0.6  # the longest gradient arrow, in code units; the others in proportion


def _arrows(fig: go.Figure, codes, pushes) -> None:
    """Line segments from each code along its push, the longest ``ARROW_LENGTH`` long, with a head."""
    codes, pushes = np.asarray(codes, dtype=float), np.asarray(pushes, dtype=float)
    longest = float(np.linalg.norm(pushes, axis=1).max()) if len(pushes) else 0.0
    tips = codes + pushes * (ARROW_LENGTH / longest if longest > 0 else 0.0)
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(codes, tips, strict=True):
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="encoder's gradient", hoverinfo="skip",
                             line={"color": "black", "width": 1},
                             marker={"symbol": "arrow", "angleref": "previous", "size": [0, 7, 0] * len(codes),
                                     "color": "black"}))


def decision_surface(xs, ys, probs, codes, labels=None, prior_draws=None, title: str | None = None,
                     height: int = 380, limit: float = 3.5, pushes=None) -> go.Figure:
    """The discriminator's D(z) (blue: "prior", red: "code"), its 0.5 contour, prior draws and the codes;
    with ``pushes``, an arrow from each code along the encoder's gradient (where its loss moves it)."""
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=probs, zmin=0, zmax=1, colorscale="RdBu", opacity=0.7,
                               colorbar={"title": "D(z)"}, hovertemplate="D(z) = %{z:.2f}<extra></extra>"))
    fig.add_trace(go.Contour(x=xs, y=ys, z=probs, contours={"start": 0.5, "end": 0.5, "coloring": "none"},
                             line={"color": "black", "width": 2}, showscale=False, hoverinfo="skip"))
    if prior_draws is not None:
        prior_draws = np.asarray(prior_draws)
        fig.add_trace(go.Scatter(x=prior_draws[:, 0], y=prior_draws[:, 1], mode="markers", name="prior draws",
                                 marker={"size": 4, "color": "white", "line": {"color": PRIOR_EDGE, "width": 1}}))
    _codes(fig, codes, labels)
    if pushes is not None:  # arrows on the first len(pushes) codes
        _arrows(fig, np.asarray(codes)[: len(pushes)], pushes)
    _square(fig, limit)
    return _layout(fig, title, height, showlegend=False)


def two_clouds(x, y, title: str | None = None, height: int = 340) -> go.Figure:
    """The two samples of the MMD playground: x in blue, y in red-orange."""
    fig = go.Figure()
    for points, name, colour in ((x, "x ~ p", PALETTE[0]), (y, "y ~ q", PALETTE[1])):
        points = np.asarray(points)
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                                 marker={"size": 5, "color": colour, "opacity": 0.7}))
    fig.update_yaxes(scaleanchor="x")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.15})


def bandwidth_curve(bandwidths, biased, unbiased, chosen: float, title: str | None = None,
                    height: int = 300) -> go.Figure:
    """Biased and unbiased MMD² against the bandwidth (log axis), the chosen one marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=bandwidths, y=biased, name="biased", mode="lines+markers", line={"color": PALETTE[1]}))
    fig.add_trace(go.Scatter(x=bandwidths, y=unbiased, name="unbiased", mode="lines+markers",
                             line={"color": PALETTE[0]}))
    fig.add_vline(x=chosen, line_dash="dot", annotation_text=f"σ = {chosen:g}")
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.update_xaxes(type="log", title="bandwidth σ")
    fig.update_yaxes(title="MMD²")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.3})
