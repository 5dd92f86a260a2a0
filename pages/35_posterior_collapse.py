"""Posterior collapse — watch a VAE with a strong decoder stop using z, and see which cure brings z back."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import annealing, collapse
from genlib.lockstep import Lockstep
from genlib.models import build
from ui import figures, figures_annealing, live
from ui.state import (
    advanced,
    cached_dataset,
    cached_pretrained,
    cached_replay,
    device,
    plot,
    pretrained_available,
    seed_input,
)

st.title("Posterior collapse")
st.caption("A VAE whose decoder is a PixelCNN: it predicts each pixel from the pixels above and to its left, and "
           "z only adds a bias to every layer. That decoder is strong enough to do without z. Trained with β = 1 "
           "from the first step it learns to ignore z; beside it, the same model and seed with a cure.")

with st.sidebar:
    cure_name = st.selectbox("Cure", list(collapse.CURES), key="cure", bind="query-params")
    cure = collapse.CURES[cure_name]
    if cure.kind == "free-bits":
        cure = annealing.Strategy("free-bits", lam=st.slider("Free bits λ (nats per dimension)", 0.05, 2.0, cure.lam,
                                                            0.05, key="lam", bind="query-params"))
    steps = st.select_slider("Training steps", [200, 400, 800, 1500, 3000], collapse.STEPS, key="steps",
                             bind="query-params")
    threshold = st.select_slider("Collapse threshold (nats per dimension)", [0.001, 0.003, 0.01, 0.03, 0.1],
                                 collapse.KL_THRESHOLD, key="threshold", bind="query-params")
    with advanced():
        seed = seed_input()
train_set = cached_dataset(collapse.DATA, "train", seed)
test_set = cached_dataset(collapse.DATA, "test", seed)
image = st.sidebar.number_input("Test image", 0, len(test_set) - 1, 0, key="image", bind="query-params")
runs_of = {"β = 1 from the start": collapse.COLLAPSING, f"cure: {cure.label}": cure}

FREE_BITS = r",\quad \text{free bits: } \mathrm{KL}_d \to \max\big(\lambda,\ \overline{\mathrm{KL}}_d\big)"
st.latex(r"\text{loss} = \frac1B\sum_b\Big[-\sum_{i=1}^{64}\log p(x_{b,i}\mid x_{b,<i}, z_b) + \beta(t)\sum_{d=1}^{D}"
         r"\mathrm{KL}_d\Big]" + (FREE_BITS if cure.kind == "free-bits" else ""))
st.latex(r"\text{collapsed dimension: } \overline{\mathrm{KL}}_d < " + f"{threshold:g}" + r"\text{ nats}")
st.caption(f"Bernoulli pixels (digits binarised at 0.5), raster order; D = {collapse.MODEL['latent_dim']}, "
           f"batch 128, Adam {collapse.TRAINING['lr']:g}, seed {seed}. Both terms in nats per image, averaged over the "
           f"batch. Rate = KL, distortion = reconstruction; the points are measured on 256 held-out test images.")


def make_runs():
    models = {name: build("pixel-vae", train_set.shape, seed=seed, **collapse.config(s, steps))
              for name, s in runs_of.items()}
    return {"collapse": Lockstep(models, train_set, test_set, steps=steps, seed=seed, eval_every=50,
                                 lr=collapse.TRAINING["lr"], device=device())}


live.live_controls("collapse", make_runs, (cure.spec, steps, seed))
recipes = dict(zip(runs_of, (collapse.recipe_name(None), collapse.recipe_name("free bits")), strict=True))
pretrained = (cure == collapse.CURES["free bits"] and steps == collapse.STEPS and seed == 0
              and all(pretrained_available(r) for r in recipes.values()))


def draw(runs):
    if runs is None and not pretrained:
        st.info("Press **Train** to train both runs side by side (a pretrained pair is shown for the default "
                "settings: free bits λ = 0.5, 800 steps, seed 0).")
        return
    replay = cached_replay(tuple(recipes.items()), collapse.DATA, seed) if runs is None else None
    if replay is not None:
        st.info("Showing the pretrained pair as it trained: move the slider to find the step where the β = 1 run "
                "lets go of z. Press **Train** to watch the trajectories form live.")
        with live.replay_shipped("collapse", replay) as lab:
            draw_runs({"collapse": lab})
        return
    draw_runs(runs)


def draw_runs(runs):
    if runs is None:
        models = {n: cached_pretrained(r) for n, r in recipes.items()}
        results = {n: m.checkpoint["metrics"] for n, m in models.items()}
        paths = {n: ([r["kl"]], [r["recon"]], [collapse.STEPS]) for n, r in results.items()}
        st.info("Showing the pretrained pair (evaluated on the whole test split: one point each). Press **Train** "
                "to watch the trajectories form.")
    else:
        lock = runs["collapse"]
        models = {n: r.model for n, r in lock.runs.items()}
        results = lock.final()
        paths = {n: (*lock.trajectory(n), lock.heldout_curve(n, "kl")[0]) for n in models}
    reports = {n: collapse.detect_collapse(r["kl_per_dim"], threshold) for n, r in results.items()}
    left, right = st.columns([3, 2])
    with left:
        plot(figures_annealing.rate_distortion(paths, "Rate–distortion plane (★ = latest)"), key="rd")
    with right:
        st.markdown(collapse.compare_pair(reports, {n: r["active_units"] for n, r in results.items()},
                                          {n: r["elbo"] for n, r in results.items()})
                    + "\n\nBelow, the chosen test image is drawn from its own code and from random codes: a decoder "
                    "that ignores z draws the same kind of digit either way.")
    cols = st.columns(2)
    for col, (name, report) in zip(cols, reports.items(), strict=True):
        with col:
            st.metric(f"Collapsed dimensions — {name}", f"{report.n_collapsed} / {len(report.kl_per_dim)}",
                      help=f"dimensions whose mean KL is below {threshold:g} nats")
            st.caption(f"{report.describe()}. Active units: {results[name]['active_units']}.")
            plot(figures_annealing.kl_bars(report.kl_per_dim, threshold, "KL per dimension"), key=f"bars_{name}")
    if runs is not None and live.is_training("collapse"):
        st.caption("Pause to draw the test image from its own code and from random codes.")
        return
    st.subheader(f"Test image {image}: its own code vs random codes")
    for col, (name, model) in zip(st.columns(2), models.items(), strict=True):
        codes = collapse.own_vs_random_code(model, test_set.x[image], n_random=4, seed=seed)
        with col:
            grid = [*codes["input"].numpy(), *codes["own"].numpy(), *codes["random"].numpy()]
            plot(figures.image_grid(grid, 6, f"{name}: input · own code · 4 random codes"), key=f"codes_{name}")
            st.metric(f"What its own code is worth — {name}", f"{codes['gain']:+.2f} nats",
                      help="log p(x | z = μ(x)) − mean over the 4 random codes of log p(x | z), exact (teacher-forced)")
    st.caption("Pictures: pixels drawn one at a time (the same random draws for every code), each shown as its "
               "probability given the pixels drawn before it. The numbers score the test image itself under each "
               "code: about 0 nats means the decoder ignores z.")


live.live_fragment("collapse", draw)
