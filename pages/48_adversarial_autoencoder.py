"""Adversarial autoencoder — a discriminator on z shapes the codes into any prior you can sample, live."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import pictures
from genlib.latent import encode
from genlib.models import build
from genlib.models.aae import ENCODERS, decision_surface, manual_phase
from genlib.priors import PRIORS, density_grid, seeded_draws
from genlib.train import TrainingRun
from ui import figures, live
from ui.figures_objectives import codes_over_density
from ui.figures_objectives import decision_surface as surface_figure
from ui.state import (
    advanced,
    cached_dataset,
    cached_pretrained,
    device,
    plot,
    pretrained_available,
    seed_input,
    show_error,
)

st.title("Adversarial autoencoder")
st.caption("An autoencoder on the 8x8 digits with a 2-D code. A discriminator learns to tell draws of the prior "
           "(real) from codes (fake); the encoder learns to fool it. Watch the codes flow into the prior's shape "
           "while the decision surface chases them (Makhzani et al. 2016).")

with st.sidebar:
    st.header("Settings")
    prior_name = st.selectbox("Prior p(z)", PRIORS, index=PRIORS.index("mixture"), key="prior", bind="query-params")
    encoder = st.radio("Encoder", ENCODERS, horizontal=True, key="encoder", bind="query-params",
                       help="deterministic: z = μ(x). stochastic: z ~ N(μ(x), σ²(x)).")
    steps = st.select_slider("Training steps", [500, 1000, 2000, 3000, 5000], 2000, key="steps", bind="query-params")
    with advanced():
        lr = st.select_slider("Learning rate (all three optimisers)", [3e-4, 1e-3, 2e-3, 5e-3], 1e-3, key="lr",
                              bind="query-params")
        seed = seed_input()

st.latex(r"\text{1. recon: } \min_{\phi,\theta} -\log p_\theta(x\mid z),\ z = \mathrm{enc}_\phi(x)\qquad"
         r"\text{2. } \min_D -\log D(\tilde z) - \log\big(1 - D(z)\big),\ \tilde z\sim p(z)\qquad"
         r"\text{3. } \min_\phi -\log D(z)")
st.caption("One batch, three optimiser steps, in this order. Recon in nats per image (64 binarised pixels summed, "
           "batch averaged); the two adversarial losses are binary cross-entropies in nats per example "
           "(log 4 ≈ 1.39 and log 2 ≈ 0.69 at the equilibrium D = ½).")

config = {"latent_dim": 2, "hidden": (128, 128), "prior": prior_name, "encoder": encoder}
train_set, test_set = cached_dataset("digits", "train", seed), cached_dataset("digits", "test", seed)
codes_x, codes_y = test_set.x[:300], test_set.y[:300].numpy()
try:
    untrained = build("aae", train_set.shape, seed=seed, **config)
except ValueError as e:
    show_error(e)
    st.stop()


def make_runs():
    return {"aae": TrainingRun(build("aae", train_set.shape, seed=seed, **config), train_set, steps=steps, lr=lr,
                               seed=seed, device=device())}


live.live_controls("aae", make_runs, (prior_name, encoder, steps, lr, seed))


def step_phase(phase: str) -> None:
    """One discriminator or encoder step by hand; each press draws a new batch."""
    presses = st.session_state.setdefault("aae-manual-presses", 0) + 1
    st.session_state["aae-manual-presses"] = presses

    def change(runs):
        terms = manual_phase(runs["aae"], phase, seed=seed * 100_003 + presses)
        st.session_state["aae-manual"] = f"{phase} step: " + ", ".join(f"{k} {v:.3f}" for k, v in terms.items())

    live.by_hand("aae", make_runs, change)


with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("By hand (GAN Lab's manual step):")
    st.button("Step D", key="aae-step-d", on_click=step_phase, args=("discriminator",),
              help="One step of the discriminator only (phase 2), on a fresh batch; pauses training")
    st.button("Step encoder", key="aae-step-enc", on_click=step_phase, args=("encoder",),
              help="One step of the encoder against the discriminator only (phase 3); pauses training")
    arrows = st.toggle("Gradient arrows", value=True, key="aae-arrows", bind="query-params",
                       help="On each test code, the direction the encoder's loss −log D(z) pushes it")
if st.session_state.get("aae-manual"):
    st.caption("Last: " + st.session_state["aae-manual"] + ". Steps by hand change the weights without a "
               "training step: the run no longer follows the recipe exactly.")
pretrained_name = "aae-mixture-2d-digits"
ARROWS = 60  # test codes that get a gradient arrow
use_pretrained = (prior_name, encoder, lr, seed) == ("mixture", "deterministic", 1e-3, 0)


def draw(runs):
    if runs is None:
        if use_pretrained and pretrained_available(pretrained_name):
            model = cached_pretrained(pretrained_name)
            st.info(f"Showing the pretrained **{pretrained_name}** (3000 steps). Press **Train** to train your own.")
        else:
            model = untrained
            st.info("An untrained model: its codes sit near the origin. Press **Train** to watch them move.")
        history = None
    else:
        model, history = runs["aae"].model, runs["aae"].history
    codes = encode(model, codes_x).mu.numpy()
    pushes = model.code_pushes(codes_x[:ARROWS])[1].cpu().numpy() if arrows else None
    left, right = st.columns(2)
    with left:
        plot(surface_figure(*decision_surface(model), codes, codes_y, seeded_draws(model.prior, 300, seed),
                            "Discriminator D(z): blue says prior, red says code",
                            pushes=pushes), key="surface")
    with right:
        plot(codes_over_density(*density_grid(model.prior), codes, codes_y, "Test codes over the prior density"),
             key="codes")
    if history is not None:  # drawn empty when a run starts, so that the page does not jump
        a, b = st.columns(2)
        with a:
            plot(figures.line_chart({"discriminator": pictures.series(history, "disc_loss"),
                                     "encoder (generator)": pictures.series(history, "gen_loss")},
                                    "Adversarial losses", ylabel="nats per example"), key="adv_losses")
        with b:
            plot(figures.line_chart({"recon": pictures.series(history, "recon")}, "Reconstruction",
                                    ylabel="nats per image"), key="recon_loss")
    plot(figures.image_grid(pictures.prior_samples(model, 20, seed), 10, "Decoded draws of the prior"),
         key="samples")


live.live_fragment("aae", draw)
