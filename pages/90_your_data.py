"""Your data — upload your own images (.npz, CSV or a zip of PNGs) and use them on every page like the built-in sets;
load a model you trained before (a .safetensors checkpoint, checked as the command line checks it)."""

from ui.coldstart import through_app

through_app()  # first, before the imports below: a fresh server may run this page without app.py

import streamlit as st

from genlib import checkpoints, pictures, uploads
from genlib.metrics import evaluate
from genlib.models import build
from genlib.train import TrainingRun
from ui import figures, live
from ui.state import add_upload, dataset_select, device, get_dataset, plot, seed_input, show_error, words
from ui.state import uploads as session_uploads

CHECKPOINT_MB = 64  # the largest checkpoint this page takes (genlab's own are under 5 MB)

st.title("Your data")
st.caption(words("Gray square images, 4 to 64 pixels a side, 20 to 20,000 of them (at most 16.8 million pixels "
                 "in all: 20,000 of 28 x 28, 4,096 of 64 x 64), values 0-255 or 0-1. "
                 "**.npz**: an array `x` (N x H x W) and optionally `y` (N integer labels). **.csv**: one image "
                 "per row, H·W numbers, optionally a `label` column. **.zip**: PNG files; a folder named by a "
                 "number (`3/a.png`) is the label. Uploads stay in this browser session only.",
                 "Upload gray square images: .npz, .csv or a zip of PNGs."))

left, right = st.columns([3, 1])
file = left.file_uploader("Upload a data set", type=list(uploads.FORMATS), key="upload",
                          max_upload_size=uploads.MAX_BYTES // 2**20)
right.download_button("Example .npz (200 digits)", data=uploads.example_npz, file_name="digits-example.npz",
                      on_click="ignore", icon=":material/download:", help="The format this page reads best.")

if file is not None:
    parsed = st.session_state.setdefault("upload_parsed", {})
    if file.file_id not in parsed:
        try:
            parsed[file.file_id] = add_upload(uploads.read_upload(file.name, file.getvalue()))
        except uploads.UploadError as e:
            parsed[file.file_id] = e
    result = parsed[file.file_id]
    if isinstance(result, Exception):
        show_error(result, f"{file.name}: ")
    else:
        st.success(f"Added **{result}**: {session_uploads()[result].describe()}. Pick it from the Data menu of "
                   "any page that trains on images.", icon=":material/check_circle:")

if not session_uploads():
    st.info("No data uploaded yet. Try the example file, or below train on a built-in set.")

with st.sidebar:
    st.header("Settings")
    data_name = dataset_select("data", allowed=("digits", "sprites"))
    steps = st.select_slider("Training steps", [200, 500, 1000, 2000], 500, key="steps", bind="query-params")
    seed = seed_input()

try:
    train_set = get_dataset(data_name, "train", seed)
except ValueError as e:
    show_error(e)
    st.stop()
upload = session_uploads().get(data_name)
cols = st.columns(4)
cols[0].metric("Training images", f"{len(train_set):,}")
cols[1].metric("Image size", " x ".join(map(str, train_set.shape[1:])))
cols[2].metric("Gray levels", train_set.levels)
cols[3].metric("Labelled", "yes" if train_set.y is not None else "no")
plot(figures.image_grid(pictures.as_images(train_set.x[:32]), 16, f"{data_name}: the first training images"),
     key="preview")
if upload and upload.label_counts():
    counts = upload.label_counts()
    plot(figures.bar_chart(list(map(str, counts)), list(counts.values()), "Images per label", ylabel="images"),
         key="labels")

st.subheader("A quick VAE on it")
st.caption(words("The ELBO & β page's VAE (latent 8, MLP 128-128, Bernoulli on the image binarised at 0.5), "
                 "trained on this set's train split: a check that the data learns. Nats per image.",
                 "A small VAE on this set (nats per image)."))


def make_runs():
    model = build("vae", train_set.shape, seed=seed, latent_dim=8, hidden=(128, 128), likelihood="bernoulli")
    return {"vae": TrainingRun(model, train_set, steps=steps, batch_size=64, lr=1e-3, seed=seed, device=device())}


def draw(runs):
    if runs is None:
        return
    run = runs["vae"]
    a, b = st.columns(2)
    with a:
        plot(figures.line_chart({"ELBO (batch)": pictures.series(run.history, "elbo")}, "ELBO",
                                ylabel="nats per image"), key="elbo")
    with b:
        shown = train_set.x[:8]
        grid = [*pictures.as_images(shown, run.model.likelihood), *pictures.reconstructions(run.model, shown)]
        plot(figures.image_grid(grid, 8, "Images (top) and reconstructions"), key="recons")


live.live_controls("your-data", make_runs, (data_name, id(upload), steps, seed))
live.live_fragment("your-data", draw)


st.subheader("A model you trained before")
st.caption(words("A .safetensors checkpoint from `python -m genlib train` or a live page's download. It is checked "
                 "as the command line checks it (its record, every size, every weight) before anything is built, "
                 "then scored on this set's test split when its data shape matches.",
                 "Load a .safetensors checkpoint you trained before."))
ckpt = st.file_uploader("Load a checkpoint", type=["safetensors"], key="checkpoint",
                        max_upload_size=CHECKPOINT_MB)
if ckpt is not None:
    if st.session_state.get("checkpoint_loaded", (None,))[0] != ckpt.file_id:  # one model kept per session
        try:
            result = checkpoints.load_bytes(ckpt.getvalue(), label=ckpt.name, device=device())
        except checkpoints.CheckpointError as e:
            result = e
        st.session_state.checkpoint_loaded = (ckpt.file_id, result, {})
    _, mine, scores = st.session_state.checkpoint_loaded
    if isinstance(mine, Exception):
        show_error(mine)
    else:
        trained_on = mine.checkpoint.get("data") or "a set it does not name"
        st.success(f"Loaded **{mine.checkpoint['model']}** ({mine.n_parameters():,} parameters) for data of shape "
                   f"{' x '.join(map(str, mine.data_shape))}, trained on {trained_on}.", icon=":material/check_circle:")
        if tuple(mine.data_shape) != tuple(train_set.shape):
            st.info(f"It models data of shape {tuple(mine.data_shape)}; {data_name} is {tuple(train_set.shape)}. "
                    "Pick a set of its shape in the sidebar to score it.")
        else:
            if data_name not in scores:
                scores[data_name] = evaluate(mine, get_dataset(data_name, "test", seed), k=10, max_examples=500)
            score = scores[data_name]
            shown = [(k, v) for k, v in score.items() if k in ("elbo", "nll_iwae", "kl", "bits_per_dim")]
            for col, (k, v) in zip(st.columns(len(shown)), shown, strict=True):
                col.metric(f"{k} on {data_name} (test)", f"{v:.2f}", help=score.get("unit"))
            if len(mine.data_shape) == 3:
                plot(figures.image_grid(pictures.prior_samples(mine, 16, seed), 16, "Samples from your model"),
                     key="checkpoint_samples")
