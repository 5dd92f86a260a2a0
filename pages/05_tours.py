"""Tours — guided lectures through the pages, stop by stop: open one, press Next (or →), follow the narration."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from ui import tours

st.title("Tours")
st.caption("A tour is a sequence of views with words beside them: each stop opens a page with its settings, "
           "outlines what to look at, and may ask the room to predict before the answer is shown. Next / Back "
           "(or → / ←) move between stops; every stop is a link you can share.")

names = tours.names()
if not names:
    st.info("No tours in `lectures/` yet.")
for name in names:
    with st.container(border=True, key=f"tour-card-{name}"):
        try:
            tour = tours.load(name)
        except tours.TourError as e:  # a lecturer's own file with a mistake: the sentence, not a traceback
            st.error(f"`lectures/{name}.toml` cannot be used: {e}")
            continue
        first = tours.page_path(tour.stops[0].page).name
        st.page_link(f"pages/{first}", label=f"**{tour.title}**", icon=":material/tour:",
                     query_params={"tour": name, "stop": "1"})
        st.caption(f"{len(tour.stops)} stops: " + " · ".join(stop.title for stop in tour.stops))

st.subheader("Write your own")
st.markdown("""Put a file `lectures/<name>.toml` beside the app and open any page with `?tour=<name>`:

```toml
title = "My lecture"

[[stops]]
title = "β = 4"                     # shown on the panel
page = "elbo"                       # the page's path in the address bar
settings = { beta = 4.0 }           # the page's URL keys (others take their defaults)
highlight = "kl_dims"               # a chart or control key, outlined
narration = "The KL per dimension: $\\\\mathrm{KL}_d$ ..."   # Markdown and LaTeX
question = "How many units stay active?"   # optional: Next shows the answer first
answer = "One."
train = false                       # true: a live page starts training
```

Or click your way: **Share this view → Save this view as a stop** on each page, then download the tour.
Add `&embed=true` to a stop's link to show it without the sidebar (for a slide), and `&hide=key1,key2` to hide
chosen controls.""")
