"""ELBO surgery on a page: the average KL of a trained VAE split into I(x; z) + KL(q(z) ‖ p(z)) (Hoffman &
Johnson 2016), with the total correlation of q(z), over a run's recorded steps or for models at one point.

``surgery_panel(key, dataset)`` draws it for the live runs of page ``key`` (their timelines, read from
``ui.live``) while they are paused or finished; ``timeline=`` gives a timeline instead (a shipped replay's),
``models=`` models with no timeline (pretrained ones), drawn as bars. Off until its toggle is on (it takes a
few seconds, with a progress bar). The numbers come from ``genlib.metrics.kl_decomposition``, cached per
session by timeline and step.
"""

from __future__ import annotations

import math

import streamlit as st

from genlib.metrics import is_latent_model, kl_decomposition
from genlib.timeline import models_of
from ui import live
from ui.figures_inference import surgery_bars, surgery_curves
from ui.state import plot

POINTS = 10  # recorded steps evaluated per run, evenly spread (the last always among them)
MAX_EXAMPLES = 1000  # examples of the data set evaluated (q(z) is their mixture)
SAMPLES = 2  # codes per example: ~0.04 s per model and step on digits' 359 test images, one thread


def _spread(steps: list[int], n: int) -> list[int]:
    if len(steps) <= n:
        return steps
    picks = {steps[round(i * (len(steps) - 1) / (n - 1))] for i in range(n)}
    return sorted(picks)


def _curves(key: str, timelines: dict, dataset) -> dict:
    """label -> {"step": [...], kl_decomposition key -> [...]}, computed once per (timeline, step)."""
    cache = st.session_state.setdefault(f"{key}-surgery", {})
    todo = [(run, tl, step) for run, tl in timelines.items() for step in _spread(tl.steps(), POINTS)
            if (id(tl), step) not in cache]
    bar = st.progress(0.0, text="ELBO surgery at the recorded steps…") if todo else None
    for i, (run, tl, step) in enumerate(todo):
        view = tl.view(step)
        cache[(id(tl), step)] = {name if name != "model" else run: kl_decomposition(model, dataset,
                                                                                    max_examples=MAX_EXAMPLES,
                                                                                    samples=SAMPLES)
                                 for name, model in models_of(view).items() if is_latent_model(model)}
        bar.progress((i + 1) / len(todo), text=f"ELBO surgery at step {step:,} ({i + 1} of {len(todo)})")
    if bar is not None:
        bar.empty()
    curves: dict[str, dict] = {}
    for tl in timelines.values():
        for step in _spread(tl.steps(), POINTS):
            for label, parts in cache[(id(tl), step)].items():
                c = curves.setdefault(label, {"step": []})
                c["step"].append(step)
                for k, v in parts.items():
                    if isinstance(v, float):
                        c.setdefault(k, []).append(v)
    return curves


def surgery_panel(key: str, dataset, *, timeline=None, models: dict | None = None) -> None:
    """ELBO surgery for page ``key``'s runs over training, or for ``timeline``'s runs, or for ``models``."""
    st.subheader("ELBO surgery: where the KL goes")
    if not st.toggle("Show ELBO surgery", key=f"{key}_surgery", bind="query-params",
                     help="Splits the average KL into the information z carries about x and the aggregate "
                          "posterior's distance from the prior, at each recorded step (a few seconds)."):
        return
    st.latex(r"\underbrace{\mathbb E_x\,\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{average KL}} = "
             r"\underbrace{I_q(x;z)}_{\text{information in }z} + \underbrace{\mathrm{KL}\big(q(z)\,\|\,p(z)\big)}"
             r"_{\text{aggregate vs prior}},\qquad q(z) = \frac1N\sum_{n} q(z\mid x_n)")
    n = min(len(dataset.x), MAX_EXAMPLES)
    st.caption(f"Hoffman & Johnson (2016). Nats per example on {n} held-out examples; I(x; z) is at most log {n} = "
               f"{math.log(n):.2f} nats. The total correlation KL(q(z) ‖ ∏_d q(z_d)) measures how far "
               "the aggregate posterior's dimensions are from independent (Chen et al. 2018).")
    if live.is_training(key):
        st.caption("Pause (or let the run finish) to see it over the recorded steps.")
        return
    s = live.state(key)
    timelines = {"": timeline} if timeline is not None else (s.timelines or {}) if s.runs else {}
    if timelines:
        curves = _curves(key, timelines, dataset)
        cols = st.columns(min(2, len(curves)) or 1)
        for i, (label, c) in enumerate(curves.items()):
            with cols[i % len(cols)]:
                plot(surgery_curves(c["step"], c, f"{label or 'the run'}: KL = I(x; z) + KL(q(z) ‖ p(z))"),
                     key=f"{key}-surgery-{i}")
        return
    if models:
        results = {name: kl_decomposition(m, dataset, max_examples=MAX_EXAMPLES, samples=SAMPLES)
                   for name, m in models.items() if is_latent_model(m)}
        if results:
            plot(surgery_bars(results, "KL = I(x; z) + KL(q(z) ‖ p(z)), stacked"), key=f"{key}-surgery-bars")
            return
    st.caption("Train a model (or pick one with a latent code) to see its ELBO surgery.")
