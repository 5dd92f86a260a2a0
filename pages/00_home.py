"""Home — what genlab is and what each page teaches."""

import streamlit as st

from ui.pages import catalogue

st.title("🧪 genlab")
st.markdown(
    "Explore generative models in your browser: pick a model, move β or an annealing schedule, train a small "
    "model live on your CPU and look inside it. Every page opens on a pretrained model; nothing trains until "
    "you press **Train**. Settings live in the URL, so a link reopens the same view."
)

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
