"""Hierarchical VAE — layers of latents: what the top layer decides, what the lower layers add, trained live."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import pictures
from genlib.models import build
from genlib.models.hierarchical import WARMUPS, layer_report, resample_layer, warmup_schedules
from genlib.train import TrainingRun
from ui import figures, formulas, live
from ui.figures_hierarchical import (
    correlation_pair,
    independence_text,
    kl_per_layer_bars,
    kl_per_layer_chart,
    layer_names,
    layer_split,
)
from ui.state import (
    advanced,
    cached_dataset,
    cached_pretrained,
    device,
    evaluated,
    plot,
    pretrained_available,
    seed_input,
    show_error,
)

PRETRAINED = "hierarchical-vae-digits"
DIMS = {2: (8, 4), 3: (8, 4, 2)}  # latent sizes z_1 (bottom) ... z_L (top)

st.title("Hierarchical VAE")
st.caption("A stack of latent layers, generated top-down: z_top is drawn first, each layer below is drawn given "
           "the one above, and only z_1 is decoded into the image (a Ladder VAE, Sønderby et al. 2016).")

with st.sidebar:
    st.header("Settings")
    n_layers = st.radio("Stochastic layers", [2, 3], horizontal=True, key="hv_layers", bind="query-params")
    steps = st.select_slider("Training steps", [1000, 2000, 3000, 5000], 3000, key="hv_steps", bind="query-params")
    free_bits = st.slider("Free bits λ (nats per dimension, every layer)", 0.0, 1.0, 0.25, 0.05, key="hv_fb",
                          bind="query-params", help="Without it the lower or the top layer often goes unused.")
    warmup = st.radio("KL warm-up (β from 0 to 1 over the first half)", WARMUPS, key="hv_warmup", bind="query-params")
    with advanced():
        width = st.select_slider("Layer width", [64, 128, 256], 128, key="hv_width", bind="query-params")
        lr = st.select_slider("Learning rate", [3e-4, 1e-3, 3e-3], 1e-3, key="hv_lr", bind="query-params")
        seed = seed_input("hv_seed")

dims = DIMS[n_layers]
config = {"latent_dim": dims[0], "upper_dims": dims[1:], "hidden": (width, width), "ladder_hidden": width // 2,
          "likelihood": "bernoulli", "free_bits": free_bits,
          "layer_schedules": warmup_schedules(warmup, n_layers, steps)}
train_set, test_set = cached_dataset("digits", "train", seed), cached_dataset("digits", "test", seed)

for formula in formulas.hierarchical_loss(free_bits):
    st.latex(formula)
st.caption(f"Nats per image on digits binarised at 0.5, summed over the 64 pixels and each layer's dimensions, "
           f"averaged over batches of 128; each KL is analytic given the sampled layer above. "
           f"Sizes z_1 ... z_{n_layers}: {', '.join(map(str, dims))}. "
           "The merge (bottom-up estimate × top-down prior) is Eq. 19-21 of the paper.")

names = layer_names(n_layers)
temperatures = tuple(col.slider(f"Temperature of {name}", 0.0, 1.5, 1.0, 0.1, key=f"hv_t{i + 1}", bind="query-params")
                     for i, (col, name) in enumerate(zip(st.columns(n_layers), names, strict=True)))


def make_runs():
    model = build("hierarchical-vae", train_set.shape, seed=seed, **config)
    return {"hvae": TrainingRun(model, train_set, steps=steps, lr=lr, seed=seed, device=device())}


live.live_controls("hvae", make_runs, (steps, lr, seed, repr(sorted(config.items()))))
default_model = (n_layers == 2 and steps == 3000 and free_bits == 0.25 and warmup == "none" and width == 128
                 and lr == 1e-3 and seed == 0 and pretrained_available(PRETRAINED))


def draw_layers(model):
    try:
        report = layer_report(model, temperature=temperatures, seed=seed)
    except ValueError as e:
        show_error(e)
        return
    top, lower = f"z{n_layers}", ("z1" if n_layers == 2 else f"z1…z{n_layers - 1}")
    a, b = st.columns(2)
    with a:
        plot(figures.image_grid(report["top_fixed"], 8, f"Top layer {top} fixed per row, {lower} redrawn"),
             key="hv_top_fixed")
    with b:
        plot(figures.image_grid(report["lower_fixed"], 8, f"{lower} noise fixed per row, top {top} redrawn"),
             key="hv_lower_fixed")
    redrawn = st.radio("Redraw one layer, hold every other", range(n_layers), index=n_layers - 1, horizontal=True,
                       format_func=names.__getitem__, key=f"hv_redraw{n_layers}", bind="query-params")
    one = resample_layer(model, redrawn, temperature=temperatures, seed=seed)
    plot(figures.image_grid(one["grid"], 8, f"Only {names[redrawn]} redrawn along each row, the other layers fixed "
                                            "per row"), key="hv_one_layer")
    st.caption(f"Redrawing {names[redrawn]} alone brings back {one['share']:.0%} of the free samples' pixel variance.")
    kind, verdict = layer_split(top, lower, report["top_share"], report["lower_share"])
    getattr(st, kind)(verdict)

    left, right = st.columns([2, 3])
    with left:
        st.markdown(independence_text(report["marginal_off_diagonal"], report["conditional_off_diagonal"]))
    with right:
        plot(correlation_pair(report["marginal"], report["conditional"], marginal_title="z1, layers above redrawn",
                              conditional_title=f"z1 given {'z2' if n_layers == 2 else 'z2, z3'}"), key="hv_corr")


def draw_metrics(model, metrics):
    cols = st.columns([1, 1, 1, 3])
    cols[0].metric("IWAE NLL (nats)", f"{metrics['nll_iwae']:.2f}", help=f"K = {metrics['iwae_samples']} samples")
    cols[1].metric("−ELBO", f"{-metrics['elbo']:.2f}")
    cols[2].metric("Active units", f"{metrics['active_units']} / {len(metrics['kl_per_dim'])}")
    with cols[3]:
        plot(kl_per_layer_bars(model.kl_per_layer(metrics["kl_per_dim"])), key="hv_kl_bars")


def draw(runs):
    if runs is None:
        if not default_model:
            st.info("Press **Train** to train a hierarchical VAE with these settings (the pretrained model is shown "
                    "for the default settings).")
            return
        model = cached_pretrained(PRETRAINED)
        st.info(f"Showing the pretrained model **{PRETRAINED}**. Press **Train** to train your own and watch "
                "each layer's KL.")
        draw_metrics(model, model.checkpoint["metrics"])
        draw_layers(model)
        return
    run = runs["hvae"]
    curves = {}
    for i, name in enumerate(names):
        x, kl = pictures.series(run.history, f"kl_z{i + 1}")
        curves[f"KL {name}"] = (x, kl, pictures.smooth(kl))
    a, b = st.columns(2)
    with a:
        plot(kl_per_layer_chart(curves), key="hv_kl_curves")
    with b:
        x, elbo = pictures.series(run.history, "elbo")
        plot(figures.line_chart({"ELBO (batch)": (x, elbo), "smoothed": (x, pictures.smooth(elbo))}, "ELBO",
                                ylabel="nats per image"), key="hv_elbo")
    if not live.is_training("hvae") and run.step:
        draw_metrics(run.model, evaluated("hv_eval", (id(run), run.step), run.model, test_set))
    draw_layers(run.model)


live.live_fragment("hvae", draw)
