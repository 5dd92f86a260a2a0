"""MMD playground — how maximum mean discrepancy compares two point clouds: kernels, bandwidth, biased vs unbiased."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib.objectives import KERNELS, mmd_across_bandwidths, mmd_terms
from genlib.priors import two_clouds
from ui import figures
from ui.figures_objectives import bandwidth_curve
from ui.figures_objectives import two_clouds as clouds_figure
from ui.state import plot, seed_input, show_error

BANDWIDTHS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)

st.title("MMD playground")
st.caption("MMD asks whether two samples come from one distribution by comparing average kernel similarities: "
           "within x, within y, and across. InfoVAE and MMD-VAE use it to pull the codes q(z) toward the prior p(z).")

with st.sidebar:
    st.header("Two clouds")
    n = st.slider("Points per cloud", 5, 150, 100, 5, key="n", bind="query-params")
    shift = st.slider("Shift of y along z₁", 0.0, 4.0, 1.0, 0.1, key="shift", bind="query-params")
    scale = st.slider("Scale of y", 0.2, 3.0, 1.0, 0.1, key="scale", bind="query-params")
    kernel = st.radio("Kernel", KERNELS, horizontal=True, key="kernel", bind="query-params",
                      help="imq: inverse multiquadric, heavy tails (WAE, InfoVAE). rbf: Gaussian, light tails.")
    bandwidth = st.select_slider("Bandwidth σ", BANDWIDTHS, 1.0, key="bandwidth", bind="query-params")
    seed = seed_input()

st.latex(r"\widehat{\mathrm{MMD}}^2_u = \frac{1}{N(N-1)}\sum_{i\ne j} k(x_i,x_j) + \frac{1}{M(M-1)}\sum_{i\ne j} "
         r"k(y_i,y_j) - \frac{2}{NM}\sum_{i,j} k(x_i,y_j)")
st.latex(r"k_{\text{imq}}(a,b) = \frac{h}{h + \lVert a-b\rVert^2},\quad k_{\text{rbf}}(a,b) = "
         r"e^{-\lVert a-b\rVert^2/h},\quad h = 2D\sigma^2 \;(D = 2)")
st.caption("x ~ N(0, I), y ~ N((shift, 0), scale² I). The biased estimate keeps the i = j terms (always ≥ 0, "
           "inflated by about k(0)(1/N + 1/M)); the unbiased one drops them, so its mean is the true MMD², and a "
           "single estimate can be negative when the clouds come from one distribution. Unitless.")

try:
    x, y = two_clouds(n, shift=shift, scale=scale, seed=seed)
    terms = mmd_terms(x, y, kernel, bandwidth=bandwidth)
    sweep = mmd_across_bandwidths(x, y, kernel, BANDWIDTHS)
except ValueError as e:
    show_error(e)
    st.stop()

cols = st.columns(5)
cols[0].metric("MMD² unbiased", f"{terms['unbiased']:.4f}")
cols[1].metric("MMD² biased", f"{terms['biased']:.4f}")
cols[2].metric("mean k(x, x′)", f"{terms['xx']:.3f}")
cols[3].metric("mean k(y, y′)", f"{terms['yy']:.3f}")
cols[4].metric("mean k(x, y)", f"{terms['xy']:.3f}")

left, right = st.columns(2)
with left:
    plot(clouds_figure(x.numpy(), y.numpy(), "The two samples"), key="clouds")
with right:
    labels = [f"x{i}" for i in range(n)] + [f"y{i}" for i in range(n)]
    plot(figures.heatmap(terms["kernel_matrix"].numpy(), labels, labels, "Kernel matrix of [x; y]",
                         colorbar_title="k", height=340), key="kernel_matrix")
    st.caption("Top-left block: within x; bottom-right: within y; off-diagonal blocks: across. "
               "MMD² is large when the within-blocks are brighter than the across-blocks.")
plot(bandwidth_curve(sweep["bandwidth"], sweep["biased"], sweep["unbiased"], bandwidth,
                     "MMD² against the bandwidth (same clouds)"), key="bandwidth_curve")
st.caption("A tiny σ makes every point unlike every other (k ≈ 0 off the diagonal): the unbiased MMD² falls to "
           "0 and the biased one to its diagonal floor. A huge σ makes all points alike: both fall to 0. "
           "Summing several bandwidths (multi-scale, as genlib's InfoVAE does) hedges between them.")
