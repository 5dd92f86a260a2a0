"""ELBO & β — the VAE objective term by term: reconstruction against KL, β-VAE and KL annealing, trained live."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import pictures, schedules
from genlib.data import POINT_SETS
from genlib.models import build
from genlib.train import TrainingRun
from ui import figures, formulas, live
from ui.metrics_panel import heldout_metrics
from ui.state import (
    advanced,
    cached_pretrained,
    dataset_select,
    device,
    evaluated,
    get_dataset,
    plot,
    pretrained_available,
    seed_input,
    trained_models,
)
from ui.surgery import surgery_panel

st.title("ELBO & β")
st.caption("A VAE learns to reconstruct its input through a small code z, while a KL term pulls each code's "
           "posterior toward the prior N(0, I). β weighs the two; a schedule can change β during training.")

with st.sidebar:
    st.header("Settings")
    data_name = dataset_select("data", allowed=("digits", "sprites", "moons", "rings", "pinwheel"))
    latent_dim = st.slider("Latent dimensions D", 1, 32, 8, key="latent", bind="query-params")
    mode = st.radio("β", ["constant", "monotonic", "cyclical"], horizontal=True, key="schedule", bind="query-params")
    steps = st.select_slider("Training steps", [500, 1000, 2000, 3000, 5000, 10000], 2000, key="steps",
                             bind="query-params")
    if mode == "constant":
        schedule = schedules.constant(st.slider("β", 0.0, 10.0, 1.0, 0.1, key="beta", bind="query-params"))
    else:
        stop = st.slider("β after the ramp", 0.1, 10.0, 1.0, 0.1, key="beta_stop", bind="query-params")
        shape = st.selectbox("Ramp shape", schedules.SHAPES, key="shape", bind="query-params")
        if mode == "monotonic":
            ratio = st.slider("Warm-up share of training", 0.05, 1.0, 0.25, 0.05, key="ratio", bind="query-params")
            schedule = schedules.monotonic(steps, ratio, 0.0, stop, shape)
        else:
            cycles = st.slider("Cycles M", 1, 10, 4, key="cycles", bind="query-params")
            ratio = st.slider("Ramp share R of each cycle", 0.1, 1.0, 0.5, 0.05, key="ratio_c", bind="query-params")
            schedule = schedules.cyclical(steps, cycles, ratio, 0.0, stop, shape)
    with advanced():
        image_data = data_name not in POINT_SETS  # built-in images and uploads
        likelihood = st.radio("Likelihood", ["bernoulli", "categorical"] if image_data else ["gaussian"],
                              horizontal=True, key="lik", bind="query-params",
                              help="Bernoulli: the image binarised at 0.5. Categorical: one of the gray levels "
                                   "per pixel. Gaussian: a density over 2-D points.")
        width = st.select_slider("Layer width", [32, 64, 128, 256, 512], 256, key="width", bind="query-params")
        depth = st.slider("Hidden layers", 1, 3, 2, key="depth", bind="query-params")
        free_bits = st.slider("Free bits λ (nats per dimension)", 0.0, 2.0, 0.0, 0.05, key="free_bits",
                              bind="query-params")
        batch_size = st.select_slider("Batch size", [32, 64, 128, 256], 128, key="batch", bind="query-params")
        lr = st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 1e-3, key="lr", bind="query-params")
        seed = seed_input()

train_set, test_set = get_dataset(data_name, "train", seed), get_dataset(data_name, "test", seed)
config = {"latent_dim": latent_dim, "hidden": (width,) * depth, "likelihood": likelihood,
          "levels": train_set.levels, "beta_schedule": schedule.to_dict(), "free_bits": free_bits}
unit = "nats per image" if image_data else "nats per point"

left, right = st.columns([3, 2])
with left:
    for formula in formulas.vae_loss(free_bits):
        st.latex(formula)
    st.caption(f"Recon and KL are summed over {'pixels' if image_data else 'coordinates'} and latent dimensions, "
               f"averaged over the batch of B = {batch_size}: {unit}. The ELBO shown is the unweighted bound (no β)."
               + (" λ: the free-bits floor on each dimension's batch-mean KL." if free_bits else ""))
with right:
    plot(figures.line_chart({"β": pictures.schedule_curve(schedule, steps)}, "β over the run", ylabel="β",
                            height=200), key="beta_plot")


def make_runs():
    model = build("vae", train_set.shape, seed=seed, **config)
    return {"vae": TrainingRun(model, train_set, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                               device=device())}


live.live_controls("elbo", make_runs, (data_name, steps, batch_size, lr, seed, repr(sorted(config.items()))))
pretrained_name = {1.0: "vae-digits", 4.0: "beta-vae-digits"}.get(schedule.beta if mode == "constant" else None)
default_model = (data_name == "digits" and latent_dim == 8 and width == 256 and depth == 2 and not free_bits
                 and likelihood == "bernoulli" and seed == 0 and pretrained_name
                 and pretrained_available(pretrained_name))
shown = test_set.x[:8]


def draw_model(model, history=None):
    cols = st.columns(2)
    if history is not None:  # a run just started draws its curves empty: the page does not jump when they come
        with cols[0]:
            steps_, elbo = pictures.series(history, "elbo")
            plot(figures.line_chart({"ELBO (batch)": (steps_, elbo), "smoothed": (steps_, pictures.smooth(elbo))},
                                    "ELBO", ylabel=unit), key="elbo_curve")
        with cols[1]:
            plot(figures.line_chart({"recon": pictures.series(history, "recon"), "KL": pictures.series(history, "kl"),
                                     "β": pictures.series(history, "beta")}, "Reconstruction, KL and β",
                                    ylabel=unit, dashed=("β",)), key="terms_curve")
    if image_data:
        a, b = st.columns(2)
        with a:
            grid = [*pictures.as_images(shown, model.likelihood), *pictures.reconstructions(model, shown)]
            plot(figures.image_grid(grid, 8, "Test images (top) and reconstructions"), key="recons")
        with b:
            plot(figures.image_grid(pictures.prior_samples(model, 16, seed), 8, "Samples from the prior"),
                 key="samples")


def draw_metrics(model, key, recorded: dict | None = None):
    """The held-out metrics: ``recorded`` ones (a pretrained model's manifest, re-checked by the tests) or
    evaluated once per trained model."""
    m = recorded if recorded is not None else evaluated("elbo_eval", key, model, test_set)
    heldout_metrics(m, unit, key="kl_dims")  # the key a tour highlights


def draw(runs):
    if runs is None:
        if default_model:
            model = cached_pretrained(pretrained_name)
            st.info(f"Showing the pretrained model **{pretrained_name}** "
                    f"({model.checkpoint['metrics'].get('n_examples', '')} test examples). "
                    "Press **Train** to train your own with these settings.")
            draw_model(model)
            draw_metrics(model, ("pretrained", pretrained_name), recorded=model.checkpoint["metrics"])
            surgery_panel("elbo", test_set, models={pretrained_name: model})
        else:
            st.info("Press **Train** to train a VAE with these settings (a pretrained model is shown for the "
                    "default settings with β = 1 or 4).")
        return
    run = runs["vae"]
    draw_model(run.model, run.history)
    live.dissection_panel("elbo", unit)
    if not live.is_training("elbo"):
        draw_metrics(run.model, ("run", id(run), run.step))
        surgery_panel("elbo", test_set)
        if run.done:
            trained_models()[f"VAE on {data_name}, {schedule.describe()}, seed {seed}"] = run.model


live.live_fragment("elbo", draw)
