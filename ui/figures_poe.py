"""Figures for the Product of experts page: expert densities with their product, label distributions.

Arrays in, ``go.Figure`` out; no streamlit here and no math beyond laying the arrays out.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures import PALETTE, _layout, image_grid
from ui.palette import PRODUCT

PRODUCT_COLOUR = PRODUCT


def densities_1d(axis, experts: dict, product, prior=None, title: str | None = None, height: int = 320) -> go.Figure:
    """Each expert's density (dashed), the prior (dotted) and the renormalised product (filled)."""
    fig = go.Figure()
    for i, (name, y) in enumerate(experts.items()):
        fig.add_trace(go.Scatter(x=axis, y=y, name=name, mode="lines",
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2, "dash": "dash"}))
    if prior is not None:
        fig.add_trace(go.Scatter(x=axis, y=prior, name="prior N(0, 1)", mode="lines",
                                 line={"color": PALETTE[6], "width": 2, "dash": "dot"}))
    fig.add_trace(go.Scatter(x=axis, y=product, name="product (renormalised)", mode="lines", fill="tozeroy",
                             line={"color": PRODUCT_COLOUR, "width": 3}))
    fig.update_xaxes(title="z")
    fig.update_yaxes(title="density")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.3}, hovermode="x unified")


def densities_2d(axis, experts: dict, product, prior=None, title: str | None = None, height: int = 420) -> go.Figure:
    """Contours of each expert (and the prior) over the filled contours of their product."""
    fig = go.Figure(go.Contour(x=axis, y=axis, z=product, name="product", colorscale="Greys", showscale=False,
                               ncontours=12, line={"width": 0}, hovertemplate="product %{z:.3f}<extra></extra>"))
    layers = dict(experts)
    if prior is not None:
        layers["prior N(0, I)"] = prior
    for i, (name, z) in enumerate(layers.items()):
        colour = PALETTE[6] if name.startswith("prior") else PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Contour(x=axis, y=axis, z=z, name=name, showscale=False, ncontours=5, showlegend=True,
                                 contours={"coloring": "none"}, line={"color": colour, "width": 2},
                                 hoverinfo="skip"))
    fig.update_xaxes(title="z₁", constrain="domain")
    fig.update_yaxes(title="z₂", scaleanchor="x", constrain="domain")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.2})


def label_distributions(probs: np.ndarray, labels=None, title: str | None = None, height: int = 300) -> go.Figure:
    """p(label | what was given) per example: rows are examples (true label on the axis), columns classes."""
    probs = np.asarray(probs)
    rows = [f"#{i + 1}" + ("" if labels is None else f" (true {int(labels[i])})") for i in range(len(probs))]
    fig = go.Figure(go.Heatmap(z=probs, x=[str(k) for k in range(probs.shape[1])], y=rows, zmin=0, zmax=1,
                               colorscale="Blues", colorbar={"title": "p"},
                               hovertemplate="%{y}: p(label = %{x}) = %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="predicted label")
    return _layout(fig, title, height)


def conditioning_grid(result: dict, title: str | None = None, n_samples: int | None = None) -> go.Figure:
    """What ``genlib.models.multimodal.cross_modal`` returns, as rows of digits: the input as the model
    sees it (hidden parts blank), the prediction at the posterior mean, then decoded posterior samples."""
    samples = result["samples"][:n_samples]
    rows = [result["inputs"], result["mean"], *samples]
    names = ["given", "mean", *[f"sample {i + 1}" for i in range(len(samples))]]
    return image_grid(np.concatenate(rows), ncols=len(result["inputs"]), title=title, row_labels=names)
