"""Home — what genlab is and what each page teaches."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import numpy as np
import streamlit as st

from genlib import schedules
from ui import figures
from ui.pages import catalogue
from ui.prefetch import prefetch_modules
from ui.state import picture

st.title(":material/science: genlab")  # a Material icon: drawn by Streamlit's icon font, no emoji font needed
intro, schedules_column = st.columns([3, 2])
intro.markdown(
    "Explore generative models in your browser: pick a model, move β or an annealing schedule, train a small "
    "model live on your CPU and look inside it. Every page opens on a pretrained model; nothing trains until "
    "you press **Train**. Settings live in the URL, so a link reopens the same view."
)
with schedules_column:
    steps = np.arange(0, 2000, 4)
    shown = {"constant β = 1": schedules.constant(1.0), "monotonic warm-up": schedules.monotonic(2000, 0.25),
             "cyclical (Fu et al., 2019)": schedules.cyclical(2000, 4, 0.5)}
    picture(figures.line_chart({name: (steps, [s(int(t)) for t in steps]) for name, s in shown.items()},
                               "Three ways to weigh the KL term over a run", ylabel="β", height=230), key="home_beta")

for info in catalogue():
    if info.is_home:
        continue
    with st.container(border=True):
        st.page_link(f"pages/{info.path.name}", label=f"**{info.title}**")
        st.caption(info.teaches)

st.markdown(
    "All numbers are per example in **nats** (natural-log units) unless a figure says bits per dimension. "
    "Images use a real likelihood: a Bernoulli over the image binarised at 0.5, or a categorical over its "
    "gray levels, so *nats per image* is a true negative log-likelihood bound."
)
prefetch_modules()  # plotly.js and the widgets' code, loaded while the visitor reads: the pages clicked next need them
