"""PixelCNN — masks A and B, the growing receptive field and its blind spot, gated PixelCNN, sampling pixel by pixel."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import pictures
from genlib.models import build
from genlib.models.pixelcnn import compare_fields, complete_halves, mask_pictures, sampling_frames
from genlib.train import TrainingRun
from ui import figures, live
from ui.figures_pixelcnn import mask_kernels, receptive_fields, sampling_animation
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

MODELS = {"PixelCNN": "pixelcnn", "Gated PixelCNN": "gated-pixelcnn"}

st.title("PixelCNN")
st.caption("An autoregressive model: p(x) = ∏ᵢ p(xᵢ | x₍<ᵢ₎) in raster order, every conditional computed at once by "
           "convolutions masked so that no output sees its own pixel or any later one (van den Oord et al. 2016).")
with st.sidebar:
    st.header("Settings")
    kernel = st.radio("Kernel size k", [3, 5], horizontal=True, key="pc_kernel", bind="query-params")
    seed = seed_input("pc_seed")
st.latex(r"\text{loss} = -\frac{1}{B}\sum_{b=1}^{B}\sum_{i=1}^{D}\log p_\theta\big(x_{b,i}\mid x_{b,<i}\big)"
         r"\ \ \text{nats per image},\qquad \text{bits/dim} = \frac{\text{loss}}{D\,\ln 2},\ D = C\,H\,W = 64")
st.caption("Summed over the 64 pixels of a binarised 8 × 8 digit (Bernoulli per pixel), averaged over the batch.")

st.subheader("1 · Masks A and B")
colours = st.radio("Colour channels", [1, 3], horizontal=True, key="pc_colours", bind="query-params",
                   help="With R, G, B each pixel is three steps: R sees nothing of its pixel, G sees R, "
                        "B sees R and G.")
plot(mask_kernels(mask_pictures(kernel, colours)), key="pc_masks")
st.caption("Blue: weights the mask lets through. Mask A (first layer) hides the centre, mask B (later layers) "
           "shows it, since by then the centre carries only the past. The gated model splits the kernel into a "
           "vertical stack (rows above) and a horizontal stack (left on the current row)."
           + (" Each kernel is a block of output (rows) × input (columns) channel pairs." if colours > 1 else ""))

st.subheader("2 · Receptive field and the blind spot")
a, b, c = st.columns(3)
row = a.slider("Pixel row", 0, 7, 5, key="pc_row", bind="query-params")
col = b.slider("Pixel column", 0, 7, 3, key="pc_col", bind="query-params")
depth = c.slider("Depth (masked layers)", 1, 8, 3, key="pc_depth", bind="query-params")
fields = compare_fields((row, col), depth, kernel_size=kernel, seed=seed)
plot(receptive_fields({f"PixelCNN, {depth} layers": (fields["pixelcnn"], fields["pixelcnn blind_spot"]),
                       f"Gated PixelCNN, {depth} layers": (fields["gated-pixelcnn"],
                                                            fields["gated-pixelcnn blind_spot"])}, (row, col)),
     key="pc_fields")
m1, m2, m3 = st.columns(3)
m1.metric("Pixels seen: PixelCNN", int(fields["pixelcnn"].sum()))
m2.metric("Pixels seen: gated", int(fields["gated-pixelcnn"].sum()))
m3.metric("Blind spot (PixelCNN)", int(fields["pixelcnn blind_spot"].sum()))
st.caption("Measured by gradients of the output at the pixel with respect to the input, on random images and "
           f"weights; composing the masks gives {'the same maps' if fields['analytic_agrees'] else 'DIFFERENT maps'}. "
           "Red-orange: past pixels within reach that the plain PixelCNN can never see, however it is trained.")

st.subheader("3 · Sampling and completion (pretrained on digits)")
s1, s2, s3 = st.columns(3)
label = s1.radio("Model", list(MODELS), horizontal=True, key="pc_model", bind="query-params")
n_samples = s2.select_slider("Samples", [4, 8, 16, 32], 16, key="pc_n", bind="query-params")
half = s3.radio("Observed half", ["top", "left"], horizontal=True, key="pc_half", bind="query-params")
name = f"{MODELS[label]}-digits"


@st.cache_data(show_spinner="Drawing pixel by pixel…", max_entries=16)
def frames_and_completions(name, n, half, seed):
    model, test = cached_pretrained(name), cached_dataset("digits", "test", 0)
    return sampling_frames(model, n, seed), complete_halves(model, test.x[:8], half=half, seed=seed)


if pretrained_available(name):
    frames, completed = frames_and_completions(name, n_samples, half, seed)
    bits = cached_pretrained(name).checkpoint["metrics"]["bits_per_dim"]
    left, right = st.columns(2)
    with left:
        plot(sampling_animation(frames, 8, f"{n_samples} samples, one pixel per frame (press ▶)"), key="pc_anim")
    with right:
        plot(figures.image_grid([im for rows in completed.values() for im in rows], 8,
                                f"Completing the {half} half", row_labels=list(completed)), key="pc_complete")
    st.caption(f"{label}: {bits:.3f} bits/dim on the test digits. A pixel is drawn from p(xᵢ | x₍<ᵢ₎); "
               "observed pixels after it in raster order cannot inform it (a PixelCNN only looks back).")
else:
    st.info(f"The pretrained model {name} is not built yet: `python -m genlib pretrained build {name}`.")

st.subheader("4 · Train both live on binarised digits")
with advanced("Training settings"):
    t1, t2, t3 = st.columns(3)
    steps = t1.select_slider("Steps", [200, 500, 1000, 2000], 500, key="pc_steps", bind="query-params")
    channels = t2.select_slider("Channels", [8, 16, 32], 16, key="pc_channels", bind="query-params")
    n_layers = t3.slider("Layers", 1, 8, 4, key="pc_layers", bind="query-params")
train_set = cached_dataset("digits", "train", seed)


def make_runs():
    return {label: TrainingRun(build(model, train_set.shape, seed=seed, channels=channels, n_layers=n_layers,
                                     kernel_size=kernel), train_set, steps=steps, batch_size=64, lr=2e-3, seed=seed,
                               device=device())
            for label, model in MODELS.items()}


live.live_controls("pixelcnn", make_runs, (steps, channels, n_layers, kernel, seed))


def draw(runs):
    if runs is None:
        st.info("Press **Train** to train a PixelCNN and a gated PixelCNN side by side (same depth and kernel).")
        return
    try:
        curves = {f"{k} (batch)": pictures.series(r.history, "bits_per_dim") for k, r in runs.items()}
        plot(figures.line_chart(curves, "Training NLL", ylabel="bits per dimension"), key="pc_curve")
    except (ValueError, RuntimeError) as e:
        show_error(e)


live.live_fragment("pixelcnn", draw)
