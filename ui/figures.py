"""Plotly figure builders shared by the pages: arrays in, ``go.Figure`` out. No streamlit here.

Page-specific builders live beside this file as ``figures_<topic>.py``.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from ui.palette import CATEGORICAL

PALETTE = CATEGORICAL  # ui.palette: colour-blind safe
MAX_POINTS = 600  # curves are thinned to about this many points before drawing


def _layout(fig: go.Figure, title: str | None, height: int | None = None, **kw) -> go.Figure:
    fig.update_layout(_base_layout(title, height), **kw)
    return fig


def _base_layout(title: str | None, height: int | None = None) -> dict:
    """The title, margins and height every figure shares, as a layout dict."""
    return {"title": {"text": title or "", "x": 0.01, "font": {"size": 15}},
            "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, "height": height}


def _figure(data: list[dict], title: str | None, height: int | None, **layout) -> go.Figure:
    """One ``go.Figure`` from plain dicts, built without plotly's property validation.

    The live pages rebuild several figures every tick on the thread that trains: a line chart took 4.1 ms
    to build with validation and 1.3 ms without (the JSON sent is the same). ``tests/test_figures.py``
    validates what every builder returns instead, so a misspelt property still fails a test."""
    return go.Figure(data=data, layout={**_base_layout(title, height), **layout}, _validate=False)


def _colorscale(scale):
    """A named colour scale as the list plotly.js needs (validation used to resolve names); a list as it is."""
    return get_colorscale(scale) if isinstance(scale, str) else scale


LEGEND_ROW_PX = 330  # a one-row legend narrower than this fits under a chart in a half-width column


def curve_layout(names: list[str], xlabel: str = "step", ylabel: str = "", titled: bool = True) -> dict:
    """The layout of a chart of curves that grows while a model trains, as ``_figure`` keywords; ``names``
    are the legend's entries.

    Its margins are fixed and its legend sits in the bottom margin: plotly.js otherwise measures the
    legend and tick labels, grows the margins and lays the chart out a second time, which made each
    redraw of a live chart cost the browser twice as much (26-40 ms against 13-16 ms, one chart in
    Chromium on 2 cores). Fixed margins also keep the plot area still while the tick labels change.
    A legend too long for one row (estimated: ~6.5 px a character and 45 px for each entry's line) would
    wrap over the axis, so it keeps the chart's bottom edge and a margin that grows to hold its rows.
    ``ui.state.plot`` lets the margins grow in lecture mode too, whose larger fonts need the room."""
    common = {"xaxis": {"title": {"text": xlabel}}, "yaxis": {"title": {"text": ylabel}}, "hovermode": "x unified",
              "legend": {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0}}
    if sum(45 + 6.5 * len(name) for name in names) > LEGEND_ROW_PX:
        return common  # the legend pushes the bottom margin down as far as its rows need
    legend = len(names) > 1
    return {**common, "margin": {"l": 64, "r": 16, "t": 40 if titled else 10, "b": 80 if legend else 50,
                                 "autoexpand": False}, "showlegend": legend}


def thin(x, y, max_points: int = MAX_POINTS):
    """Every k-th point (and the last) so that a long curve stays light to send and draw."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= max_points:
        return x, y
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, max_points).astype(int), len(x) - 1])
    return x[idx], y[idx]


def tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """N x C x H x W (or N x H x W) images in [0, 1] -> one mosaic (rows x cols) with NaN gaps."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images.mean(1) if images.shape[1] != 1 else images[:, 0]
    n, h, w = images.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    mosaic = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        mosaic[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return mosaic


def image_grid(images: np.ndarray, ncols: int = 8, title: str | None = None, height: int | None = None,
               row_labels: list[str] | None = None) -> go.Figure:
    """A grid of gray images (white ink on black, like the digits) drawn as one heatmap."""
    mosaic = tile(images, ncols)
    hidden = {"visible": False, "constrain": "domain"}
    layout = {"xaxis": hidden, "yaxis": {**hidden, "autorange": "reversed", "scaleanchor": "x"}}
    if row_labels:
        h = (mosaic.shape[0] + 1) / len(row_labels)
        layout["annotations"] = [{"x": -0.5, "y": i * h + h / 2 - 1, "text": label, "showarrow": False,
                                  "xanchor": "right", "font": {"size": 11}} for i, label in enumerate(row_labels)]
    aspect = mosaic.shape[0] / mosaic.shape[1]
    fig = _figure([{"type": "heatmap", "z": mosaic, "colorscale": _colorscale("gray"), "zmin": 0, "zmax": 1,
                    "showscale": False, "hovertemplate": "value %{z:.2f}<extra></extra>"}],
                  title, height or int(min(600, max(120, 40 + 420 * aspect))), **layout)
    if row_labels:
        fig.layout.margin.l = 90
    return fig


def line_chart(series: dict, title: str | None = None, xlabel: str = "step", ylabel: str = "",
               height: int = 280, log_y: bool = False, dashed: tuple[str, ...] = ()) -> go.Figure:
    """Overlaid curves: ``series`` maps a name to (x, y)."""
    traces = []
    for i, (name, (x, y)) in enumerate(series.items()):
        x, y = thin(x, y)
        traces.append({"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines",
                       "line": {"color": PALETTE[i % len(PALETTE)], "width": 2,
                                "dash": "dash" if name in dashed else "solid"}})
    layout = curve_layout(list(series), xlabel, ylabel, titled=bool(title))
    layout["yaxis"]["type"] = "log" if log_y else "linear"
    return _figure(traces, title, height, **layout)


def heatmap(z: np.ndarray, x=None, y=None, title: str | None = None, colorscale: str | list = "Viridis",
            zmin=None, zmax=None, colorbar_title: str = "", height: int = 280, xlabel: str = "",
            ylabel: str = "") -> go.Figure:
    return _figure([{"type": "heatmap", "z": z, "x": x, "y": y, "colorscale": _colorscale(colorscale), "zmin": zmin,
                     "zmax": zmax, "colorbar": {"title": {"text": colorbar_title}}}], title, height,
                   xaxis={"title": {"text": xlabel}}, yaxis={"title": {"text": ylabel}})


def bar_chart(labels, values, title: str | None = None, ylabel: str = "", height: int = 260,
              threshold: float | None = None, threshold_label: str = "") -> go.Figure:
    fig = _figure([{"type": "bar", "x": list(labels), "y": list(values), "marker": {"color": PALETTE[0]}}], title,
                  height, yaxis={"title": {"text": ylabel}})
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dot", line_color=PALETTE[1], annotation_text=threshold_label)
    return fig


MAX_TABLE_CELLS = 20_000  # a chart's numbers table shows at most this many values


def figure_table(fig: go.Figure):
    """The numbers a chart draws, as a table (its text alternative): one row per point of each trace
    (series, x, y), or a heatmap's grid with its x labels as columns and y labels as the index."""
    import pandas as pd

    tables = []
    for i, trace in enumerate(fig.data):
        name = getattr(trace, "name", None) or f"{trace.type} {i + 1}"
        z = getattr(trace, "z", None)
        if z is not None:
            z = np.asarray(z, dtype=float)
            if z.ndim == 2:
                x, y = getattr(trace, "x", None), getattr(trace, "y", None)
                columns = list(x) if x is not None and len(x) == z.shape[1] else list(range(z.shape[1]))
                index = list(y) if y is not None and len(y) == z.shape[0] else list(range(z.shape[0]))
                table = pd.DataFrame(z, columns=columns, index=index)
                table.index.name = name
                tables.append(table)
                continue
        x, y = getattr(trace, "x", None), getattr(trace, "y", None)
        if x is None and y is None:
            continue
        n = len(x) if x is not None else len(y)
        tables.append(pd.DataFrame({"series": [name] * n, "x": list(x) if x is not None else list(range(n)),
                                    "y": list(y) if y is not None else [None] * n}).dropna(subset=["x"]))
    if not tables:
        return pd.DataFrame()
    if all("series" in t.columns for t in tables):
        table = pd.concat(tables, ignore_index=True)
    else:
        table = tables[0]
    return table.iloc[: max(1, MAX_TABLE_CELLS // max(1, table.shape[1]))]
