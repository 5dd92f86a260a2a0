"""Inference lab — draw an input, see its true posterior beside q, and how far the ELBO and IWAE sit below log p(x)."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import drawn, inference, pictures
from genlib.latent import encode
from ui import drawing, figures
from ui.figures_inference import gap_bars, iwae_curve, latent_overview, posterior_bars, posterior_heatmap
from ui.state import cached_dataset, cached_pretrained, plot, pretrained_available, seed_input

MODELS = {"VAE, 2-D latent": "vae-2d-digits", "β-VAE (β = 4), 2-D latent": "beta-vae-2d-digits",
          "InfoVAE, 2-D latent": "info-vae-2d-digits", "MMD-VAE, 2-D latent (a very narrow q)": "mmd-vae-2d-digits",
          "VAE, 8-D latent": "vae-digits", "β-VAE (β = 4), 8-D latent": "beta-vae-digits"}
KEY = "inference-canvas"
MISSED_MODE = 237  # a test image whose true posterior under the 2-D VAE has two modes (tests/test_inference.py)


def show_missed_mode():
    st.session_state["model"], st.session_state["image"] = "VAE, 2-D latent", MISSED_MODE

st.title("Inference lab")
st.caption("Draw a digit (or start from a test image) and ask a trained VAE what it makes of it. With a 2-D latent "
           "the evidence log p(x) = log ∫ p(x|z) p(z) dz is computed on a grid, so the bounds can be set against "
           "the number they bound, and the true posterior p(z|x) against the encoder's Gaussian q(z|x).")
train, test = cached_dataset("digits", "train"), cached_dataset("digits", "test")
available = [label for label, name in MODELS.items() if pretrained_available(name)]
if not available:
    st.warning("No pretrained model of this page is built: run `python -m genlib pretrained build vae-2d-digits`.")
    st.stop()
with st.sidebar:
    st.header("Settings")
    label = st.selectbox("Model", available, key="model", bind="query-params")
    index = st.number_input("Test image to start from", 0, len(test.x) - 1, 0, key="image", bind="query-params")
    k = st.select_slider("IWAE samples K", inference.KS, 5000, key="k", bind="query-params")
    seed = seed_input()
    st.button("A case where q misses a mode", key="missed", on_click=show_missed_mode, width="stretch",
              help=f"Test image {MISSED_MODE} under the 2-D VAE: its true posterior has two modes.")
model = cached_pretrained(MODELS[label])
two_d = model.config.latent_dim == 2

if st.session_state.get(f"{KEY}-started") != index:
    st.session_state[f"{KEY}-started"] = index  # a new test image chosen: the canvas starts from it
    drawing.restart(KEY, test.x[index])

st.latex(r"\log p(x) = \log\!\int p(x\mid z)\,p(z)\,dz \;\ge\; \underbrace{\mathbb E_{q}\log\frac1K\sum_{k=1}^{K}"
         r"\frac{p(x\mid z_k)\,p(z_k)}{q(z_k\mid x)}}_{\text{IWAE}_K;\ K=1:\ \text{ELBO}(q)},\qquad z_k\sim q(z\mid x)")
st.latex(r"\log p(x) - \text{ELBO}(q) = \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big) = "
         r"\underbrace{\log p(x) - \text{ELBO}(q^*)}_{\text{approximation gap}} + "
         r"\underbrace{\text{ELBO}(q^*) - \text{ELBO}(q)}_{\text{amortisation gap}}")
st.caption("Nats per image: 64 binarised pixels (Bernoulli), summed. q* is the best diagonal Gaussian for this x alone "
           "(its mean and variance optimised, Cremer et al. 2018); q is the encoder's. log p(x): trapezoidal "
           "quadrature on a 129 × 129 grid zoomed onto the posterior, ± the change from halving its resolution.")

left, right = st.columns([2, 3])
with left:
    a, b = st.columns(2)
    if a.button("Start from test image", key="start", width="stretch"):
        drawing.restart(KEY, test.x[index])
    if b.button("Clear", key="clear", width="stretch"):
        drawing.restart(KEY, None)
    pixels = drawing.canvas(KEY, model.data_shape)
    start = drawing.start_of(KEY)
    x = (drawn.to_image(pixels, model.data_shape) if pixels is not None
         else start[None] if start is not None else drawn.blank(model.data_shape))
    st.caption("Draw with the mouse: white ink on black, 28 canvas pixels to one of the 8 × 8 image.")
problem = drawn.problem(x)
if problem:
    st.info(problem)


@st.cache_data(max_entries=64, show_spinner=False)
def analyse(name: str, x_array, seed: int) -> dict:
    return inference.report(cached_pretrained(name), x_array, seed=seed)


@st.cache_data(max_entries=64, show_spinner=False)
def given_to(name: str, x_array, seed: int) -> dict:
    """The drawing given to another model: the PixelCNN's completions or the multimodal VAE's draws."""
    answer = drawn.pixelcnn_completion if name == "pixelcnn-digits" else drawn.multimodal_from_top
    return answer(cached_pretrained(name), x_array, seed=seed)


with st.spinner("Integrating p(x | z) p(z) on the grid, fitting q* and drawing 8 × 5000 importance samples…"):
    r = analyse(MODELS[label], x.numpy(), seed)
i = r["iwae"]["k"].index(k)
iwae_k, iwae_se = float(r["iwae"]["mean"][i]), float(r["iwae"]["stderr"][i])
with right:
    cols = st.columns(4 if two_d else 2)
    cols[0].metric("ELBO(q)", f"{r['elbo']:.2f}", help="The encoder's q(z|x): the bound the VAE trains on.")
    cols[1].metric(f"IWAE, K = {k:,}", f"{iwae_k:.2f}",
                   help=f"± {2 * iwae_se:.2f} (2 standard errors over 8 draws of K samples): within that it may "
                        "even sit above log p(x).")
    if two_d:
        cols[2].metric("ELBO(q*)", f"{r['elbo_best']:.2f}", help="q*: the best diagonal Gaussian for this x.")
        cols[3].metric("log p(x)", f"{r['log_px']:.2f}", help=f"On the grid; error estimate ± {r['error']:.1e} nats.")
        plot(gap_bars(r["approximation_gap"], r["amortisation_gap"], "The ELBO's gap, split"), key="gaps")
    lines = {"log p(x)": r["log_px"]} if two_d else {}
    lines.update({"ELBO (q)": r["elbo"], **({"ELBO (q*)": r["elbo_best"]} if two_d else {})})
    plot(iwae_curve(r["iwae"]["k"], r["iwae"]["mean"], r["iwae"]["stderr"], lines, "The IWAE bound as K grows"),
         key="iwae")
if two_d:
    gap_at_max = r["log_px"] - float(r["iwae"]["mean"][-1])
    modes = r["modes"]
    if len(modes) > 1:
        st.info(f"The true posterior has {len(modes)} modes, holding "
                + ", ".join(f"{m[2]:.0%} at ({m[0]:.2f}, {m[1]:.2f})" for m in modes)
                + " of its mass; q(z|x) is one Gaussian, so it can cover one of them at most.")
    if gap_at_max > max(0.1, 4 * float(r["iwae"]["stderr"][-1])):
        st.info(f"Even K = 5000 leaves {gap_at_max:.2f} nats below log p(x): q(z|x) covers little of the true "
                "posterior (see the heatmap), so its samples rarely land where p(z|x) has its mass.")
    qs = {"q(z|x), the encoder's": (r["mu"], r["logvar"]), "q*, the best Gaussian": (r["mu_best"], r["logvar_best"])}
    box = ((r["axes"][0][0], r["axes"][0][-1]), (r["axes"][1][0], r["axes"][1][-1]))
    c1, c2 = st.columns(2)
    with c1:
        plot(latent_overview(encode(model, test.x).mu.numpy(), test.y.numpy(), qs, box,
                             "q(z|x) over the test codes and the prior"), key="overview")
    with c2:
        plot(posterior_heatmap(r["axes"], r["log_density"], qs, "True posterior: log p(z|x) on the grid, under q"),
             key="posterior")
else:
    st.caption(f"With {model.config.latent_dim} latent dimensions p(x) cannot be integrated on a grid: the ELBO is "
               f"a Monte-Carlo estimate (± {2 * r['elbo_stderr']:.2f}), and the IWAE bound is the best estimate here.")
    plot(posterior_bars(r["mu"], r["logvar"], "q(z|x) per latent dimension, over the prior"), key="bars")

idx, _ = drawn.nearest(model.likelihood.prepare(x), model.likelihood.prepare(train.x), 8)
rows = [*pictures.as_images(x, model.likelihood), *pictures.reconstructions(model, x),
        *drawn.posterior_draws(model, x, 6, seed).numpy(), *pictures.as_images(train.x[idx], model.likelihood)]
plot(figures.image_grid(rows, 8, "The drawing (as the model sees it), its reconstruction and 6 draws of "
                                 "z ~ q(z|x) decoded; the 8 nearest training images",
                        row_labels=["x, recon, draws", "nearest"]), key="images")

st.subheader("The same drawing, to other models")
c1, c2 = st.columns(2)
if pretrained_available("pixelcnn-digits"):
    done = given_to("pixelcnn-digits", x.numpy(), seed)
    with c1:
        plot(figures.image_grid([done["observed"][0], *[done[f"draw {d}"][0] for d in range(1, 5)]], 5,
                                "PixelCNN: the top half kept, the bottom sampled pixel by pixel"), key="pixelcnn")
if pretrained_available("mvae-poe-digits"):
    given = given_to("mvae-poe-digits", x.numpy(), seed)
    with c2:
        plot(figures.image_grid(given["whole"].numpy(), 4, "Multimodal VAE (PoE), given the drawn top half: "
                                                           "bottoms drawn from q(z | top)"), key="mvae")
        plot(figures.bar_chart([str(d) for d in range(10)], given["label"].tolist(), "Its label, p(y | top)",
                               ylabel="probability", height=200), key="mvae_label")
