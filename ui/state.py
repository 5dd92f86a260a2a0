"""Session state helpers, URL-bound settings and cached (shared, read-only) loaders."""

from __future__ import annotations

import streamlit as st

from genlib import data, pretrained

# Every chart's toolbar downloads a PNG at twice the screen resolution.
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_dataset(name: str, split: str = "train", seed: int = 0):
    """A built-in dataset, loaded once per process and shared by every session (do not modify it)."""
    return data.load_dataset(name, split, seed)


@st.cache_resource(show_spinner="Loading the pretrained model…", max_entries=32)
def cached_pretrained(name: str):
    """A pretrained model shared by every session: read-only (``copy.deepcopy`` it before training)."""
    model = pretrained.load(name)
    model.eval()
    model.requires_grad_(False)
    return model


def pretrained_available(name: str) -> bool:
    return name in pretrained.names()


def seed_input(key: str = "seed", label: str = "Seed", container=st) -> int:
    """A URL-bound seed (0 by default)."""
    return int(container.number_input(label, min_value=0, max_value=2**31 - 1, value=0, step=1, key=key,
                                      bind="query-params", help="Same seed, same data split, weights and batches."))


def lecture_mode() -> bool:
    """True when the lecture-mode toggle in the sidebar is on (bigger type, advanced controls folded away)."""
    return bool(st.session_state.get("lecture", False))


def advanced(label: str = "Advanced settings"):
    """A container for controls a projector audience does not need: folded away in lecture mode."""
    return st.expander(label, expanded=not lecture_mode())


def trained_models() -> dict:
    """Models this session has trained, name -> model (the latent explorer offers them)."""
    return st.session_state.setdefault("trained_models", {})


def plot(fig, key: str | None = None, **kwargs):
    """Draw a plotly figure with genlab's chart config (2x PNG download from the toolbar)."""
    if lecture_mode():
        fig.update_layout(font={"size": 18})
    return st.plotly_chart(fig, config=PLOT_CONFIG, key=key, **kwargs)


def show_error(exc: BaseException, context: str = "") -> None:
    """Turn an exception into one clear message on the page (never a traceback)."""
    message = str(exc).strip() or type(exc).__name__
    st.error(f"{context}{message}", icon="⚠️")
