"""Figures of the Inference lab and of ELBO surgery: arrays in, ``go.Figure`` out. No streamlit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.figures import PALETTE, _layout
from ui.figures_objectives import _codes
from ui.palette import BLACK, PRIOR

Q_COLOURS = {"q(z|x), the encoder's": PALETTE[1], "q*, the best Gaussian": PALETTE[2]}


def ellipse(mu, logvar, radius: float = 2.0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """The points of a diagonal Gaussian's ``radius``-σ ellipse in 2-D."""
    t = np.linspace(0, 2 * np.pi, n)
    sd = np.exp(0.5 * np.asarray(logvar, dtype=float))
    return mu[0] + radius * sd[0] * np.cos(t), mu[1] + radius * sd[1] * np.sin(t)


def _ellipses(fig: go.Figure, qs: dict) -> None:
    """``qs``: name -> (mu (2,), logvar (2,)); each drawn at 1σ and 2σ with its mean marked."""
    for i, (name, (mu, logvar)) in enumerate(qs.items()):
        colour = Q_COLOURS.get(name, PALETTE[(i + 3) % len(PALETTE)])
        for radius, dash in ((1.0, "solid"), (2.0, "dot")):
            ex, ey = ellipse(mu, logvar, radius)
            fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", name=name, legendgroup=name,
                                     showlegend=radius == 1.0, line={"color": colour, "width": 2, "dash": dash},
                                     hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[mu[0]], y=[mu[1]], mode="markers", legendgroup=name, showlegend=False,
                                 marker={"color": colour, "size": 8, "symbol": "x"},
                                 hovertemplate=f"{name}: mean (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))


def latent_overview(codes, labels, qs: dict, box=None, title: str | None = None, height: int = 380,
                    limit: float = 4.0) -> go.Figure:
    """The test set's codes (posterior means, by digit), the prior's 1σ and 2σ circles, each q's ellipse,
    and the box on which the true posterior is integrated (``box`` = ((lo1, hi1), (lo2, hi2)))."""
    fig = go.Figure()
    _codes(fig, codes, labels)
    for trace in fig.data:
        trace.marker.opacity = 0.35
        trace.showlegend = False
    for radius in (1.0, 2.0):
        ex, ey = ellipse(np.zeros(2), np.zeros(2), radius)
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", name="p(z) = N(0, I), 1σ and 2σ", showlegend=radius == 1,
                                 legendgroup="prior", line={"color": PRIOR, "width": 1.5}, hoverinfo="skip"))
    _ellipses(fig, qs)
    if box is not None:
        (x0, x1), (y0, y1) = box
        fig.add_trace(go.Scatter(x=[x0, x1, x1, x0, x0], y=[y0, y0, y1, y1, y0], mode="lines",
                                 name="the grid's box", line={"color": BLACK, "width": 1, "dash": "dash"},
                                 hoverinfo="skip"))
    fig.update_xaxes(range=[-limit, limit], title="z₁", constrain="domain")
    fig.update_yaxes(range=[-limit, limit], title="z₂", scaleanchor="x", constrain="domain")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.2})


def posterior_heatmap(axes, log_density, qs: dict, title: str | None = None, height: int = 380,
                      span: float = 12.0) -> go.Figure:
    """The true posterior p(z | x) on its grid (``axes`` (2, n), ``log_density`` (n, n), rows along z₂) as a
    heatmap of log p(z | x) over the ``span`` nats below its peak (so a small second mode shows beside a sharp
    first one), with each q's ellipse on top."""
    log_density = np.asarray(log_density, dtype=float)
    top = float(log_density.max())
    fig = go.Figure(go.Heatmap(x=axes[0], y=axes[1], z=np.maximum(log_density, top - span), colorscale="Blues",
                               zmin=top - span, zmax=top, showscale=True,
                               colorbar={"title": {"text": "log p(z|x)"}},
                               hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>log p(z|x) = %{z:.2f}<extra></extra>"))
    _ellipses(fig, qs)
    fig.update_xaxes(range=[float(axes[0][0]), float(axes[0][-1])], title="z₁", constrain="domain")
    fig.update_yaxes(range=[float(axes[1][0]), float(axes[1][-1])], title="z₂", scaleanchor="x", constrain="domain")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.2})


def iwae_curve(ks, mean, stderr, lines: dict, title: str | None = None, height: int = 340,
               unit: str = "nats per image") -> go.Figure:
    """The IWAE bound against K (log axis) with ±2 standard errors, and horizontal reference ``lines``:
    name -> value (log p(x), the encoder's ELBO, ...)."""
    ks, mean, stderr = np.asarray(ks), np.asarray(mean, dtype=float), np.asarray(stderr, dtype=float)
    fig = go.Figure(go.Scatter(x=ks, y=mean, mode="lines+markers", name="IWAE bound, K samples",
                               line={"color": PALETTE[0], "width": 2},
                               error_y={"type": "data", "array": 2 * stderr, "visible": True},
                               hovertemplate="K = %{x}<br>%{y:.3f} nats<extra></extra>"))
    for i, (name, value) in enumerate(lines.items()):
        fig.add_trace(go.Scatter(x=[ks.min(), ks.max()], y=[value, value], mode="lines", name=f"{name}: {value:.2f}",
                                 line={"color": PALETTE[(i + 1) % len(PALETTE)], "dash": "dash", "width": 1.5}))
    fig.update_xaxes(type="log", title="K (importance samples)")
    fig.update_yaxes(title=unit)
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.3})


def gap_bars(approximation: float, amortisation: float, title: str | None = None, height: int = 200) -> go.Figure:
    """log p(x) - ELBO as one stacked bar: the approximation gap and the amortisation gap (nats)."""
    fig = go.Figure()
    for name, value, colour in (("approximation gap: log p(x) − ELBO(q*)", approximation, PALETTE[2]),
                                ("amortisation gap: ELBO(q*) − ELBO(q)", amortisation, PALETTE[1])):
        fig.add_trace(go.Bar(x=[value], y=["log p(x) − ELBO"], orientation="h", name=f"{name} = {value:.3f}",
                             marker={"color": colour}, hovertemplate=f"{name}: %{{x:.3f}} nats<extra></extra>"))
    fig.update_xaxes(title="nats")
    return _layout(fig, title, height, barmode="stack", legend={"orientation": "h", "y": -0.6})


def posterior_bars(mu, logvar, title: str | None = None, height: int = 300) -> go.Figure:
    """q(z | x) per dimension (larger latents): its mean with ±2σ, over the prior's ±2."""
    mu, sd = np.asarray(mu, dtype=float), np.exp(0.5 * np.asarray(logvar, dtype=float))
    names = [f"z{d + 1}" for d in range(len(mu))]
    fig = go.Figure(go.Bar(x=names, y=[4.0] * len(mu), base=[-2.0] * len(mu), name="p(z): ±2",
                           marker={"color": "rgba(122,122,122,0.25)"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=names, y=mu, mode="markers", name="q(z|x): mean ± 2σ",
                             marker={"color": PALETTE[1], "size": 9},
                             error_y={"type": "data", "array": 2 * sd, "visible": True}))
    fig.update_yaxes(title="z_d")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.25})


SURGERY_PARTS = (("mutual_information", "I(x; z)"), ("marginal_kl", "KL(q(z) ‖ p(z))"))


def surgery_curves(steps, parts: dict, title: str | None = None, height: int = 300) -> go.Figure:
    """ELBO surgery over training: I(x; z) and KL(q(z) ‖ p(z)) stacked (their sum is the average KL), and
    the total correlation of q(z) as a line. ``parts``: key -> values at ``steps``."""
    fig = go.Figure()
    for i, (key, name) in enumerate(SURGERY_PARTS):
        fig.add_trace(go.Scatter(x=steps, y=parts[key], mode="lines+markers", name=name, stackgroup="kl",
                                 line={"color": PALETTE[i]}))
    fig.add_trace(go.Scatter(x=steps, y=parts["kl"], mode="lines", name="KL (their sum)",
                             line={"color": BLACK, "dash": "dot", "width": 1}))
    fig.add_trace(go.Scatter(x=steps, y=parts["total_correlation"], mode="lines+markers",
                             name="total correlation of q(z)", line={"color": PALETTE[3], "dash": "dash"}))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="nats per example")
    return _layout(fig, title, height, legend={"orientation": "h", "y": -0.3})


def surgery_bars(results: dict, title: str | None = None, height: int = 300) -> go.Figure:
    """ELBO surgery of several models at one point: name -> kl_decomposition's dict, as stacked bars."""
    names = list(results)
    fig = go.Figure()
    for i, (key, label) in enumerate(SURGERY_PARTS):
        fig.add_trace(go.Bar(x=names, y=[results[n][key] for n in names], name=label, marker={"color": PALETTE[i]}))
    fig.add_trace(go.Scatter(x=names, y=[results[n]["total_correlation"] for n in names], mode="markers",
                             name="total correlation of q(z)", marker={"color": PALETTE[3], "size": 10,
                                                                       "symbol": "diamond"}))
    fig.update_yaxes(title="nats per example")
    return _layout(fig, title, height, barmode="relative", legend={"orientation": "h", "y": -0.3})
