"""Your own data: every malformed upload gets its own message; a good one becomes a Dataset that trains."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from genlib import uploads
from genlib.models import build
from genlib.train import fit
from genlib.uploads import UploadError, read_upload


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def csv_bytes(rows, header=None) -> bytes:
    lines = ([",".join(header)] if header else []) + [",".join(str(v) for v in row) for row in rows]
    return "\n".join(lines).encode()


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


RNG = np.random.default_rng(0)
GOOD = RNG.integers(0, 256, (40, 8, 8))  # 40 gray images of 8 x 8, values 0-255
LABELS = np.arange(40) % 4


# --------------------------------------------------------------------------- good uploads, three formats


def test_npz_0_255_becomes_images_in_0_1_with_256_levels_and_a_seeded_split():
    up = read_upload("mine.npz", npz(x=GOOD, y=LABELS))
    assert up.x.shape == (40, 1, 8, 8) and up.x.dtype == np.float32
    assert up.x.min() >= 0 and up.x.max() <= 1 and up.levels == 256 and up.source == "npz"
    np.testing.assert_allclose(up.x[:, 0] * 255, GOOD, atol=1e-4)
    train, test = up.split("train", seed=3), up.split("test", seed=3)
    assert (len(train), len(test)) == (32, 8) and train.shape == (1, 8, 8) and train.levels == 256
    assert train.y.dtype == torch.int64 and train.name == "mine"
    # aligned labels: each image keeps its own label through the permutation
    row = int(np.flatnonzero((up.x[:, 0] == train.x[0, 0].numpy()).all(axis=(1, 2)))[0])
    assert train.y[0].item() == LABELS[row]
    assert torch.equal(up.split("test", seed=3).x, test.x), "same seed, same split"
    assert not torch.equal(up.split("test", seed=4).x, test.x)


@pytest.mark.parametrize("x, levels", [
    ((GOOD > 127).astype(np.float32), 2),  # binary
    (np.round(GOOD / 255 * 16) / 16, 17),  # like the digits: 0, 1/16, ..., 1
    (GOOD / 255.0, 256),
])
def test_gray_levels_of_0_1_data_are_detected(x, levels):
    assert read_upload("a.npz", npz(x=x)).levels == levels


@pytest.mark.parametrize("layout", [lambda x: x[:, None], lambda x: x[..., None], lambda x: x.reshape(40, 64)])
def test_npz_layouts_n_1_h_w_and_n_h_w_1_and_flattened_are_accepted(layout):
    assert read_upload("a.npz", npz(x=layout(GOOD))).x.shape == (40, 1, 8, 8)


def test_csv_with_a_label_column_and_without_a_header():
    header = ["label", *[f"p{i}" for i in range(64)]]
    up = read_upload("d.csv", csv_bytes([[y, *x.ravel()] for x, y in zip(GOOD, LABELS, strict=True)], header))
    assert up.x.shape == (40, 1, 8, 8) and (up.y == LABELS).all()
    plain = read_upload("d.csv", csv_bytes([x.ravel() for x in GOOD]))
    assert plain.y is None and np.allclose(plain.x, up.x)


def test_zip_of_pngs_with_class_folders_as_labels():
    files = {f"{y}/img{i:02d}.png": png(x) for i, (x, y) in enumerate(zip(GOOD, LABELS, strict=True))}
    up = read_upload("p.zip", zip_of(files))
    assert up.x.shape == (40, 1, 8, 8) and up.levels == 256 and sorted(set(up.y)) == [0, 1, 2, 3]
    flat = read_upload("p.zip", zip_of({f"img{i:02d}.png": png(x) for i, x in enumerate(GOOD)}))
    assert flat.y is None


def test_a_good_upload_trains_a_vae_a_few_steps():
    train = read_upload("mine.npz", npz(x=GOOD, y=LABELS)).split("train", seed=0)
    model = build("vae", train.shape, seed=0, latent_dim=2, hidden=(32,), likelihood="categorical",
                  levels=train.levels)
    records = list(fit(model, train, steps=20, batch_size=16, seed=0))
    assert len(records) == 20 and all(np.isfinite(r["loss"]) for r in records)


# --------------------------------------------------------------------------- one message per problem


def _bad_zip():
    return zip_of({"a.png": png(GOOD[0]), "b.png": png(np.zeros((16, 16)))})


MALFORMED = {
    "unsupported type": ("data.txt", b"1,2,3", "not a supported file"),
    "empty file": ("a.npz", b"", "is empty"),
    "not an npz": ("a.npz", b"hello world", "not a readable .npz"),
    "npy renamed": ("a.npz", b"\x93NUMPY" + b"\0" * 20, "single .npy"),
    "no x": ("a.npz", npz(images=GOOD), "no array named 'x'"),
    "object array": ("a.npz", None, "Python objects"),
    "strings": ("a.npz", npz(x=np.array([["a"] * 64] * 40)), "must be numbers"),
    "colour": ("a.npz", npz(x=RNG.integers(0, 256, (40, 3, 8, 8))), "only gray images"),
    "wrong ndim": ("a.npz", npz(x=np.zeros(100)), "expected N x H x W"),
    "not square": ("a.npz", npz(x=RNG.integers(0, 256, (40, 8, 10))), "must be square"),
    "flat not square": ("a.npz", npz(x=RNG.integers(0, 256, (40, 60))), "not a square number"),
    "too small": ("a.npz", npz(x=RNG.integers(0, 256, (40, 2, 2))), "sides from 4 to 64"),
    "too large": ("a.npz", npz(x=np.zeros((40, 100, 100), np.uint8)), "downscale"),
    "too few": ("a.npz", npz(x=GOOD[:5]), "at least 20"),
    "too many": ("a.npz", npz(x=np.zeros((20_001, 4, 4), np.uint8)), "the limit is 20,000"),
    "nan": ("a.npz", npz(x=np.where(GOOD == GOOD[0, 0, 0], np.nan, GOOD / 255)), "NaN or infinite"),
    "inf": ("a.npz", npz(x=np.where(GOOD == GOOD[0, 0, 0], np.inf, GOOD / 255)), "NaN or infinite"),
    "negative": ("a.npz", npz(x=GOOD - 10.0), "must lie in 0-255 or in 0-1"),
    "above 255": ("a.npz", npz(x=GOOD * 2.0), "must lie in 0-255 or in 0-1"),
    "labels misaligned": ("a.npz", npz(x=GOOD, y=LABELS[:-1]), "39 labels for 40 images"),
    "labels fractional": ("a.npz", npz(x=GOOD, y=LABELS + 0.5), "whole numbers"),
    "labels nan": ("a.npz", npz(x=GOOD, y=np.where(LABELS == 0, np.nan, LABELS)), "whole numbers"),
    "labels negative": ("a.npz", npz(x=GOOD, y=LABELS - 1), "classes 0 to"),
    "labels 2-d": ("a.npz", npz(x=GOOD, y=np.zeros((40, 3))), "one label per image"),
    "labels text": ("a.npz", npz(x=GOOD, y=np.array(["a"] * 40)), "labels must be integers"),
    "csv ragged": ("a.csv", csv_bytes([list(range(64))] * 30 + [list(range(63))]), "Row 31 of the .csv has 63"),
    "csv not a number": ("a.csv", csv_bytes([list(range(64))] * 2 + [["x"] * 64]), "Row 3, column 1"),
    "csv header only": ("a.csv", b"a,b,c\n", "header but no images"),
    "csv not utf-8": ("a.csv", b"\xff\xfe\x00\x81", "not UTF-8"),
    "zip unreadable": ("a.zip", b"PK\x03\x04 broken", "not a readable .zip"),
    "zip without pngs": ("a.zip", zip_of({"readme.txt": b"hi"}), "no .png"),
    "zip broken png": ("a.zip", zip_of({"a.png": b"not a png"}), "'a.png' in the .zip is not a readable PNG"),
    "zip unequal sizes": ("a.zip", None, "same size"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_each_malformed_upload_gets_its_own_clear_message(kind):
    filename, content, message = MALFORMED[kind]
    if kind == "object array":
        content = _object_npz()
    elif kind == "zip unequal sizes":
        content = _bad_zip()
    with pytest.raises(UploadError, match=message.replace("(", r"\(").replace(".", r"\.")) as info:
        read_upload(filename, content)
    assert "Traceback" not in str(info.value) and len(str(info.value)) < 300


def _object_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"a": 1}] * 40, dtype=object))
    return buffer.getvalue()


def test_size_cap(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_BYTES", 1000)
    with pytest.raises(UploadError, match="the limit is"):
        read_upload("a.npz", npz(x=GOOD))


def test_example_npz_round_trips():
    up = read_upload("example.npz", uploads.to_npz(GOOD, LABELS))
    assert len(up) == 40 and (up.y == LABELS).all() and "40 images of 8 x 8" in up.describe()


# --------------------------------------------------------------------------- the Your data page


def test_your_data_page_previews_an_upload_trains_on_it_and_explains_a_bad_file():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "90_your_data.py"),
                           default_timeout=30).run()
    assert not at.exception and at.info  # opens on the built-in digits, nothing uploaded
    at.file_uploader(key="upload").upload("mine.npz", npz(x=GOOD, y=LABELS)).run()
    assert "upload: mine" in at.success[0].value and "40 images of 8 x 8" in at.success[0].value
    at.selectbox(key="data").set_value("upload: mine").run()
    assert [m.value for m in at.metric] == ["32", "8 x 8", "256", "yes"]
    assert len(at.get("plotly_chart")) == 2  # the preview and images per label
    at.button(key="your-data-train").click().run()
    at.run()
    assert not at.exception and "training" in at.get("progress")[0].proto.text
    at.file_uploader(key="upload").upload("bad.csv", b"1,2\n3").run()
    assert not at.exception and "Row 2 of the .csv has 1 values" in at.error[0].value


# ------------------------------------------------------------ refused from what the file declares, before decoding


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(GOOD[0].astype(np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _truncated_npz() -> bytes:
    raw = npz(x=GOOD.astype(np.float64))
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        member = z.read("x.npy")
    return zip_of({"x.npy": member[: len(member) // 2]})


def _structured_npz() -> bytes:
    return npz(x=np.zeros(40, dtype=[("a", "f4"), ("b", "f4")]))


def _complex_npz() -> bytes:
    return npz(x=np.zeros((40, 8, 8), np.complex64))


DECLARED = {
    "jpeg named .png": ("a.zip", lambda: zip_of({f"{i}.png": _jpeg() for i in range(20)}), "not a readable PNG"),
    "png with a damaged header": ("a.zip", lambda: zip_of({"a.png": png(GOOD[0])[:20]}), "not a readable PNG"),
    "png 8 x 65 among 8 x 8": ("a.zip", lambda: zip_of({"a.png": png(GOOD[0]), "b.png": png(np.zeros((65, 8)))}),
                               "same size"),
    "png of 65 x 65": ("a.zip", lambda: zip_of({f"{i}.png": png(np.zeros((65, 65))) for i in range(20)}),
                       "downscale"),
    "npz cut short": ("a.npz", _truncated_npz, "cut short or damaged"),
    "npz structured": ("a.npz", _structured_npz, "must be numbers"),
    "npz complex": ("a.npz", _complex_npz, "must be numbers"),
    "npz x.npy not an npy": ("a.npz", lambda: zip_of({"x.npy": b"hello"}), "'x' is not readable"),
    "zip without an end record": ("a.zip", lambda: zip_of({"a.png": png(GOOD[0])})[:-22], "not a readable .zip"),
    "csv quote never closed": ("a.csv", b'"1,2\n3,4\n', "comma-separated numbers"),
    "csv line far too long": ("a.csv", b"1" * (uploads.MAX_LINE + 1), "characters long"),
}


@pytest.mark.parametrize("kind", sorted(DECLARED))
def test_what_a_file_declares_is_checked_before_decoding(kind):
    filename, content, message = DECLARED[kind]
    with pytest.raises(UploadError, match=message):
        read_upload(filename, content() if callable(content) else content)


@pytest.mark.parametrize("limit, value, content, filename, message", [
    ("MAX_MEMBERS", 25, lambda: zip_of({f"{i}.png": png(GOOD[0]) for i in range(30)}), "a.zip", "more than 25 files"),
    ("MAX_MEMBERS", 25, lambda: npz(x=GOOD, **{f"junk{i}": np.zeros(1) for i in range(30)}), "a.npz", "more than 25"),
    ("MAX_PIXELS", 30 * 64 - 1, lambda: zip_of({f"{i}.png": png(GOOD[0]) for i in range(30)}), "a.zip",
     "pixels in all"),
    ("MAX_PIXELS", 40 * 64 - 1, lambda: npz(x=GOOD), "a.npz", "the limit for the images"),
    ("MAX_PIXELS", 40 * 64 - 1, lambda: csv_bytes([x.ravel() for x in GOOD]), "a.csv", "values in all"),
])
def test_each_limit_is_read_from_the_declared_sizes(monkeypatch, limit, value, content, filename, message):
    monkeypatch.setattr(uploads, limit, value)
    with pytest.raises(UploadError, match=message):
        read_upload(filename, content())
    monkeypatch.setattr(uploads, limit, value + 64)  # one image more: accepted
    assert len(read_upload(filename, content())) in (30, 40)


def test_csv_lines_are_counted_before_they_are_split(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_IMAGES", 10)
    with pytest.raises(UploadError, match="lines; the limit is 10 images"):
        read_upload("a.csv", b"1\n" * 23)
