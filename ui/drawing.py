"""The drawing canvas: streamlit-drawable-canvas (0.13.0, a Streamlit v2 component; checked with Streamlit
1.67 in Chromium: mouse strokes come back as RGBA pixels), at a whole number of canvas pixels per data pixel,
white ink on black like the digits. "Start from" and "Clear" give the canvas a new key, so it redraws."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from genlib import drawn
from ui import live  # noqa: F401 - importing it sets torch's threads (GENLAB_TORCH_THREADS), see below

# One intra-op thread, as ui.live sets for the process: the lab's answer to a drawing is many small decoder
# calls, and on a shared 2-core machine under load one took 1.2 s where two threads took 9.9 s (bound_gaps of
# one image, measured side by side in one process).

SCALE = 28  # canvas pixels per data pixel: an 8 x 8 digit is drawn on 224 x 224


def restart(key: str, start=None) -> None:
    """Begin the canvas ``key`` again from image ``start`` (C, H, W) in [0, 1], or blank."""
    st.session_state[f"{key}-start"] = start
    st.session_state[f"{key}-version"] = st.session_state.get(f"{key}-version", 0) + 1


def start_of(key: str):
    return st.session_state.get(f"{key}-start")


def canvas(key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """Draw the canvas; the RGBA pixels drawn so far (H·s, W·s, 4), or None before the browser sends any."""
    _, height, width = shape
    start = start_of(key)
    initial = drawn.to_drawing(start, SCALE) if start is not None else {"version": "5.3.0", "objects": []}
    result = st_canvas(stroke_width=SCALE, stroke_color="#ffffff", background_color="#000000",
                       height=height * SCALE, width=width * SCALE, drawing_mode="freedraw", initial_drawing=initial,
                       key=f"{key}-{st.session_state.get(f'{key}-version', 0)}", return_image_data=True)
    return result.image_data
