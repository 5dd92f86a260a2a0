"""A tour in the app, and embedding: ``?tour=<name>&stop=<n>`` on any page, ``?embed=true``, ``?hide=a,b``.

``begin(page, pages)`` runs in app.py before the page: it opens the stop the URL names (switching to its
page with its settings when the lecturer arrives or presses Next / Back / ← / →), outlines the stop's
highlighted element, and draws the narration panel at the top of the sidebar (lecture mode enlarges it).
A stop's settings are applied when the stop is entered (``ui.state.seed_settings``: read as a link's
values are, within each widget's limits); afterwards the lecturer may move any control.
A bad tour or stop number gets a sentence, never an exception. ``embed`` and ``hide`` are CSS only: the
values a link carries are still held to each widget's limits.
"""

from __future__ import annotations

import json
import re

import streamlit as st

from ui import palette, tours
from ui.inplace import class_name
from ui.state import seed_settings

HIGHLIGHT = palette.HIGHLIGHT
EMBED_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
[data-testid="stMainBlockContainer"] {padding-top: 1rem !important;}
</style>"""
_KEYS_JS = """<script>
(() => {
  const w = window, doc = document;
  if (w.genlabTourKeys) return;
  w.genlabTourKeys = true;
  doc.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    if (t && t.closest && t.closest('[role="slider"]')) return;
    const name = e.key === "ArrowRight" ? "tour-next" : e.key === "ArrowLeft" ? "tour-back" : null;
    const b = name && [...doc.querySelectorAll(`.st-key-${name} button`)].find((x) => x.offsetParent !== null);
    if (!b || b.disabled) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    b.click();
  }, true);
})();
</script>"""
_SCROLL_JS = """<script>
(() => {  // stop __STOP__
  const selector = __SELECTOR__;
  let tries = 0;
  const timer = setInterval(() => {
    const e = [...document.querySelectorAll(selector)].find((x) => x.offsetParent !== null);
    if (e) { e.scrollIntoView({behavior: "smooth", block: "center"}); clearInterval(timer); }
    if (++tries > 40) clearInterval(timer);
  }, 200);
})();
</script>"""
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _raw_query() -> dict:
    """The link's query parameters as the browser sent them: Streamlit keeps ``embed`` out of
    ``st.query_params`` (it reads it itself: its own embed mode drops the toolbar, not the sidebar)."""
    from urllib.parse import parse_qs

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return {k: v[-1] for k, v in parse_qs(getattr(ctx, "query_string", "") or "").items()} if ctx else {}


def embedded() -> bool:
    return _flag(_raw_query().get("embed", ""))


def embedding() -> None:
    """``?embed=true`` hides the sidebar and the app's chrome; ``?hide=a,b`` hides the elements with those keys."""
    qp = st.query_params
    if embedded():
        st.html(EMBED_CSS)
    hidden = [k.strip() for k in qp.get("hide", "").split(",") if _KEY.match(k.strip())]
    if hidden:
        selectors = ", ".join(f".{class_name(k)}" for k in hidden)
        st.html(f"<style>{selectors} {{display: none !important;}}</style>")


def _carry() -> dict:
    """The URL flags a tour keeps from stop to stop (embedding, lecture mode)."""
    carried = {k: st.query_params[k] for k in ("hide", "lecture") if k in st.query_params}
    return {**carried, "embed": "true"} if embedded() else carried


def _go(tour: tours.Tour, n: int, pages: dict, here: str) -> None:
    """Move to stop ``n``: its page (the stop's settings are applied when the next run enters it)."""
    stop = tour.stops[n - 1]
    if stop.page == here:
        st.query_params["stop"] = str(n)
        st.rerun()
    st.switch_page(pages[stop.page], query_params={**_carry(), "tour": tour.name, "stop": str(n)})


def finish() -> None:
    """After the page ran on entering a stop: run it once more with each seeded setting assigned by code, so
    the browser's widgets show the values the server now holds (a value seeded from the URL alone updates
    the server's state, not a widget the browser already drew)."""
    keys = st.session_state.pop("tour-resync", None)
    if keys:
        st.session_state["tour-resync-values"] = {k: st.session_state[k] for k in keys if k in st.session_state}
        st.rerun()


def _resync() -> None:
    for key, value in st.session_state.pop("tour-resync-values", {}).items():
        st.session_state[key] = value


def begin(url_path: str, pages: dict) -> tours.Stop | None:
    """Run the tour the URL names on the page at ``url_path`` (``pages``: url path -> st.Page); the stop, or None."""
    embedding()
    _resync()
    qp = st.query_params
    if "tour" not in qp:
        return None
    try:
        tour = tours.load(qp["tour"])
        n = tours.stop_number(qp.get("stop", "1"), tour)
    except tours.TourError as e:
        st.error(f"This link's tour cannot be shown: {e}", icon=":material/tour:")
        return None
    stop = tour.stops[n - 1]
    here = url_path or ""
    if here != stop.page:  # a link to a stop opened on another page (or a page changed by hand)
        _go(tour, n, pages, here)
    if st.session_state.get("tour-at") != (tour.name, n):  # entering the stop: its view, its training
        st.session_state["tour-at"] = (tour.name, n)
        st.session_state["tour-revealed"] = False
        st.session_state["tour-scroll"] = True
        facts = tours.page_facts()[stop.page]
        present = {k for k in [*st.session_state.keys(), *st.query_params.keys()] if isinstance(k, str)}
        reset = {k for k in present if facts.binds(k)}  # the page's settings, back to their defaults
        if seed_settings(stop.settings, reset=reset):
            st.session_state["tour-resync"] = reset | set(stop.settings)
        if stop.train and facts.live:
            st.session_state[f"tour-train::{facts.live}"] = True
    if stop.highlight:
        st.html(f"<style>.{class_name(stop.highlight)} {{outline: 3px solid {HIGHLIGHT}; outline-offset: 6px; "
                "border-radius: 8px;}</style>")
        if st.session_state.pop("tour-scroll", False):  # entering the stop: bring its element into view
            script = _SCROLL_JS.replace("__SELECTOR__", json.dumps("." + class_name(stop.highlight)))
            st.html(script.replace("__STOP__", str(n)), unsafe_allow_javascript=True)
    _panel(tour, n, pages)
    return stop


def _panel(tour: tours.Tour, n: int, pages: dict) -> None:
    stop = tour.stops[n - 1]
    revealed = st.session_state.get("tour-revealed", False)
    with st.sidebar.container(border=True, key="tour-panel"):
        st.caption(f"Tour · {tour.title} · stop {n} of {len(tour.stops)}")
        st.subheader(stop.title)
        st.markdown(stop.narration)
        if stop.question:
            st.info(f"**Predict:** {stop.question}", icon=":material/help:")
            if revealed:
                st.success(f"**Answer:** {stop.answer}", icon=":material/check_circle:")
        back, forward = st.columns(2)
        go_back = back.button("Back", key="tour-back", disabled=n == 1, icon=":material/arrow_back:",
                              width="stretch")
        label = "Reveal" if stop.question and not revealed else ("Next" if n < len(tour.stops) else "End")
        go_next = forward.button(label, key="tour-next", type="primary", icon=":material/arrow_forward:",
                                 width="stretch")
        st.caption("Keys: ← / → move between stops.")
    st.html(_KEYS_JS, unsafe_allow_javascript=True)
    if go_back:
        _go(tour, n - 1, pages, stop.page)
    if go_next:
        if stop.question and not revealed:
            st.session_state["tour-revealed"] = True
            st.rerun()
        elif n < len(tour.stops):
            _go(tour, n + 1, pages, stop.page)
        else:
            st.toast(f"End of the tour “{tour.title}”.", icon=":material/flag:")


def save_stop_button(page_title: str, url_path: str, settings: dict) -> None:
    """In the share box: add this view to a tour being written in the session, and download it as .toml."""
    draft = st.session_state.setdefault("tour-draft", [])
    if st.button("Save this view as a stop", key="tour-save-stop", icon=":material/add_location:"):
        draft.append({"title": page_title, "page": url_path or "",
                      "settings": {k: v[0] if isinstance(v, list) and len(v) == 1 else v
                                   for k, v in settings.items() if k not in tours.TOUR_KEYS},
                      "narration": "What to say at this stop (Markdown, $LaTeX$)."})
    if draft:
        st.download_button(f"Download the tour ({len(draft)} stop{'s' if len(draft) > 1 else ''}, .toml)",
                           tours.to_toml("My tour", draft), file_name="my-tour.toml", mime="application/toml",
                           key="tour-download", icon=":material/download:")
        st.caption("Put it in `lectures/`, write the narration, and open it with `?tour=my-tour`.")

