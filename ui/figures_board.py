"""Figures and tables of the class board: the room's posted runs. No streamlit here.

Each post is a ``classroom.Post`` (author, page, settings, seed, metrics). The board shows them on the
rate–distortion plane (KL against reconstruction, the two terms of the negative ELBO: Alemi et al. 2018,
"Fixing a Broken ELBO", Fig. 1), one setting against a metric, a table, and two posts side by side.
Authors are the students' own words: every text that plotly renders as markup is escaped here.
"""

from __future__ import annotations

import html
import math

import numpy as np

from ui.figures import _figure
from ui.palette import CATEGORICAL, MUTED, VERMILLION

METRICS = {"elbo": "ELBO", "recon": "recon", "kl": "KL", "active_units": "active units",
           "mutual_information": "MI", "steps": "steps"}  # metric key -> column title (nats per example)
PICKED = VERMILLION  # the two posts compared side by side


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def label(post) -> str:
    """How a post is named in pickers and tables: '#12 Ada (ELBO & β)'."""
    return f"#{post.id} {post.author} ({post.page})"


def _hover(post) -> str:
    """Who posted a point (the axes' values come from the hover template): the board sends this for every
    post to every session at each redraw, so it stays short."""
    return f"<b>{html.escape(post.author)}</b> · {html.escape(post.page)} · seed {post.seed}"


def rate_distortion(posts, *, mine: set[int] = frozenset(), picked: tuple[int, ...] = (), height: int = 380):
    """KL (rate) against reconstruction (distortion), nats per example, one point per post, one colour per
    page; dotted lines of equal ELBO (recon + KL = c). Own posts are diamonds, the compared pair ringed."""
    pages = list(dict.fromkeys(p.page for p in posts))
    traces = []
    usable = [p for p in posts if _number(p.metrics.get("kl")) is not None
              and _number(p.metrics.get("recon")) is not None]
    for i, page in enumerate(pages):
        group = [p for p in usable if p.page == page]
        if not group:
            continue
        traces.append({"type": "scatter", "mode": "markers", "name": html.escape(page),
                       "x": [p.metrics["kl"] for p in group], "y": [p.metrics["recon"] for p in group],
                       "text": [_hover(p) for p in group],
                       "hovertemplate": "%{text}<br>KL %{x:.2f}, recon %{y:.2f} nats<extra></extra>",
                       "marker": {"size": 11, "color": CATEGORICAL[i % len(CATEGORICAL)],
                                  "symbol": ["diamond" if p.id in mine else "circle" for p in group],
                                  "line": {"width": [3 if p.id in picked else 0.5 for p in group],
                                           "color": [PICKED if p.id in picked else "white" for p in group]}}})
    shapes = []
    if usable:
        totals = [p.metrics["kl"] + p.metrics["recon"] for p in usable]
        for c in np.unique(np.round(np.quantile(totals, [0.0, 0.5, 1.0]), 1)):
            shapes.append({"type": "line", "x0": 0, "y0": c, "x1": c, "y1": 0,
                           "line": {"color": MUTED, "dash": "dot", "width": 1}, "layer": "below"})
    return _figure(traces, "The class on the rate–distortion plane", height, shapes=shapes,
                   xaxis={"title": {"text": "rate: KL (nats)"}, "rangemode": "tozero"},
                   yaxis={"title": {"text": "distortion: reconstruction (nats)"}, "rangemode": "tozero"},
                   legend={"orientation": "h", "y": -0.2}, hovermode="closest")


def setting_values(posts) -> dict[str, list]:
    """Setting name -> its value in each post, for the settings that at least two posts carry."""
    names = [name for name in dict.fromkeys(k for p in posts for k in p.settings)
             if sum(name in p.settings for p in posts) >= 2]
    return {name: [p.settings.get(name) for p in posts] for name in names}


def against(posts, setting: str, metric: str = "elbo", *, height: int = 340):
    """``metric`` against one setting: numbers on a numeric axis, anything else (a schedule's name) as
    categories in the order first posted."""
    rows = [(p, p.settings.get(setting), _number(p.metrics.get(metric))) for p in posts]
    rows = [(p, s, m) for p, s, m in rows if s is not None and m is not None]
    numeric = all(_number(s) is not None and not isinstance(s, bool) for _, s, _ in rows)
    xs = [float(s) if numeric else html.escape(str(s)) for _, s, _ in rows]
    trace = {"type": "scatter", "mode": "markers", "x": xs, "y": [m for _, _, m in rows],
             "text": [_hover(p) for p, _, _ in rows],
             "hovertemplate": f"%{{text}}<br>{html.escape(setting)} %{{x}}, {METRICS.get(metric, metric)} %{{y:.2f}}"
                              "<extra></extra>",
             "marker": {"size": 11, "color": CATEGORICAL[0], "opacity": 0.85}}
    xaxis = {"title": {"text": html.escape(setting)}}
    if not numeric:
        xaxis["type"] = "category"
    return _figure([trace], f"{METRICS.get(metric, metric)} against {html.escape(setting)}", height,
                   xaxis=xaxis, yaxis={"title": {"text": f"{METRICS.get(metric, metric)} (nats)"}},
                   hovermode="closest")


def _short(settings: dict, limit: int = 60) -> str:
    text = ", ".join(f"{k}={v}" for k, v in settings.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(posts, *, lecturer: bool = False):
    """One row per post: who, where, the metrics (nats per example), the settings in short."""
    import pandas as pd

    rows = []
    for p in posts:
        row = {"#": p.id, "name": p.author, "page": p.page, "seed": p.seed}
        row.update({title: _number(p.metrics.get(key)) for key, title in METRICS.items()})
        row["settings"] = _short(p.settings)
        row["posted"] = p.created.strftime("%H:%M:%S")
        if lecturer:
            row["hidden"] = p.hidden
        rows.append(row)
    columns = ["#", "name", "page", "seed", *METRICS.values(), "settings", "posted"] + (["hidden"] if lecturer else [])
    return pd.DataFrame(rows, columns=columns)


def side_by_side(a, b):
    """Two posts as columns: their settings, seed and metrics as rows, with the rows where they differ
    marked (the settings a student changed, and what it did)."""
    import pandas as pd

    rows = [("page", a.page, b.page), ("seed", a.seed, b.seed)]
    for name in dict.fromkeys([*a.settings, *b.settings]):
        rows.append((name, a.settings.get(name, "—"), b.settings.get(name, "—")))
    for key, title in METRICS.items():
        rows.append((title, _number(a.metrics.get(key)), _number(b.metrics.get(key))))
    frame = pd.DataFrame([(name, _cell(x), _cell(y), "≠" if _cell(x) != _cell(y) else "") for name, x, y in rows],
                         columns=["", label(a), label(b), "differs"])
    return frame.set_index("")


def _cell(value) -> str:
    """A setting or metric as a table shows it (one text column: settings mix numbers and names)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)
