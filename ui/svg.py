"""A figure of curves drawn as inline SVG, for a first paint that must not wait for plotly.js. No streamlit here.

Chromium takes about two seconds on a 2-core machine to load and run plotly.js (4.7 MB) before the first
plotly chart of a visit appears; the home page's one small figure, three β schedules, paid all of it on a
cold start (title at ~2 s, figure at ~4 s). ``line_svg`` draws the same ``go.Figure`` (the one
``ui.figures.line_chart`` builds, so the chart's numbers and the page's export stay plotly's) as a few
hundred bytes of SVG that the browser draws with the page's text. Only what a line chart holds is read:
scatter traces drawn as lines (colour, width, dash, name), the title, the axes' titles and a linear y axis.
Text is ``currentColor``, so the figure follows the light or dark theme.
"""

from __future__ import annotations

import html
import math

import numpy as np

WIDTH = 520  # the drawing's own units; the SVG is scaled to its column's width
DASHES = {"solid": None, "dash": "6 4", "dot": "2 3", "dashdot": "6 3 2 3"}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) that span [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        raise ValueError(f"an axis needs finite limits, not [{low}, {high}]")
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else round(t, 12) for t in ticks]


def line_svg(fig, font_size: int = 12, height: int | None = None) -> str:
    """``fig``'s line traces as one SVG element (a single line of text, safe inside Markdown)."""
    traces = [t for t in fig.data if t.type == "scatter" and t.x is not None and len(t.x)]
    if not traces:
        raise ValueError("line_svg draws line charts: this figure has no scatter trace with points")
    height = int(height or fig.layout.height or 280)
    title = fig.layout.title.text or ""
    xlabel, ylabel = fig.layout.xaxis.title.text or "", fig.layout.yaxis.title.text or ""
    xs = [np.asarray(t.x, dtype=float) for t in traces]
    ys = [np.asarray(t.y, dtype=float) for t in traces]
    x_lo, x_hi = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    y_lo, y_hi = min(float(np.nanmin(y)) for y in ys), max(float(np.nanmax(y)) for y in ys)
    pad = (y_hi - y_lo) * 0.05 or 0.5
    y_lo, y_hi = y_lo - pad, y_hi + pad
    left, right = 4.5 * font_size, 16
    rows = _legend_rows([t.name or "" for t in traces], font_size, left, WIDTH - right) if len(traces) > 1 else []
    top = 2.6 * font_size if title else font_size
    bottom = (2.6 + 1.6 * len(rows)) * font_size + (font_size * 1.2 if xlabel else 0)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def px(x):
        return left + (np.asarray(x) - x_lo) / ((x_hi - x_lo) or 1.0) * plot_w

    def py(y):
        return top + (y_hi - np.asarray(y)) / (y_hi - y_lo) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
           f'aria-label="{html.escape(title or "line chart")}" font-size="{font_size}" fill="currentColor" '
           'style="max-width: 100%; height: auto; font-family: inherit">']
    if title:
        out.append(f'<text x="{left - 3.5 * font_size:.1f}" y="{1.4 * font_size:.1f}" font-size="{font_size + 3}">'
                   f"{html.escape(title)}</text>")
    grid = 'stroke="currentColor" stroke-opacity="0.15"'
    for t in nice_ticks(y_lo, y_hi):
        y = py(t)
        out.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" {grid}/>')
        out.append(f'<text x="{left - 6:.1f}" y="{y + font_size / 3:.1f}" text-anchor="end" fill-opacity="0.8">'
                   f"{t:g}</text>")
    for t in nice_ticks(x_lo, x_hi):
        x = px(t)
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 1.3 * font_size:.1f}" text-anchor="middle" '
                   f'fill-opacity="0.8">{t:g}</text>')
    out.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" y2="{top + plot_h:.1f}" '
               'stroke="currentColor" stroke-opacity="0.5"/>')
    if xlabel:
        out.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 2.6 * font_size:.1f}" '
                   f'text-anchor="middle">{html.escape(xlabel)}</text>')
    if ylabel:
        cy = top + plot_h / 2
        out.append(f'<text x="{font_size:.1f}" y="{cy:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 {font_size:.1f} {cy:.1f})">{html.escape(ylabel)}</text>')
    for trace, x, y in zip(traces, xs, ys, strict=True):
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(x), py(y), strict=True))
        line = trace.line
        dash = DASHES.get(line.dash or "solid")
        out.append(f'<polyline points="{points}" fill="none" stroke="{line.color or "currentColor"}" '
                   f'stroke-width="{line.width or 2}" stroke-linejoin="round"'
                   + (f' stroke-dasharray="{dash}"' if dash else "")
                   + f"><title>{html.escape(trace.name or '')}</title></polyline>")
    for r, row in enumerate(rows):
        y = height - (len(rows) - r - 0.5) * 1.6 * font_size
        for i, x in row:
            trace, mid = traces[i], y - font_size / 3
            out.append(f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
                       f'stroke="{trace.line.color or "currentColor"}" stroke-width="{trace.line.width or 2}"/>')
            out.append(f'<text x="{x + 27:.1f}" y="{y:.1f}">{html.escape(trace.name or "")}</text>')
    out.append("</svg>")
    return "".join(out)


def _legend_rows(names: list[str], font_size: int, left: float, right: float) -> list[list[tuple[int, float]]]:
    """The legend's entries (trace index, left edge) in rows between ``left`` and ``right`` (text about
    0.58 em a character)."""
    rows: list[list[tuple[int, float]]] = [[]]
    x = left
    for i, name in enumerate(names):
        size = 27 + 0.58 * font_size * len(name)
        if rows[-1] and x + size > right:
            rows.append([])
            x = left
        rows[-1].append((i, x))
        x += size + 16
    return rows
