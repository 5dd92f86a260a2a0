"""Load the browser's code for charts, widgets and math while a visitor reads a page that needs none of it.

Streamlit's frontend loads a module the first time a page of the visit needs it: its plotly chart module
(PlotlyChart.<hash>.js, 4.7 MB with plotly.js) for the first plotly chart, then the code of each kind of widget,
of KaTeX for the first formula, of the table for the first dataframe (about 1.5 MB with Arrow's), of the syntax
highlighter for the first code block (1.6 MB). Chromium takes about two seconds on 2 cores to fetch and run
plotly's; the ELBO page, the first to meet the widgets and the math, ran 0.9-1.5 s of JavaScript on its first
visit with them still to load, 0.5-0.6 s with them loaded (bench/NOTES.md). The home page draws its
one figure as SVG (``ui.svg``) so that its first paint waits for none of them, and hands the wait to the
visitor's idle time instead: a small script imports the same modules, by the same URLs, one after another,
each once the browser is idle (``requestIdleCallback``, at most 1.5 s later), so the pages clicked next find
them loaded. The modules' file names are read from the installed Streamlit; one not found (a Streamlit that
names its files otherwise) is left out, and the first page that needs it loads it as before.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

IDLE_TIMEOUT_MS = 1500  # import by then even if the browser never goes idle
# In the order a visit needs them: plotly.js for every chart page, the widgets and the math of the ELBO page
# (the first card on home), then what only some pages draw: the annealing lab's table, Tours' code block.
MODULES = ("PlotlyChart", "Slider", "Selectbox", "NumberInput", "Radio", "Metric", "rehype-katex", "Multiselect",
           "TextInput", "DataFrame", "StreamlitSyntaxHighlighter")


def _static_js() -> Path:
    import streamlit

    return Path(streamlit.__file__).parent / "static" / "static" / "js"


def find_module(stem: str) -> str | None:
    """The file name of Streamlit's module ``stem`` (``stem.<hash>.js``), or None where this Streamlit has none."""
    found = sorted(_static_js().glob(f"{stem}.*.js"))
    return found[0].name if len(found) == 1 else None


@functools.cache
def modules() -> tuple[str, ...]:
    """The file names of ``MODULES`` that this Streamlit has, in their order."""
    return tuple(name for name in map(find_module, MODULES) if name is not None)


def script(names: tuple[str, ...]) -> str:
    """The HTML that imports ``names`` (files beside Streamlit's own index script), one at a time, each when
    the browser is idle."""
    return ("<script>(function () {"
            "const main = document.querySelector('script[type=\"module\"][src*=\"/static/js/index.\"]');"
            "if (!main || window.__genlabPrefetched) return; window.__genlabPrefetched = true;"
            f"const urls = {json.dumps(list(names))}.map((name) => new URL(name, main.src).href);"
            "const idle = () => new Promise((done) => window.requestIdleCallback"
            f" ? requestIdleCallback(done, {{timeout: {IDLE_TIMEOUT_MS}}}) : setTimeout(done, 200));"
            "(async () => { for (const url of urls) { await idle(); await import(url).catch(() => {}); } })();"
            "})();</script>")


def prefetch_modules() -> None:
    """Have the browser load plotly.js and the other modules in its idle time (call at the end of a page that
    needs none of them)."""
    import streamlit as st

    names = modules()
    if names:
        st.html(script(names), unsafe_allow_javascript=True)
