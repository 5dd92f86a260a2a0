"""genlab: explore generative models in the browser. Run with `streamlit run app.py`."""

import streamlit as st

from ui.pages import catalogue

st.set_page_config(page_title="genlab", page_icon="🧪", layout="wide")

pages = [st.Page(str(p.path), title=p.title, url_path=None if p.is_home else p.url_path, default=p.is_home)
         for p in catalogue()]
page = st.navigation(pages)

with st.sidebar:
    st.toggle("Lecture mode", key="lecture", bind="query-params",
              help="Bigger type and figures, advanced controls folded away: for a projector.")
    st.caption("Settings live in the URL: copy the address bar to share this exact view.")

if st.session_state.get("lecture"):
    st.html("<style>html, body, [class*='st-'] {font-size: 1.2rem;} h1 {font-size: 3rem !important;}</style>")

page.run()
