"""Annealing lab — KL schedules side by side on the same seed: constant β, monotonic, cyclical and free bits, live."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import annealing, pictures
from genlib.lockstep import Lockstep
from genlib.models import build
from ui import figures, figures_annealing, live
from ui.model_strip import model_strip
from ui.state import (
    advanced,
    cached_dataset,
    cached_pretrained,
    cached_replay,
    device,
    plot,
    pretrained_available,
    seed_input,
    show_error,
)
from ui.surgery import surgery_panel

st.title("Annealing lab")
st.caption("Up to four VAEs trained side by side on the same data, seed, model and step budget: they differ only "
           "in how the KL term is weighted over training. Their curves grow together as they train.")

CUSTOM = "Custom"
with st.sidebar:
    choice = st.selectbox("Line-up", [*annealing.LINEUPS, CUSTOM], key="lineup", bind="query-params")
    default_spec = annealing.format_lineup(annealing.lineup(annealing.DEFAULT_LINEUP))
    spec = st.text_input("Strategies (one per ';')", default_spec, key="custom", bind="query-params",
                         disabled=choice != CUSTOM,
                         help="constant:beta=4 · monotonic:ratio=0.25 · cyclical:n_cycles=4,ratio=0.5,shape=cosine · "
                              "free-bits:lambda=0.5 (shapes: linear, sigmoid, cosine; up to four)")
    steps = st.select_slider("Training steps per run", [500, 1000, 2000, 3000, 5000], annealing.LAB_STEPS,
                             key="steps", bind="query-params")
    with advanced():
        latent_dim = st.slider("Latent dimensions D", 2, 16, annealing.LAB_MODEL["latent_dim"], key="latent",
                               bind="query-params")
        eval_every = st.select_slider("Evaluate every k steps", [25, 50, 100, 200], 50, key="eval_every",
                                      bind="query-params",
                                      help="Active units, MI and KL per dimension on 256 test images.")
        seed = seed_input()
try:
    lineup = annealing.parse_lineup(spec) if choice == CUSTOM else annealing.lineup(choice)
except ValueError as e:
    show_error(e, "Cannot read the strategies: ")
    st.stop()
names = [s.label for s in lineup]
heat_run = st.sidebar.selectbox("KL heatmap for", names, key="heat_run", bind="query-params")
train_set = cached_dataset(annealing.LAB_DATA, "train", seed)
test_set = cached_dataset(annealing.LAB_DATA, "test", seed)

left, right = st.columns([3, 2])
with left:
    st.latex(r"\text{loss} = \frac1B\sum_{b}\Big[-\log p(x_b\mid z_b) + \beta(t)\sum_{d=1}^{D}\mathrm{KL}_d\Big]")
    st.latex(r"\text{free bits: } \mathrm{KL}_d \to \max\big(\lambda,\ \overline{\mathrm{KL}}_d\big),\quad"
             r"\text{ELBO} = -(\text{recon} + \textstyle\sum_d \mathrm{KL}_d)")
    st.caption(f"Each run: a VAE with an MLP {annealing.LAB_MODEL['hidden']} and D = {latent_dim}, Bernoulli pixels "
               f"(digits binarised at 0.5), batch 128, Adam 1e-3, seed {seed}. Reconstruction and KL are summed over "
               "pixels and latent dimensions and averaged over the batch: nats per image. ELBO = −(recon + KL), "
               "without β. Active units: Var_x E[z_d | x] > 0.01; MI: the minibatch estimate of I(x; z).")
with right:
    plot(figures.line_chart({s.label: pictures.schedule_curve(s.schedule(steps), steps) for s in lineup},
                            "β(t) of each run", ylabel="β", height=300), key="schedules")


def make_runs():
    models = {s.label: build("vae", train_set.shape, seed=seed, **annealing.lab_config(s, steps, latent_dim=latent_dim))
              for s in lineup}  # the same model and seed for every run: only the strategy differs
    return {"lab": Lockstep(models, train_set, test_set, steps=steps, seed=seed, eval_every=eval_every,
                            device=device())}


signature = (tuple(s.spec for s in lineup), steps, latent_dim, eval_every, seed)
live.live_controls("lab", make_runs, signature)
recipes = {s.label: annealing.recipe_name(p) for p, s in annealing.PRESETS.items()
           if p in annealing.LINEUPS[annealing.DEFAULT_LINEUP]}
pretrained = ((steps, latent_dim, seed) == (annealing.LAB_STEPS, 8, 0) and all(n in recipes for n in names)
              and all(pretrained_available(recipes[n]) for n in names))


def table(results):
    rows, winners = annealing.compare(results)
    st.dataframe(figures_annealing.comparison_table(rows, winners))


def draw(runs):
    replay = cached_replay(tuple((n, recipes[n]) for n in names), annealing.LAB_DATA, seed) if pretrained else None
    if runs is None and replay is not None:
        st.info("Showing the pretrained runs of this line-up as they trained: move the slider to any shipped step "
                "(the cyclical run's restarts show in its pictures). Press **Train** to train them live from scratch.")
        with live.replay_shipped("lab", replay) as lock:
            draw_lab(lock)
        surgery_panel("lab", test_set, timeline=replay[1])
        return
    if runs is None:
        if pretrained:
            results = {n: cached_pretrained(recipes[n]).checkpoint["metrics"] for n in names}
            st.info("Showing the pretrained runs of this line-up (the same recipe, evaluated on the whole test "
                    "split). Press **Train** to watch them train live from scratch.")
            table(results)
            kl = [r["kl_per_dim"] for r in results.values()]
            plot(figures.heatmap(kl, x=[f"z{d + 1}" for d in range(len(kl[0]))], y=names, colorbar_title="nats",
                                 title="Final KL per latent dimension (nats, whole test split)"), key="final_kl")
            model_strip({n: cached_pretrained(recipes[n]) for n in names}, test_set.x, seed, None)
        else:
            st.info("Press **Train** to train this line-up side by side.")
        return
    draw_lab(runs["lab"])
    surgery_panel("lab", test_set)


def draw_lab(lock):
    cols = st.columns(2)
    for i, (key, title) in enumerate([("recon", "Reconstruction (training batch)"), ("kl", "KL (training batch)"),
                                      ("elbo", "ELBO (training batch)"), ("beta", "β(t)")]):
        curves = {n: lock.curve(n, key) for n in names}
        if key != "beta":
            curves = {n: (x, pictures.smooth(y)) for n, (x, y) in curves.items()}
        with cols[i % 2]:
            plot(figures.line_chart(curves, title, ylabel="β" if key == "beta" else "nats per image"), key=f"c_{key}")
    for i, (key, title, unit) in enumerate([("active_units", "Active units (held out)", "units"),
                                            ("mutual_information", "Mutual information I(x; z) (held out)", "nats")]):
        with cols[i % 2]:
            plot(figures.line_chart({n: lock.heldout_curve(n, key) for n in names}, title, ylabel=unit), key=f"h_{key}")
    if live.is_training("lab"):
        st.caption("Pause (or press **Step**) to see each run's reconstructions and samples; the replay slider then "
                   "shows them at any recorded step.")
    else:
        model_strip({n: r.model for n, r in lock.runs.items()}, test_set.x, seed, lock.step)
    steps_, kl = lock.kl_per_dim_history(heat_run)
    plot(figures_annealing.kl_heatmap(steps_, kl, title=f"KL per dimension over training: {heat_run}"), key="heat")
    st.subheader("Comparison (held-out batch, nats per image; ★ marks each column's best)")
    table(lock.final())
    st.caption(f"{len(lock.heldout)} held-out test images, evaluated every {lock.eval_every} steps. Evaluation "
               f"costs {lock.eval_overhead:.1%} of training time so far (budget: 15 %).")


live.live_fragment("lab", draw)
