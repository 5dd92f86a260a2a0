"""genlab: explore generative models in the browser. Run with `streamlit run app.py`."""

from ui.coldstart import serial

with serial(first_run_of="app.py's imports"):  # a fresh server's first sessions import one at a time (ui/coldstart.py)
    # pandas before anything draws: plotly reads it from sys.modules without importing it, so a session that
    # draws a chart while another imports pandas meets a half-made module ("no attribute 'Series'").
    import pandas  # noqa: F401
    import streamlit as st

    from ui import board, export, tour_panel
    from ui.pages import catalogue
    from ui.state import (
        asked_settings,
        device_select,
        lecture_mode,
        preload,
        sanitize_url,
        share_query,
        share_url,
        url_notes,
        words,
    )

LECTURE_CSS = """<style>
.stMarkdown p, .stMarkdown li, [data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
[data-testid="stAlertContentInfo"] p {font-size: 1.3rem !important; line-height: 1.5 !important;}
h1 {font-size: 3.2rem !important;} h2 {font-size: 2.3rem !important;} h3 {font-size: 1.9rem !important;}
[data-testid="stMetricValue"] {font-size: 2.8rem !important;}
[data-testid="stMetricLabel"] p {font-size: 1.2rem !important;}
.katex {font-size: 1.2em !important;}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {color: inherit !important;
  opacity: 0.95 !important;}
.stMarkdown p, .stMarkdown li {font-weight: 500;}
button[kind="primary"], button[kind="secondary"] {border-width: 2px !important;}
</style>"""

st.set_page_config(page_title="genlab", page_icon=":material/science:", layout="wide")
# A page's first run in this process, the app's shell around it included, takes the import turn (ui/coldstart.py):
# the shell's widgets import what they need (pandas, for one) on their first use too.
with serial(first_run_of="the app's shell"):
    dropped = sanitize_url()  # before any widget reads the URL: a value no number can hold is dropped
    asked = asked_settings()  # what the link asks for, to tell what the page could not take

    infos = catalogue()
    pages = [st.Page(str(p.path), title=p.title, url_path=None if p.is_home else p.url_path, default=p.is_home)
             for p in infos]
    page = st.navigation(pages)
    paths = ["" if info.is_home else info.url_path for info in infos]
    by_path = dict(zip(paths, pages, strict=True))
    script = str(infos[paths.index(page.url_path)].path)  # the page's file

with serial(first_run_of=page.url_path, script=script):
    with st.sidebar:
        st.toggle("Lecture mode", key="lecture", bind="query-params",
                  help="Bigger type and figures, high contrast, advanced controls folded away, fewer words: for a "
                       "projector.")
        st.toggle("Chart numbers", key="numbers", bind="query-params",
                  help="Under every chart, the numbers it draws as a table (a text alternative to the figure).")

    if lecture_mode():
        st.html(LECTURE_CSS)

    export.begin_page(page.title)
    board.from_link()  # ?class=CODE on any page joins that class
    tour_panel.begin(page.url_path, by_path)  # ?tour=<name>&stop=<n>: the stop's page, settings and narration
    page.run()
    tour_panel.finish()  # a stop just entered: once more, so the browser's controls show its settings
    preload()  # torch, in the background, for the next page (the home page itself does not need it)

    with st.sidebar:
        st.divider()
        board.sidebar_badge(st)
        notes = dropped + url_notes(asked)
        if notes and not st.session_state.get(f"url-checked::{page.url_path}"):
            st.toast("This link asked for settings this page cannot use: " + "; ".join(notes), icon="⚠️")
            st.warning("Ignored from the link: " + "; ".join(notes), icon="⚠️")
        st.session_state[f"url-checked::{page.url_path}"] = True  # notes are about the link that opened the page
        with st.popover("Share this view", icon=":material/link:", width="stretch"):
            st.code(share_url(page.url_path), language=None, wrap_lines=True)
            st.caption(words("Copy the link with the button at the box's right: it reopens this page with these "
                             "settings (the URL in the address bar does too).", "Copy to share this exact view."))
            tour_panel.save_stop_button(page.title, page.url_path, share_query())
        export.export_button(st)
        st.segmented_control("Chart downloads", ["PNG", "SVG"], default="PNG", key="figure_format", required=True,
                             help="What the camera button on each chart's toolbar saves: a PNG at 2x or an SVG.")
        device_select(st)
