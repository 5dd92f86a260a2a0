"""Figures of the annealing lab and the posterior-collapse page: arrays in, plotly figures out (no streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.figures import PALETTE, _layout, heatmap, thin
from ui.palette import MUTED


def kl_heatmap(steps, kl_per_dim, threshold: float | None = None, title: str | None = None) -> go.Figure:
    """KL of each latent dimension (rows) over training (columns), in nats; log colour scale so that a
    dimension near 0 (collapsed) stands apart from one carrying a few nats."""
    z = np.log10(np.maximum(np.asarray(kl_per_dim, dtype=float), 1e-4))  # (D, T)
    labels = [f"z{d + 1}" for d in range(z.shape[0])]
    fig = heatmap(z, x=list(steps), y=labels, title=title, colorscale="Viridis", zmin=-3, zmax=1,
                  colorbar_title="KL (nats)", xlabel="step", ylabel="latent dimension")
    fig.data[0].colorbar.update(tickvals=[-3, -2, -1, 0, 1], ticktext=["0.001", "0.01", "0.1", "1", "10"])
    fig.data[0].customdata = np.asarray(kl_per_dim, dtype=float)
    fig.data[0].hovertemplate = "%{y} at step %{x}: KL %{customdata:.4f} nats<extra></extra>"
    if threshold is not None:
        fig.add_annotation(text=f"collapsed: KL < {threshold:g} nats (dark)", xref="paper", yref="paper",
                           x=1, y=1.08, showarrow=False, xanchor="right", font={"size": 11})
    return fig


def rate_distortion(trajectories: dict, title: str | None = None, height: int = 420) -> go.Figure:
    """Each run's path in the rate-distortion plane: rate = KL (x), distortion = reconstruction (y), both
    nats per image. ``trajectories`` maps a name to (rates, distortions, steps). Dotted lines are
    constant ELBO (rate + distortion = -ELBO): moving down-left along the path is a better bound."""
    fig = go.Figure()
    all_r, all_d = [], []
    for i, (name, (rate, distortion, steps)) in enumerate(trajectories.items()):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=rate, y=distortion, mode="lines+markers", name=name, customdata=steps,
                                 line={"color": color, "width": 2}, marker={"size": 5},
                                 hovertemplate="step %{customdata}: rate %{x:.3f}, distortion %{y:.2f}<extra></extra>"))
        if len(rate):
            fig.add_trace(go.Scatter(x=[rate[-1]], y=[distortion[-1]], mode="markers", showlegend=False,
                                     marker={"size": 13, "color": color, "symbol": "star"}, hoverinfo="skip"))
        all_r += list(rate)
        all_d += list(distortion)
    if all_r:
        lo, hi = min(np.add(all_r, all_d)), max(np.add(all_r, all_d))
        r_max = max(max(all_r), 0.5) * 1.1
        for total in np.linspace(lo, hi, 4):
            fig.add_trace(go.Scatter(x=[0, r_max], y=[total, total - r_max], mode="lines", showlegend=False,
                                     line={"color": MUTED, "dash": "dot", "width": 1}, hoverinfo="skip"))
        fig.update_xaxes(range=[-0.02 * r_max, r_max])
        fig.update_yaxes(range=[min(all_d) - 1, max(all_d) + 1])
    fig.update_xaxes(title="rate: KL(q(z|x) ‖ p(z)), nats per image")
    fig.update_yaxes(title="distortion: −E log p(x|z), nats per image")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.2})


def kl_bars(kl_per_dim, threshold: float, title: str | None = None, height: int = 240) -> go.Figure:
    """KL of each latent dimension (log scale) with the collapse threshold drawn across."""
    values = np.maximum(np.asarray(kl_per_dim, dtype=float), 1e-5)
    colors = [PALETTE[1] if v < threshold else PALETTE[2] for v in values]
    fig = go.Figure(go.Bar(x=[f"z{d + 1}" for d in range(len(values))], y=values, marker_color=colors,
                           hovertemplate="%{x}: %{y:.4f} nats<extra></extra>"))
    fig.add_hline(y=threshold, line_dash="dot", line_color="#444", annotation_text=f"threshold {threshold:g} nats")
    fig.update_yaxes(type="log", title="KL (nats)", range=[-4, 1.3])  # the same scale for every run
    return _layout(fig, title, height)


def thinned_series(curves: dict) -> dict:
    """name -> (x, y) thinned for drawing (curves of every step grow long)."""
    return {name: thin(x, y) for name, (x, y) in curves.items()}


COLUMN_LABELS = {"elbo": "ELBO", "recon": "reconstruction", "kl": "KL", "active_units": "active units",
                 "mutual_information": "MI"}


def comparison_table(rows: list[dict], winners: dict[str, tuple[str, ...]]):
    """A pandas Styler: one row per run, the winners of each column marked ★ and shaded."""
    frame = pd.DataFrame(rows).set_index("run")
    frame = frame[[c for c in COLUMN_LABELS if c in frame]]
    text = frame.copy().astype(object)
    for column in frame:
        for run in frame.index:
            value = frame.loc[run, column]
            cell = f"{int(value)}" if column == "active_units" else f"{value:.2f}"
            text.loc[run, column] = cell + (" ★" if run in winners.get(column, ()) else "")
    text.columns = [COLUMN_LABELS[c] for c in frame.columns]
    shade = pd.DataFrame("", index=text.index, columns=text.columns)
    for column, runs in winners.items():
        for run in runs:
            if column in COLUMN_LABELS and run in shade.index:
                shade.loc[run, COLUMN_LABELS[column]] = "background-color: rgba(42, 157, 143, 0.25); font-weight: 600"
    return text.style.apply(lambda _: shade, axis=None)
