"""Load plotly.js in the browser while a visitor reads a page that draws no plotly chart.

Streamlit's frontend loads its plotly chart module (PlotlyChart.<hash>.js, 4.7 MB with plotly.js) the first
time a page of the visit draws a plotly chart; Chromium takes about two seconds on 2 cores to fetch and run
it. The home page draws its one figure as SVG (``ui.svg``) so that its first paint does not wait for that,
and hands the wait to the visitor's idle time instead: a small script imports the same module, by the same
URL, once the browser is idle (``requestIdleCallback``, at most 1.5 s later), so the first chart page finds
it loaded. The module's file name is read from the installed Streamlit; where it is not found (a Streamlit
that names its files otherwise) nothing is sent and the first chart page loads it as before.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

IDLE_TIMEOUT_MS = 1500  # import by then even if the browser never goes idle


@functools.cache
def plotly_module() -> str | None:
    """The file name of Streamlit's plotly chart module, or None where this Streamlit has none."""
    import streamlit

    found = sorted((Path(streamlit.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None


def script(module: str) -> str:
    """The HTML that imports ``module`` (a file beside Streamlit's own index script) when the browser is idle."""
    return ("<script>(function () {"
            "const main = document.querySelector('script[type=\"module\"][src*=\"/static/js/index.\"]');"
            "if (!main || window.__genlabPrefetched) return; window.__genlabPrefetched = true;"
            f"const url = new URL({json.dumps(module)}, main.src).href;"
            "const load = () => import(url).catch(() => {});"
            f"if (window.requestIdleCallback) requestIdleCallback(load, {{timeout: {IDLE_TIMEOUT_MS}}});"
            "else setTimeout(load, 200);"
            "})();</script>")


def prefetch_charts() -> None:
    """Have the browser load plotly.js in its idle time (call at the end of a page that draws no plotly chart)."""
    import streamlit as st

    module = plotly_module()
    if module is not None:
        st.html(script(module), unsafe_allow_javascript=True)
