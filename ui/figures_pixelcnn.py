"""Figures for the PixelCNN page: masks as kernels, receptive fields, the sampling animation. No streamlit here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures import PALETTE, _layout, tile
from ui.palette import PAPER, YELLOW, rgba

CHANNEL_NAMES = ("R", "G", "B")
# receptive-field categories: not seen, seen, blind spot, the pixel itself
FIELD_COLOURS = (PAPER, PALETTE[0], PALETTE[1], YELLOW)
FIELD_LABELS = ("not seen", "seen", "blind spot", "this pixel")
# The sampling animation draws on the page's own background (light or dark theme): a pixel not drawn yet has
# a see-through accent of its own, apart from the black-to-white of drawn pixels; the gaps between samples
# stay transparent, as in ui.figures.image_grid. Its buttons and slider use greys that read on either theme.
UNDRAWN = -1.0  # z of a pixel not drawn yet
UNDRAWN_COLOUR = rgba(PALETTE[0], 0.4)  # see-through
CANVAS_SCALE = [[0.0, UNDRAWN_COLOUR], [0.499, UNDRAWN_COLOUR], [0.5, "rgb(0, 0, 0)"], [1.0, "rgb(255, 255, 255)"]]
CONTROL_GREY = "rgba(128, 128, 128, 0.6)"
CONTROL_COLOURS = {"bgcolor": "rgba(128, 128, 128, 0.15)", "bordercolor": CONTROL_GREY}
CONTROLS_PX = 160  # room under the canvas for the play / pause buttons and the slider with its labels


def _discrete_scale(colours) -> list:
    n = len(colours)
    return [[v, c] for i, c in enumerate(colours) for v in (i / n, (i + 1) / n)]


def mask_kernels(masks: dict[str, np.ndarray], title: str | None = None) -> go.Figure:
    """Each mask (C_out, C_in, k, k) drawn as its k x k kernel; with colour groups, one small kernel per
    (output channel, input channel) pair, laid out as a C_out x C_in block."""
    names = list(masks)
    c = next(iter(masks.values())).shape[0]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[f"mask {n}" for n in names],
                        horizontal_spacing=0.03)
    for col, name in enumerate(names, start=1):
        m = np.asarray(masks[name], dtype=float)
        k = m.shape[-1]
        block = np.full((c * (k + 1) - 1, c * (k + 1) - 1), np.nan)
        text = np.full(block.shape, "", dtype=object)
        for o in range(c):
            for i in range(c):
                block[o * (k + 1): o * (k + 1) + k, i * (k + 1): i * (k + 1) + k] = m[o, i]
                if c > 1:
                    text[o * (k + 1) + k // 2, i * (k + 1) + k // 2] = f"{CHANNEL_NAMES[i % 3]}→{CHANNEL_NAMES[o % 3]}"
        fig.add_trace(go.Heatmap(z=block, text=text, texttemplate="%{text}", colorscale=[[0, PAPER],
                                 [1, PALETTE[0]]], zmin=0, zmax=1, showscale=False, xgap=1, ygap=1,
                                 hovertemplate="weight used: %{z}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    for i in range(2, len(names) + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    fig.update_annotations(font_size=12)
    return _layout(fig, title, 230 if c == 1 else 330)


def field_map(seen: np.ndarray, blind: np.ndarray, pixel: tuple[int, int]) -> np.ndarray:
    """Booleans -> the category of each pixel (index into FIELD_LABELS)."""
    z = np.where(blind, 2, np.where(seen, 1, 0)).astype(float)
    z[pixel] = 3
    return z


def receptive_fields(maps: dict[str, tuple[np.ndarray, np.ndarray]], pixel: tuple[int, int],
                     title: str | None = None) -> go.Figure:
    """Side-by-side receptive fields: ``maps`` is title -> (seen, blind spot), both bool (H, W)."""
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(maps), horizontal_spacing=0.06)
    n = len(FIELD_COLOURS)
    for col, (seen, blind) in enumerate(maps.values(), start=1):
        z = field_map(seen, blind, pixel)
        labels = np.asarray(FIELD_LABELS, dtype=object)[z.astype(int)]
        fig.add_trace(go.Heatmap(z=z, customdata=labels, colorscale=_discrete_scale(FIELD_COLOURS), zmin=-0.5,
                                 zmax=n - 0.5, showscale=col == len(maps), xgap=2, ygap=2,
                                 colorbar={"tickvals": list(range(n)), "ticktext": list(FIELD_LABELS), "len": 0.9},
                                 hovertemplate="row %{y}, column %{x}: %{customdata}<extra></extra>"),
                      row=1, col=col)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", dtick=1)
    fig.update_xaxes(constrain="domain", dtick=1)
    for i in range(2, len(maps) + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    return _layout(fig, title, 360)


def sampling_animation(frames: np.ndarray, ncols: int = 8, title: str | None = None,
                       frame_ms: int = 60) -> go.Figure:
    """Frames (T, N, C, H, W), undrawn pixels NaN, as an animated grid with play / pause and a slider."""
    mosaics = [tile(np.where(np.isnan(f), UNDRAWN, f), ncols) for f in frames]  # NaN left: the gaps

    fig = go.Figure(data=[go.Heatmap(z=mosaics[-1], colorscale=CANVAS_SCALE, zmin=UNDRAWN, zmax=1, showscale=False,
                                     hovertemplate="value %{z:.0f} (−1: not drawn yet)<extra></extra>")],
                    # plotly.js merges a frame into the trace it animates: a frame needs its z alone (a whole
                    # Heatmap per frame cost 0.15 s of plotly's validation for 65 frames, and their repeats)
                    frames=[go.Frame(data=[go.Heatmap(z=z)], name=str(t)) for t, z in enumerate(mosaics)])
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    play = {"args": [None, {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True,
                            "transition": {"duration": 0}}], "label": "▶ Play", "method": "animate"}
    pause = {"args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}],
             "label": "⏸ Pause", "method": "animate"}
    steps = [{"args": [[str(t)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": str(t), "method": "animate"} for t in range(len(mosaics))]
    aspect = mosaics[0].shape[0] / mosaics[0].shape[1]
    fig.update_layout(
        # Under the canvas, the buttons above the slider (side by side they overlap in lecture mode's bigger
        # type). No button is marked active: plotly marks it with a light fill that hides a dark theme's text.
        updatemenus=[{"type": "buttons", "buttons": [play, pause], "direction": "left", "active": -1,
                      "x": 0, "y": 0, "xanchor": "left", "yanchor": "top", "pad": {"t": 12}, **CONTROL_COLOURS}],
        sliders=[{"steps": steps, "active": len(steps) - 1, "x": 0, "len": 1, "y": 0, "yanchor": "top",
                  "pad": {"t": 62, "b": 0}, "currentvalue": {"prefix": "pixels drawn: "}, **CONTROL_COLOURS,
                  "activebgcolor": CONTROL_GREY, "tickcolor": CONTROL_GREY}])
    canvas = int(min(480, max(120, 420 * aspect)))  # px for the samples themselves
    _layout(fig, title, 40 + canvas + CONTROLS_PX)
    return fig.update_layout(margin_b=CONTROLS_PX)
