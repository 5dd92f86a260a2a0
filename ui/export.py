"""Download this page's figures: every figure drawn through ``ui.state.plot`` in the current run, as one
self-contained HTML file (plotly.js embedded once, every chart still interactive offline).

app.py calls ``begin_page(title)`` before a page runs and ``export_button(container)`` after it; ``plot``
calls ``collect``. Figures redrawn by a live-training fragment replace their earlier version (same key),
and the file is built only when the button is clicked, so it holds the latest curves.
"""

from __future__ import annotations

import datetime
import html
import re

import plotly.io as pio
import streamlit as st

_FIGURES, _TITLE = "export::figures", "export::title"


def begin_page(title: str) -> None:
    """Start collecting for a full run of page ``title`` (the previous run's figures are dropped)."""
    st.session_state[_FIGURES] = {}
    st.session_state[_TITLE] = title


def page_title() -> str:
    """The title of the page this run draws (app.py's ``begin_page``), "genlab" outside the app."""
    return st.session_state.get(_TITLE, "genlab")


def collect(fig, key: str | None = None) -> None:
    """Remember ``fig`` for the export; a figure with the same key replaces the earlier one."""
    figures = st.session_state.setdefault(_FIGURES, {})
    figures[key or f"figure-{len(figures) + 1}"] = fig


def figures() -> dict:
    return st.session_state.get(_FIGURES, {})


def page_html(figures: dict, title: str = "genlab") -> str:
    """One HTML document with every figure (plotly.js included once, inline: it opens offline)."""
    parts = []
    for i, (key, fig) in enumerate(figures.items()):
        heading = fig.layout.title.text or key
        chart = pio.to_html(fig, full_html=False, include_plotlyjs=i == 0, default_width="100%",
                            config={"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": key}})
        parts.append(f"<section><h2>{html.escape(heading)}</h2>\n{chart}</section>")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)} — genlab</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "h2{font-size:1.1em;margin-top:2em}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{len(figures)} figures exported from genlab on {stamp}.</p>\n"
            + "\n".join(parts) + "</body></html>\n")


def export_button(container=st) -> None:
    """One download button for the figures this run drew (nothing when the page drew none)."""
    collected, title = figures(), page_title()
    if not collected:
        return
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "page"
    container.download_button(f"Download this page's figures ({len(collected)}, HTML)",
                              data=lambda: page_html(collected, title), file_name=f"genlab-{slug}.html",
                              mime="text/html", on_click="ignore", icon=":material/download:", key="export-figures",
                              help="Every chart on this page in one HTML file that opens offline, still interactive.")
