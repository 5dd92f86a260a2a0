"""Figures for the latent space page: arrays in, ``go.Figure`` out (no streamlit here), and the one
function that reads a scatter selection back into example indices."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ui.figures import _layout, image_grid

COLORS = qualitative.Plotly  # 10 distinct colours: one per digit class


def latent_scatter(xy: np.ndarray, colour: np.ndarray, colour_name: str, title: str | None = None,
                   height: int = 460) -> go.Figure:
    """Projected codes (N x 2), one trace per value of ``colour`` (discrete labels or factor levels).

    Every point carries its example index as ``customdata``: ``selected_indices`` reads it back.
    """
    xy, colour = np.asarray(xy), np.asarray(colour)
    fig = go.Figure()
    for i, value in enumerate(np.unique(colour)):
        idx = np.flatnonzero(colour == value)
        fig.add_trace(go.Scatter(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{colour_name} {value:g}" if colour.dtype.kind == "f"
            else f"{colour_name} {value}", customdata=idx, marker={"size": 6, "color": COLORS[i % len(COLORS)]},
            hovertemplate="example %{customdata}<extra>%{fullData.name}</extra>"))
    fig.update_xaxes(title="axis 1", zeroline=False)
    fig.update_yaxes(title="axis 2", zeroline=False)
    return _layout(fig, title, height, legend={"itemsizing": "constant"})  # Streamlit sets the drag mode


def selected_indices(selection, limit: int | None = None) -> list[int]:
    """The example indices of the selected points (click, box or lasso), in selection order, without repeats.

    ``selection`` is what ``st.plotly_chart(..., on_select="rerun")`` returns (or its ``selection``), or None.
    Indices at or beyond ``limit`` (a selection left over from a larger data set) are dropped.
    """
    if not selection:
        return []
    selection = selection.get("selection", selection)
    points = selection.get("points") or []
    seen: dict[int, None] = {}
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data is not None and 0 <= int(data) < (limit if limit is not None else float("inf")):
            seen.setdefault(int(data), None)
    return list(seen)


def originals_and_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, per_row: int = 6,
                                  title: str = "Selected examples and their reconstructions") -> go.Figure:
    """Inputs (as the model sees them) above what the model makes of them, ``per_row`` pairs to a row pair."""
    n = len(originals)
    per_row = max(1, min(per_row, n))
    pad = -n % per_row  # blank (NaN) cells complete the last row pair
    blank = np.full((pad, *originals.shape[1:]), np.nan, dtype=np.float32)
    rows, labels = [], []
    for start in range(0, n + pad, per_row):
        for images, label in ((originals, "original"), (reconstructions, "reconstruction")):
            rows.append(np.concatenate([images, blank])[start : start + per_row])
            labels.append(label)
    return image_grid(np.concatenate(rows), per_row, title, row_labels=labels)


def traversal_grid(images: np.ndarray, dims: list[int], kl: list[float], low: float, high: float) -> go.Figure:
    """Rows of a traversal (len(dims) x steps x C x H x W), each labelled with its dimension and KL."""
    rows, steps = images.shape[:2]
    labels = [f"z{d} · KL {k:.2f}" for d, k in zip(dims, kl, strict=True)]
    title = f"Traversals: each row sweeps one dimension from {low:g} to {high:g}"
    return image_grid(images.reshape(rows * steps, *images.shape[2:]), steps, title, row_labels=labels)


def manifold_figure(grid: np.ndarray, values: np.ndarray) -> go.Figure:
    """The decoded n x n grid of a 2-D latent (n x n x C x H x W): z_1 grows to the right, z_2 upwards."""
    n = grid.shape[0]
    title = f"The learned manifold: z₁, z₂ from {values[0]:g} to {values[-1]:g} (z₂ grows upwards)"
    return image_grid(grid.reshape(n * n, *grid.shape[2:]), n, title)
