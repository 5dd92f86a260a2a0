"""Objectives — VAE, β-VAE, InfoVAE, MMD-VAE, MI-VAE and AAE side by side: how each pulls the codes toward the prior."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import pictures
from genlib.latent import encode
from genlib.models import build
from genlib.objectives import KERNELS
from genlib.priors import ProbedRun, code_diagnostics, density_grid, prior_of
from genlib.train import TrainingRun
from ui import figures, live
from ui.figures_objectives import codes_over_density
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

st.title("Objectives")
st.caption("Five ways to make the codes of a 2-D latent space look like the prior N(0, I): the KL term (VAE, "
           "β-VAE), a KL plus an MMD between the aggregate posterior q(z) and p(z) (InfoVAE), MMD alone "
           "(MMD-VAE), or a discriminator (AAE). Same data, seed and network for all.")

with st.sidebar:
    st.header("Settings")
    shown = st.multiselect("Models", ["VAE", "β-VAE", "InfoVAE", "MMD-VAE", "MI-VAE", "AAE"],
                           ["VAE", "β-VAE", "InfoVAE", "MMD-VAE", "AAE"], key="models", bind="query-params")
    beta = st.slider("β (β-VAE)", 0.5, 10.0, 4.0, 0.5, key="beta", bind="query-params")
    alpha = st.slider("α (InfoVAE)", -2.0, 1.0, 0.5, 0.1, key="alpha", bind="query-params")
    lam = st.select_slider("λ (InfoVAE, MMD-VAE)", [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0], 10.0,
                           key="lambda", bind="query-params")
    gamma = st.slider("γ (MI-VAE: reward −γ·I(x; z))", 0.0, 8.0, 1.0, 0.5, key="gamma", bind="query-params")
    kernel = st.radio("MMD kernel", KERNELS, horizontal=True, key="kernel", bind="query-params")
    bandwidth = st.select_slider("Kernel bandwidth σ", [0.25, 0.5, 1.0, 2.0, 4.0], 1.0, key="bw", bind="query-params")
    with advanced():
        steps = st.select_slider("Training steps", [300, 500, 1000, 1500, 3000], 1500, key="steps", bind="query-params")
        seed = seed_input()

mmd = {"kernel": kernel, "bandwidth": bandwidth}
CONFIGS = {"VAE": ("vae", {}), "β-VAE": ("vae", {"beta_schedule": {"kind": "constant", "beta": beta}}),
           "InfoVAE": ("info-vae", {"alpha": alpha, "lambda_": lam, **mmd}),
           "MMD-VAE": ("mmd-vae", {"lambda_": lam, **mmd}), "AAE": ("aae", {}),
           "MI-VAE": ("mi-vae", {"gamma": gamma, "beta_schedule": {"kind": "constant", "beta": beta}})}
PRETRAINED = {"VAE": "vae-2d-digits", "β-VAE": "beta-vae-2d-digits", "InfoVAE": "info-vae-2d-digits",
              "MMD-VAE": "mmd-vae-2d-digits", "AAE": "aae-2d-digits"}
train_set, test_set = cached_dataset("digits", "train", seed), cached_dataset("digits", "test", seed)
probe_x, probe_y = test_set.x[:256], test_set.y[:256].numpy()

st.latex(r"\text{loss} = \frac1B\sum_b\Big[-\log p(x_b\mid z_b) + (1-\alpha)\,\beta\,\mathrm{KL}\big(q(z\mid x_b)\,\|\,"
         r"p(z)\big)\Big] + (\alpha+\lambda-1)\,\widehat{\mathrm{MMD}}^2_u\big(\{z_b\},\{\tilde z_b\}\big),\quad "
         r"\tilde z_b\sim p(z)")
st.caption("nats per image (64 binarised pixels and 2 latent dimensions summed, batch averaged); MMD² is unitless, "
           f"{kernel} kernel summed over σ·(0.5, 1, 2). VAE: α = 0, λ = 1, β = 1. β-VAE: β = {beta:g}. "
           f"InfoVAE: α = {alpha:g}, λ = {lam:g}. MMD-VAE: α = 1, λ = {lam:g}. AAE: no KL or MMD; a discriminator "
           "on z tells prior draws from codes and the encoder learns to fool it (the Adversarial autoencoder page).")


def model_for(name: str):
    registry_name, config = CONFIGS[name]
    return build(registry_name, train_set.shape, seed=seed, latent_dim=2, hidden=(128, 128), **config)


if not shown:
    st.warning("Pick at least one model in the sidebar.")
    st.stop()
try:  # validate every objective's settings before anything trains
    fresh = {name: model_for(name) for name in shown}
except ValueError as e:
    show_error(e)
    st.stop()


def make_runs():
    return {name: ProbedRun(TrainingRun(model_for(name), train_set, steps=steps, seed=seed, device=device()), probe_x,
                            **mmd, seed=seed)
            for name in shown}


if "MI-VAE" in shown:  # genlib/models/mi_vae.py: the notes' MI loss, with the estimator the page's I(x; z) column uses
    st.latex(r"\text{MI-VAE: loss} = \frac1B\sum_b\Big[-\log p(x_b\mid z_b) + \beta\,\mathrm{KL}\big(q(z\mid x_b)\,\|\,"
             r"p(z)\big)\Big] - \gamma\,\hat I(x;z),\quad \hat I = \frac1B\sum_b\Big[\log q(z_b\mid x_b) - "
             r"\log\frac1B\sum_{b'} q(z_b\mid x_{b'})\Big]")
    st.caption(f"MI-VAE: β = {beta:g} (the β-VAE's slider), γ = {gamma:g}; γ = 0 is the β-VAE. Since the average "
               "KL = I(x; z) + KL(q(z) ‖ p(z)) (ELBO surgery), γ = β leaves only the marginal KL to pay; Î is at "
               "most log B nats.")
live.live_controls("objectives", make_runs, (tuple(shown), beta, alpha, lam, gamma, kernel, bandwidth, steps, seed))
defaults = (beta, alpha, lam, kernel, bandwidth, seed) == (4.0, 0.5, 10.0, "imq", 1.0, 0)


def draw(runs):
    if runs is None:
        if defaults and all(pretrained_available(PRETRAINED[n]) for n in shown if n in PRETRAINED):
            models = {name: cached_pretrained(PRETRAINED[name]) if name in PRETRAINED else fresh[name]
                      for name in shown}
            untrained = [name for name in shown if name not in PRETRAINED]
            st.info("Showing the pretrained models (3000 steps each)"
                    + (f"; {', '.join(untrained)} has none and is untrained" if untrained else "")
                    + ". Press **Train** to train all of them live.")
        else:
            models = fresh
            st.info("These models are untrained. Press **Train** to train them side by side.")
    else:
        models = {name: run.model for name, run in runs.items()}
        curves = st.columns(3)
        for col, key, label in zip(curves, ("kl", "mmd", "mi"), ("KL(q(z|x) ‖ p(z)), nats", "MMD² to the prior",
                                                                  "I(x; z), nats"), strict=True):
            with col:
                series = {n: pictures.series(r.probes, key) for n, r in runs.items()}
                plot(figures.line_chart(series, label, ylabel=label.split(", ")[-1], height=260), key=f"curve_{key}")
    cols = st.columns(min(3, len(models)) or 1)
    rows = []
    for i, (name, model) in enumerate(models.items()):
        d = runs[name].probes[-1] if runs else code_diagnostics(model, probe_x, **mmd, seed=seed)
        rows.append({"model": name, "recon (nats)": round(d["recon"], 2), "KL (nats)": round(d["kl"], 2),
                     "MMD²": round(d["mmd"], 4), "I(x; z) (nats)": round(d["mi"], 2)})
        with cols[i % len(cols)]:
            plot(codes_over_density(*density_grid(prior_of(model)), encode(model, probe_x).mu.numpy(), probe_y,
                                    f"{name}: test codes over p(z)"), key=f"codes_{name}")
    st.dataframe(rows, hide_index=True)
    if runs:
        dissected = [name for name in runs if live.last_dissection("objectives", name)]
        name = st.segmented_control("Dissect the step of", dissected, default=dissected[0] if dissected else None,
                                    key="objectives-dissected") if len(dissected) > 1 else None
        live.dissection_panel("objectives", "nats", name)
    st.caption(f"On {len(probe_x)} test images; codes are posterior means, coloured by digit. MMD² uses one "
               "draw of q(z|x) per image against as many prior draws. I(x; z) is at most log 256 = 5.5 nats. "
               "The AAE's encoder is deterministic: its KL and I(x; z) are those of the proposal N(code, 0.1²) "
               "that genlib evaluates it with.")
    images = [*pictures.as_images(test_set.x[:10], next(iter(models.values())).likelihood)]
    for model in models.values():
        images += [*pictures.reconstructions(model, test_set.x[:10])]
    plot(figures.image_grid(images, 10, "Test images and each model's reconstructions",
                            row_labels=["data", *models]), key="recons")


live.live_fragment("objectives", draw)
