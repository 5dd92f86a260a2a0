"""A catalogue of bad input: each case gets one clear message and nothing crashes.

Families: URL parameters on several pages (garbage, out of range, huge), command-line arguments
(exit code 2, one line on stderr), checkpoints (truncated, wrong shapes, pickle, records missing keys),
uploads (wrong shape, NaN, huge, not an image), diverging training (lr 10) and saves that fail midway.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from genlib import checkpoints
from genlib.__main__ import USAGE_ERROR, main
from genlib.checkpoints import CheckpointError
from genlib.models import build
from genlib.train import TrainingRun

ROOT = Path(__file__).resolve().parent.parent
HUGE = "9" * 400  # beyond any float: Streamlit's own parsers overflow on it

# ------------------------------------------------------------------------------------ URL parameters

# (page, query params, widget kind, widget key): the widget must end up with a value it allows.
URL_CASES = [
    ("10_elbo", {"latent": "abc"}, "slider", "latent"),
    ("10_elbo", {"latent": "-7"}, "slider", "latent"),
    ("10_elbo", {"latent": HUGE}, "slider", "latent"),
    ("10_elbo", {"beta": "nan"}, "slider", "beta"),
    ("10_elbo", {"data": "../../etc/passwd"}, "selectbox", "data"),
    ("10_elbo", {"schedule": "sideways", "steps": "7"}, "radio", "schedule"),
    ("10_elbo", {"seed": HUGE}, "number_input", "seed"),
    ("10_elbo", {"seed": "-1"}, "number_input", "seed"),
    ("10_elbo", {"lr": "1e9"}, "select_slider", "lr"),
    ("10_elbo", {"latent": ["3", "4"]}, "slider", "latent"),
    ("20_latent_space", {"projection": "<script>", "steps": "1e6"}, "slider", "steps"),
    ("30_annealing_lab", {"lineup": "nonsense"}, "selectbox", "lineup"),
    ("40_objectives", {"beta": "inf", "alpha": "-1e308"}, "slider", "beta"),
    ("45_mmd_playground", {"n": "0", "shift": HUGE, "bandwidth": "zero"}, "slider", "n"),
    ("50_product_of_experts", {"dims": "3-D", "given": ["nothing", "top"], "samples": "999"}, "slider",
     "samples"),
    ("60_pixelcnn", {"pc_kernel": "11x11", "pc_colours": "purple"}, "radio", "pc_kernel"),
    ("70_hierarchical_vae", {"hv_layers": "99", "hv_lr": "-3"}, "radio", "hv_layers"),
]


def _page(stem: str) -> str:
    path = ROOT / "pages" / f"{stem}.py"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this checkout")
    return str(path)


def _allowed(widget) -> bool:
    """Whether a widget's value is one it offers (options, or min..max for numbers)."""
    proto, value = widget.proto, widget.value
    if hasattr(proto, "options") and len(proto.options):
        options = list(proto.options)
        values = value if isinstance(value, list | tuple) else [value]
        return all(str(v) in options or any(str(v) == o or _num_eq(v, o) for o in options) for v in values)
    low = getattr(proto, "min", None)
    high = getattr(proto, "max", None)
    values = value if isinstance(value, list | tuple) else [value]
    return all(np.isfinite(float(v)) and (low is None or low <= v) and (high is None or v <= high) for v in values)


def _num_eq(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("stem, params, kind, key", URL_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in URL_CASES])
def test_bad_url_parameters_fall_back_without_a_traceback(stem, params, kind, key):
    at = AppTest.from_file(_page(stem), default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, f"{stem} with {params}: {at.exception[0].value if at.exception else ''}"
    widget = getattr(at, kind)(key=key)
    assert _allowed(widget), f"{stem}: {key} took {widget.value!r} from {params}"


def test_bad_annealing_strategies_are_one_clear_error():
    at = AppTest.from_file(_page("30_annealing_lab"), default_timeout=60)
    at.query_params["lineup"] = "Custom"
    at.query_params["custom"] = "cyclical:n_cycles=abc; ;;warp:9"
    at.run()
    assert not at.exception
    if at.selectbox(key="lineup").value != "Custom":
        pytest.skip("the annealing lab names its custom line-up otherwise")
    assert at.error and "Cannot read the strategies" in at.error[0].value


# ------------------------------------------------------------------------------- command line

CLI_CASES = [
    ["train", "--steps", "0", "--out", "x.safetensors"],
    ["train", "--steps", "many", "--out", "x.safetensors"],
    ["train", "--lr", "-1", "--out", "x.safetensors"],
    ["train", "--lr", "inf", "--out", "x.safetensors"],
    ["train", "--hidden", "256,,-3", "--out", "x.safetensors"],
    ["train", "--data", "imagenet", "--out", "x.safetensors"],
    ["train", "--model", "gpt", "--out", "x.safetensors"],
    ["train", "--schedule", "sideways:ratio=2", "--steps", "5", "--out", "x.safetensors"],
    ["train", "--steps", "5"],  # no --out
    ["evaluate", "no/such/checkpoint.safetensors"],
    ["pretrained", "build", "no-such-recipe"],
    ["frobnicate"],
    [],
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=lambda a: " ".join(a) or "no-args")
def test_bad_cli_arguments_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == USAGE_ERROR, err
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("genlib: error:"), err
    assert not list(tmp_path.iterdir()), "a failed command writes nothing"


def test_the_real_process_exits_2_with_one_line():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "genlib", "train", "--lr", "ten", "--out", "x.safetensors"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == USAGE_ERROR
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "ten" in done.stderr


# -------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    from genlib.data import load_dataset

    shape = load_dataset("digits", "train", seed=0).shape
    model = build("vae", shape, seed=0, latent_dim=4, hidden=(32,))
    return checkpoints.save(model, tmp_path_factory.mktemp("ckpt") / "good.safetensors", data="digits")


def _truncated(good, path):
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _pickle(good, path):
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))


def _empty(good, path):
    path.write_bytes(b"")


def _random_bytes(good, path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _no_record(good, path):
    save_file({"w": torch.zeros(2)}, str(path))


def _record(meta_edit):
    def write(good, path):
        meta = checkpoints.read_meta(good)
        meta_edit(meta)
        save_file({k: v for k, v in checkpoints.load(good).state_dict().items()}, str(path),
                  metadata={checkpoints.META_KEY: json.dumps(meta)})
    return write


def _wrong_shapes(good, path):
    weights = checkpoints.load(good).state_dict()
    name = next(iter(weights))
    weights[name] = torch.zeros(3, 3)
    save_file(weights, str(path), metadata={checkpoints.META_KEY: json.dumps(checkpoints.read_meta(good))})


def _corrupt_json(good, path):
    save_file({"w": torch.zeros(2)}, str(path), metadata={checkpoints.META_KEY: "{not json"})


def _directory(good, path):
    path.mkdir()


CHECKPOINT_CASES = {
    "truncated": (_truncated, "not a readable"),
    "pickle-renamed": (_pickle, "not a readable"),
    "empty": (_empty, "not a readable"),
    "random-bytes": (_random_bytes, "not a readable"),
    "no-genlab-record": (_no_record, "not a genlab checkpoint"),
    "record-missing-config": (_record(lambda m: m.pop("config")), "lacks config"),
    "record-missing-model-and-shape": (_record(lambda m: (m.pop("model"), m.pop("data_shape"))), "lacks model"),
    "record-unknown-model": (_record(lambda m: m.update(model="no-such-model")), "cannot rebuild"),
    "record-other-latent-dim": (_record(lambda m: m["config"].update(latent_dim=7)), "shape"),
    "wrong-weight-shape": (_wrong_shapes, "shape"),
    "corrupt-json": (_corrupt_json, "corrupt"),
    "a-directory": (_directory, "no checkpoint"),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_bad_checkpoints_raise_one_clear_checkpoint_error(case, good_checkpoint, tmp_path, capsys):
    write, fragment = CHECKPOINT_CASES[case]
    path = tmp_path / "bad.safetensors"
    write(good_checkpoint, path)
    with pytest.raises(CheckpointError) as error:
        checkpoints.load(path)
    message = str(error.value)
    assert fragment in message and str(path) in message and "\n" not in message, message
    assert main(["evaluate", str(path)]) == USAGE_ERROR  # the CLI says the same in one line
    assert capsys.readouterr().err.strip() == f"genlib: error: {message}"


# -------------------------------------------------------------------------------------- uploads

try:
    from genlib import uploads
except ImportError:  # the uploads family needs genlib/uploads.py
    uploads = None


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("a.png", b"this is not a png")
    return buffer.getvalue()


images = np.random.default_rng(0).integers(0, 256, (40, 8, 8)).astype(np.float32)
UPLOAD_CASES = {
    "wrong-shape-4d": ("x.npz", lambda: _npz(x=np.zeros((40, 3, 8, 8, 2)))),
    "not-square": ("x.npz", lambda: _npz(x=np.zeros((40, 8, 6)))),
    "nan": ("x.npz", lambda: _npz(x=np.where(images > 250, np.nan, images))),
    "infinite": ("x.npz", lambda: _npz(x=np.where(images > 250, np.inf, images))),
    "too-few": ("x.npz", lambda: _npz(x=images[:3])),
    "huge-side": ("x.npz", lambda: _npz(x=np.zeros((20, 128, 128), np.uint8))),
    "huge-file": ("x.npz", lambda: b"\0" * (uploads.MAX_BYTES + 1)),
    "not-an-image": ("x.zip", _zip_of_text),
    "text-as-npz": ("x.npz", lambda: b"hello, I am a text file"),
    "empty": ("x.csv", lambda: b""),
    "wrong-extension": ("x.exe", lambda: b"MZ\x90\x00"),
    "labels-mismatch": ("x.npz", lambda: _npz(x=images, y=np.arange(3))),
    "object-array": ("x.npz", lambda: _npz(x=np.array([{"a": 1}] * 40, dtype=object))),
}


@pytest.mark.skipif(uploads is None, reason="genlib/uploads.py is not in this checkout")
@pytest.mark.parametrize("case", UPLOAD_CASES)
def test_bad_uploads_raise_one_clear_upload_error(case):
    filename, content = UPLOAD_CASES[case]
    with pytest.raises(uploads.UploadError) as error:
        uploads.read_upload(filename, content())
    message = str(error.value)
    assert 10 < len(message) < 300 and "Traceback" not in message, message


# ------------------------------------------------------------------------ training and saving


def test_diverging_training_stops_with_a_reason_and_keeps_finite_weights(digits):
    model = build("vae", digits.shape, seed=0, latent_dim=4, hidden=(64,))
    run = TrainingRun(model, digits, steps=300, batch_size=64, lr=10.0)
    while not run.done:
        run.advance(50)
    assert run.stopped and "learning rate" in run.stopped, run.stopped
    assert run.step < 300 and len(run.history) == run.step
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "interrupted"])
def test_a_failing_save_leaves_the_old_checkpoint_intact(failure, good_checkpoint, tmp_path, monkeypatch):
    path = tmp_path / "kept.safetensors"
    path.write_bytes(good_checkpoint.read_bytes())
    before = path.read_bytes()

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 64)
        raise failure

    monkeypatch.setattr(checkpoints, "save_file", half_written)
    other = build("vae", checkpoints.read_meta(path)["data_shape"], seed=1, latent_dim=4, hidden=(32,))
    with pytest.raises(type(failure)):
        checkpoints.save(other, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left behind"
    monkeypatch.undo()
    assert checkpoints.load(path).checkpoint["data"] == "digits"
