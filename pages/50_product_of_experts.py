"""Product of experts — multiply Gaussian experts, then condition a multimodal VAE on any subset: PoE vs MoE."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib.data import one_per_class
from genlib.distributions import covariance_2d, experts_on_grid
from genlib.models import build
from genlib.models.multimodal import cross_modal, label_accuracy
from genlib.pictures import series
from genlib.pretrained import RECIPES
from genlib.train import TrainingRun
from ui import figures, figures_poe, live
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

st.title("Product of experts")
st.caption("Each expert is a Gaussian opinion about z. Their product is again Gaussian: precisions add and the "
           "mean is the precision-weighted mean, so a confident expert wins and a missing one is simply left out.")

st.header("Part 1 — Gaussian experts")
dims = st.radio("Experts in", ["1-D", "2-D"], horizontal=True, key="dims", bind="query-params")
use_prior = st.toggle("Include the prior expert N(0, I)", False, key="prior", bind="query-params")
st.latex(r"\textstyle\prod_e \mathcal N(\mu_e, \Sigma_e) \propto \mathcal N(\mu, \Sigma),\quad "
         r"\Sigma^{-1} = \sum_e \Sigma_e^{-1},\quad \mu = \Sigma \sum_e \Sigma_e^{-1}\mu_e")
defaults = [("A", 0.5, 0.2, 1.0, True), ("B", 0.2, -0.5, 1.5, True), ("C", -1.0, 1.0, 0.5, False)]
means, covs, names, on = [], [], [], []
cols = st.columns(3 if dims == "1-D" else 2)
for col, (name, m1, m2, precision, active) in zip(cols, defaults, strict=False):
    with col:
        on.append(st.toggle(f"Expert {name}", active, key=f"on_{name}", bind="query-params"))
        mx = st.slider(f"{name}: mean" + (" z₁" if dims == "2-D" else ""), -3.0, 3.0, m1, 0.05, key=f"m_{name}",
                       bind="query-params")
        if dims == "1-D":
            p = st.slider(f"{name}: precision 1/σ²", 0.1, 5.0, precision, 0.1, key=f"p_{name}", bind="query-params")
            means.append([mx])
            covs.append([[1.0 / p]])
        else:
            my = st.slider(f"{name}: mean z₂", -3.0, 3.0, m2, 0.05, key=f"m2_{name}", bind="query-params")
            vx = st.slider(f"{name}: variance σ₁²", 0.05, 3.0, 1.0 / precision, 0.05, key=f"vx_{name}",
                           bind="query-params")
            vy = st.slider(f"{name}: variance σ₂²", 0.05, 3.0, 1.0, 0.05, key=f"vy_{name}", bind="query-params")
            rho = st.slider(f"{name}: correlation ρ", -0.95, 0.95, 0.5 if name == "A" else -0.3, 0.05,
                            key=f"rho_{name}", bind="query-params")
            means.append([mx, my])
            covs.append(covariance_2d(vx, vy, rho))
        names.append(f"expert {name}")
try:
    grid = experts_on_grid(means, covs, on, use_prior, n=401 if dims == "1-D" else 121,
                          half_width=4.0 if dims == "1-D" else 3.0)
except ValueError as e:
    show_error(e)
    st.stop()
shown = {n: d.numpy() for n, d, a in zip(names, grid["experts"], on, strict=True) if a}
prior = grid["prior"].numpy() if use_prior or not any(on) else None
draw = figures_poe.densities_1d if dims == "1-D" else figures_poe.densities_2d
plot(draw(grid["axis"].numpy(), shown, grid["product"].numpy(), prior, "Experts and their product"), key="densities")
mean, cov = grid["mean"].tolist(), grid["cov"].tolist()
if dims == "1-D":
    st.markdown(f"**Product:** mean **{mean[0]:.2f}**, variance **{cov[0][0]:.2f}** (precision {1 / cov[0][0]:.2f})")
else:
    st.markdown(f"**Product:** mean ({mean[0]:.2f}, {mean[1]:.2f}), covariance "
                f"[[{cov[0][0]:.2f}, {cov[0][1]:.2f}], [{cov[1][0]:.2f}, {cov[1][1]:.2f}]]")
if not any(on):
    st.caption("No expert is present: the product is the prior alone (an expert left out is never fed zeros).")

st.header("Part 2 — a multimodal VAE on digits")
st.caption("Three modalities of each digit: its top half, its bottom half and its label. One encoder per modality "
           "gives an expert q(z | xₘ); the posterior given any subset fuses them, by a product (PoE, the MVAE) or "
           "a mixture (MoE, the MMVAE), then every modality is decoded from z.")
st.latex(r"\text{loss} = \frac1B\sum_b \sum_{S}\Big[-\sum_{m\in S}\lambda_m\,\mathbb E_{q(z\mid x_S)}\log p(x_m\mid z)"
         r" + \beta(t)\,\mathrm{KL}\big(q(z\mid x_S)\,\|\,\mathcal N(0,I)\big)\Big]")
st.caption("Nats per example, summed over the subsets S (all modalities, each one alone, three random subsets) "
           "and averaged over the batch. PoE: q(z | x_S) ∝ N(0, I) ∏ qₘ, KL in closed form. MoE: q = mean of the "
           "qₘ, one draw per expert, KL estimated at the draws. λ_label = 3 in the pretrained models.")
given = st.multiselect("Condition on", ["top", "bottom", "label"], ["top"], key="given", bind="query-params")
n_samples = st.slider("Samples per digit", 1, 6, 3, key="samples", bind="query-params")
source = st.radio("Models", ["pretrained", "train here"], horizontal=True, key="source", bind="query-params")
with advanced("Training settings and seed"):
    training = source == "train here"  # the pretrained models' recipe: 1600 steps, λ_label = 3
    steps = st.select_slider("Training steps", [300, 800, 1600, 3000], 800, key="steps", bind="query-params",
                             disabled=not training)
    weight = st.select_slider("Label weight λ_label", [1.0, 3.0, 10.0, 30.0], 3.0, key="lam", bind="query-params",
                              disabled=not training)
    seed = seed_input()
train_set = cached_dataset("digits-halves-label", "train", seed)
test_set = cached_dataset("digits-halves-label", "test", seed)
examples = one_per_class(test_set, seed)
recipe = {k: v for k, v in RECIPES["mvae-poe-digits"]["config"].items() if k != "fusion"}  # the pretrained ones
config = {**recipe, "weights": {"label": weight}, "beta_schedule": {**recipe["beta_schedule"], "total_steps": steps}}


def make_runs():
    return {f: TrainingRun(build("multimodal-vae", train_set.shape, seed=seed, fusion=f.lower(), **config), train_set,
                           steps=steps, seed=seed, device=device()) for f in ("PoE", "MoE")}


def show(models: dict, runs=None):
    if not given:
        st.error("Pick at least one modality to condition on.")
        return
    if runs:
        plot(figures.line_chart({f: series(r.history, "elbo") for f, r in runs.items()}, "Joint ELBO (batch)",
                                ylabel="nats per example"), key="elbo_curve")
    for col, (fusion, model) in zip(st.columns(2), models.items(), strict=True):
        with col:
            result = cross_modal(model, examples, tuple(given), n_samples=n_samples, seed=seed)
            title = f"{fusion}: digits given {' + '.join(given)}"
            plot(figures_poe.conditioning_grid(result, title), key=f"grid_{fusion}")
            title = f"{fusion}: p(label | given)"
            probs = figures_poe.label_distributions(result["label_probs"], result["labels"], title)
            plot(probs, key=f"labels_{fusion}")
            images = tuple(g for g in given if g != "label")
            if images and "label" not in given:
                st.metric(f"{fusion}: label accuracy from {' + '.join(images)} (test set)",
                          f"{label_accuracy(model, test_set, images):.1%}")


if source == "pretrained":
    if all(pretrained_available(f"mvae-{f.lower()}-digits") for f in ("PoE", "MoE")):
        show({f: cached_pretrained(f"mvae-{f.lower()}-digits") for f in ("PoE", "MoE")})
    else:
        st.info("The pretrained models are not built here (`python -m genlib pretrained build mvae-poe-digits "
                "mvae-moe-digits`); choose **train here** to train both now.")
else:
    live.live_controls("poe", make_runs, (steps, weight, seed))
    live.live_fragment("poe", lambda runs: show({f: r.model for f, r in runs.items()}, runs) if runs
                       else st.info("Press **Train** to train a PoE and a MoE model side by side on the same batches."))
