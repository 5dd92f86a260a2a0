"""Latent space — what a VAE's code has learned: projections, selections, traversals, interpolation and MIG."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import numpy as np
import streamlit as st

from genlib import latent, pictures
from genlib.metrics import factor_mutual_information, mig
from genlib.projections import METHODS, ProjectionUnavailable, project
from ui import figures, figures_latent
from ui.state import advanced, cached_dataset, cached_pretrained, plot, seed_input, show_error, trained_models


@st.cache_data(show_spinner="Projecting the codes…", max_entries=64)
def cached_projection(mu: np.ndarray, method: str, seed: int) -> np.ndarray:
    return project(mu, method, seed)


NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}  # the URL carries these labels
st.title("Latent space")
st.caption("Encode the test set, project the posterior means μ(x) to 2-D, and look at what each direction of "
           "the code decodes to. Select points on the scatter (click, box or lasso) to see them reconstructed.")
session = {name: m for name, m in trained_models().items() if latent.can_explore(m)}
choices = [*session, *latent.explorable_pretrained()]
if not choices:
    st.error("No model to explore: build the pretrained zoo (`python -m genlib pretrained build`) or train one.")
    st.stop()
with st.sidebar:
    name = st.selectbox("Model", choices, index=choices.index("vae-digits") if "vae-digits" in choices else 0,
                        key="model", bind="query-params", help="Models trained in this session come first.")
    method = st.radio("Projection", METHODS, horizontal=True, key="projection", bind="query-params",
                      format_func=NAMES.get)
    with advanced():
        low, high = st.slider("Traversal range", -5.0, 5.0, (-3.0, 3.0), 0.5, key="range", bind="query-params")
        steps = st.slider("Images per row", 3, 15, 9, key="steps", bind="query-params")
        seed = seed_input(label="Seed (test split and projection)")
try:
    model = session[name] if name in session else cached_pretrained(name)
    test = cached_dataset(latent.data_name(model), "test", seed)
    codes = latent.encode(model, test.x)
except Exception as e:  # noqa: BLE001 - a bad checkpoint or model: say so, never a traceback
    show_error(e, f"Cannot open {name}: ")
    st.stop()
colours = ["label", *test.factor_names[1:]]  # sprites' label is its first factor, the shape
by = st.sidebar.selectbox("Colour by", colours, key="colour", bind="query-params")
try:
    xy = cached_projection(codes.mu.numpy(), method, seed)
except ProjectionUnavailable as e:
    show_error(e)
    method, xy = "pca", cached_projection(codes.mu.numpy(), "pca", seed)

left, right = st.columns([3, 2])
with left:
    event = plot(figures_latent.latent_scatter(xy, latent.colour_values(test, by), by,
                                               f"{len(test)} test codes ({codes.mu.shape[1]}-D μ), {NAMES[method]}"),
                 key="scatter", on_select="rerun", selection_mode=("points", "box", "lasso"))
selected = figures_latent.selected_indices(event, limit=len(test))
with right:
    if selected:
        x = test.x[selected[:12]]
        plot(figures_latent.originals_and_reconstructions(pictures.as_images(x, model.likelihood),
                                                          pictures.reconstructions(model, x)), key="recons")
        st.caption(f"{len(selected)} selected" + (" (the first 12 shown)." if len(selected) > 12 else "."))
    else:
        st.info("Select points on the scatter to see the originals beside their reconstructions. The first two "
                "selected are the ends of the interpolation below and the first holds the traversals' code.")
a = selected[0] if selected else st.sidebar.number_input("Example A", 0, len(test) - 1, 0, key="a", bind="query-params")
b = selected[1] if len(selected) > 1 else st.sidebar.number_input("Example B", 0, len(test) - 1, 1, key="b",
                                                                   bind="query-params")

st.subheader("Traversals")
hold = st.radio("Hold the other dimensions at", ["example A's code", "0 (the prior mean)"], horizontal=True,
                key="hold", bind="query-params")
dims = codes.dims_by_kl[: st.slider("Dimensions shown (largest KL first)", 1, len(codes.dims_by_kl),
                                    min(8, len(codes.dims_by_kl)), key="dims", bind="query-params")]
images = latent.traverse(model, codes.code(a) if hold.startswith("example") else None, dims, low, high, steps)
plot(figures_latent.traversal_grid(images.numpy(), dims, codes.kl_of(dims), low, high), key="traversals")
st.caption("KL: the dimension's mean KL(q(z_d | x) ‖ N(0, 1)) over the test set, nats. A dimension with KL ≈ 0 "
           "carries nothing about x: its row does not change.")

if latent.latent_dim(model) == 2:
    grid, values = latent.manifold_grid(model, steps, max(abs(low), abs(high)))
    plot(figures_latent.manifold_figure(grid.numpy(), values.numpy()), key="manifold")

st.subheader(f"Interpolation from example {a} to example {b}")
st.latex(r"\text{linear: } z_t = (1-t)\,z_A + t\,z_B,\qquad t \in [0, 1]")
st.latex(r"\text{spherical: } z_t = \big((1-t)\lVert z_A\rVert + t\lVert z_B\rVert\big)\,"
         r"\frac{\sin((1-t)\Omega)\,\hat z_A + \sin(t\Omega)\,\hat z_B}{\sin\Omega},"
         r"\quad \cos\Omega = \hat z_A\cdot\hat z_B")
paths = latent.interpolation_paths(model, codes.code(a), codes.code(b), steps)
cols = st.columns([3, 2])
with cols[0]:
    plot(figures.image_grid(np.concatenate([paths["linear"][0], paths["spherical"][0]]), steps,
                            row_labels=["linear", "spherical"]), key="interpolation")
with cols[1]:
    plot(figures.line_chart({m: (np.linspace(0, 1, steps), norm) for m, (_, norm) in paths.items()},
                            "‖z‖ along the path", xlabel="t", ylabel="‖z‖", height=220), key="norms")

if test.factors is not None:
    st.subheader("Disentanglement: which dimension knows which factor")
    st.latex(r"\mathrm{MIG} = \frac{1}{K}\sum_{k=1}^{K}\frac{I(z_{j^{(1)}_k}; v_k) - I(z_{j^{(2)}_k}; v_k)}{H(v_k)}")
    mi = factor_mutual_information(codes.mu, test.factors, normalized=True)
    cols = st.columns([3, 1])
    with cols[0]:
        plot(figures.heatmap(mi, x=list(test.factor_names), y=[f"z{d}" for d in range(len(mi))], zmin=0, zmax=1,
                             title="I(z_d; v_k) / H(v_k)", colorbar_title="share", height=120 + 28 * len(mi)),
             key="mi")
    cols[1].metric("MIG (test set)", f"{mig(codes.mu, test.factors):.3f}")
    cols[1].caption(f"Chen et al. (2018), Eq. 6; j⁽¹⁾, j⁽²⁾: the two dimensions most informative about factor v_k. "
                    f"μ(x) cut into 20 bins per dimension; plug-in estimates on "
                    f"{len(test)} examples, in nats before the division by H(v_k). Compare vae-sprites with "
                    "beta-vae-sprites (β = 4).")
