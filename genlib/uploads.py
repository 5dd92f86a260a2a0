"""Your own images as a :class:`genlib.data.Dataset`: a .npz, a CSV of flattened images, or a zip of PNGs.

``read_upload(filename, content)`` parses and validates the bytes and returns an :class:`Upload`;
``Upload.split(split, seed)`` gives the train or test split, cut exactly like the built-in sets
(``genlib.data``: a permutation drawn from the seed, 80 / 20). Every problem raises one
:class:`UploadError` whose message says what is wrong and how to fix it, e.g.

- .npz: an array ``x`` of N x H x W (or N x 1 x H x W, N x H x W x 1, or N x H*W) and optionally ``y``,
  N integer labels;
- .csv: one image per row, H*W numbers (a header row is allowed; a column named ``label`` or ``y``
  holds the labels);
- .zip: PNG files, converted to gray; a folder named by an integer (``3/a.png``) is the label.

Values are 0-255 (divided by 255, 256 gray levels) or 0-1 (kept; the gray levels are detected:
2 for binary images, 17 for 0, 1/16, ..., 1, else 256). NaN or infinite values are refused.
Images must be square, all the same size, between MIN_SIDE and MAX_SIDE pixels a side.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from genlib.data import Dataset, _split

MAX_BYTES = 25 * 2**20  # the largest file accepted (and the most a zip may unpack to)
MIN_IMAGES = 20  # fewer cannot make a train / test split worth the name
MAX_IMAGES = 20_000  # the sets here train on a laptop CPU
MIN_SIDE, MAX_SIDE = 4, 64  # pixels per side
MAX_CLASSES = 1000  # labels are 0 .. MAX_CLASSES - 1
FORMATS = ("npz", "csv", "zip")
LABEL_COLUMNS = ("label", "labels", "y", "class", "target")  # CSV header names read as labels


_OBJECTS = "The .npz holds Python objects; save plain numeric arrays (np.savez(f, x=x, y=y))."


class UploadError(ValueError):
    """An upload that cannot become a data set; the message is meant for the person who uploaded it."""


@dataclass
class Upload:
    """Validated images: ``x`` (N, 1, H, W) float32 in [0, 1], ``y`` (N,) int64 or None."""

    name: str
    x: np.ndarray
    y: np.ndarray | None
    levels: int  # distinct gray levels of the source: what the categorical likelihood uses
    source: str  # "npz", "csv" or "zip"

    def __len__(self) -> int:
        return len(self.x)

    @property
    def side(self) -> int:
        return self.x.shape[-1]

    def split(self, split: str = "train", seed: int = 0) -> Dataset:
        """The train or test split (80 / 20 by a permutation drawn from ``seed``), as for built-in sets."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        dataset = _split(self.name, self.x, self.y, None, self.levels, split, seed)
        dataset.meta = {"uploaded": True, "source": self.source}
        return dataset

    def label_counts(self) -> dict[int, int]:
        """Images per class (empty without labels)."""
        if self.y is None:
            return {}
        classes, counts = np.unique(self.y, return_counts=True)
        return {int(c): int(n) for c, n in zip(classes, counts, strict=True)}

    def describe(self) -> str:
        labels = "no labels" if self.y is None else f"{len(np.unique(self.y))} classes"
        return f"{len(self):,} images of {self.side} x {self.side}, {self.levels} gray levels, {labels}"


def read_upload(filename: str, content: bytes, *, name: str | None = None) -> Upload:
    """Parse and validate an uploaded file; raises :class:`UploadError` with one clear message."""
    suffix = PurePosixPath(filename).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UploadError(f"'{filename}' is not a supported file: upload a .npz, a .csv or a .zip of PNG images.")
    if len(content) == 0:
        raise UploadError(f"'{filename}' is empty.")
    if len(content) > MAX_BYTES:
        raise UploadError(f"'{filename}' is {len(content) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    x, y = {"npz": _read_npz, "csv": _read_csv, "zip": _read_zip}[suffix](content)
    images, levels = _images(x)
    labels = None if y is None else _labels(y, len(images))
    return Upload(name=name or PurePosixPath(filename).stem, x=images, y=labels, levels=levels, source=suffix)


# ------------------------------------------------------------------------------------------ readers


def _read_npz(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    if content.startswith(b"\x93NUMPY"):
        raise UploadError("This is a single .npy array, not a .npz: save it with np.savez(f, x=images).")
    if not content.startswith(b"PK"):
        raise UploadError("This is not a readable .npz file (save it with np.savez(f, x=images, y=labels)).")
    try:
        archive = np.load(io.BytesIO(content), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise UploadError("This is not a readable .npz file (save it with np.savez(f, x=images, y=labels)).") from None
    with archive:
        if "x" not in archive.files:
            raise UploadError(f"The .npz has no array named 'x' (it has: {', '.join(archive.files) or 'nothing'}); "
                              "save the images as x: np.savez(f, x=images, y=labels).")
        try:
            x = archive["x"]
            y = archive["y"] if "y" in archive.files else None
        except ValueError:
            raise UploadError(_OBJECTS) from None
    return x, y


def _read_csv(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("The .csv is not UTF-8 text.") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise UploadError("The .csv has no rows.")
    header, label_col = None, None
    if not _is_number(rows[0][0]) or not all(_is_number(c) for c in rows[0]):
        header, rows = [c.strip().lower() for c in rows[0]], rows[1:]
        label_col = next((i for i, c in enumerate(header) if c in LABEL_COLUMNS), None)
    if not rows:
        raise UploadError("The .csv has a header but no images.")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            line = i + 1 + (header is not None)
            raise UploadError(f"Row {line} of the .csv has {len(row)} values, the first row {width}: "
                              "every image must have the same number of pixels.")
    try:
        values = np.asarray(rows, dtype=np.float64)
    except ValueError:
        i, j = next((i, j) for i, row in enumerate(rows) for j, cell in enumerate(row) if not _is_number(cell))
        line = i + 1 + (header is not None)
        raise UploadError(f"Row {line}, column {j + 1} of the .csv is '{rows[i][j][:20]}', not a number.") from None
    if label_col is None:
        return values, None
    return np.delete(values, label_col, axis=1), values[:, label_col]


def _read_zip(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    from PIL import Image, UnidentifiedImageError

    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise UploadError("This is not a readable .zip file.") from None
    with archive:
        members = sorted((m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".png")
                          and not PurePosixPath(m.filename).name.startswith(".")
                          and "__MACOSX" not in m.filename), key=lambda m: m.filename)
        if not members:
            raise UploadError("The .zip holds no .png images.")
        if len(members) > MAX_IMAGES:
            raise UploadError(f"The .zip holds {len(members):,} PNG images; the limit is {MAX_IMAGES:,}.")
        if sum(m.file_size for m in members) > MAX_BYTES:
            raise UploadError(f"The PNGs in the .zip unpack to more than {MAX_BYTES // 2**20} MB; the limit is "
                              f"{MAX_BYTES // 2**20} MB.")
        images, folders = [], []
        for m in members:
            try:
                with Image.open(io.BytesIO(archive.read(m))) as img:
                    images.append(np.asarray(img.convert("L")))
            except (UnidentifiedImageError, OSError, zipfile.BadZipFile):
                raise UploadError(f"'{m.filename}' in the .zip is not a readable PNG image.") from None
            folders.append(PurePosixPath(m.filename).parent.name)
    first = images[0].shape
    for m, img in zip(members, images, strict=True):
        if img.shape != first:
            raise UploadError(f"All images must have the same size: '{members[0].filename}' is {first[0]} x {first[1]} "
                              f"but '{m.filename}' is {img.shape[0]} x {img.shape[1]}.")
    labels = None
    if all(f.isdigit() for f in folders):  # class folders: 0/a.png, 1/b.png, ...
        labels = np.array([int(f) for f in folders])
    return np.stack(images), labels


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------- validation


def _images(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Any accepted layout -> (N, 1, H, W) float32 in [0, 1], and the number of gray levels."""
    if x.dtype.kind not in "biuf":
        raise UploadError(f"The images must be numbers; 'x' holds {x.dtype} values.")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]  # N x H x W x 1
    elif x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]  # N x 1 x H x W
    elif x.ndim == 4:
        raise UploadError(f"The images have {min(x.shape[1], x.shape[-1])} channels ({_shape(x)}): "
                          "only gray images (one channel) are supported; convert them to gray first.")
    elif x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise UploadError(f"Each image has {x.shape[1]} values, which is not a square number of pixels "
                              "(64 for 8 x 8, 784 for 28 x 28): images must be square.")
        x = x.reshape(len(x), side, side)
    elif x.ndim != 3:
        raise UploadError(f"The images have shape {_shape(x)}; expected N x H x W (or N x H*W flattened).")
    n, h, w = x.shape
    if h != w:
        raise UploadError(f"The images are {h} x {w} pixels: they must be square (H = W).")
    if h < MIN_SIDE or h > MAX_SIDE:
        raise UploadError(f"The images are {h} x {w} pixels; sides from {MIN_SIDE} to {MAX_SIDE} pixels are accepted"
                          + (" (downscale them first)." if h > MAX_SIDE else "."))
    if n < MIN_IMAGES:
        raise UploadError(f"There are {n} images; at least {MIN_IMAGES} are needed for a train / test split.")
    if n > MAX_IMAGES:
        raise UploadError(f"There are {n:,} images; the limit is {MAX_IMAGES:,}.")
    x = x.astype(np.float64)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise UploadError(f"The images contain {bad:,} NaN or infinite values: every pixel must be a number.")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise UploadError(f"Pixel values run from {lo:g} to {hi:g}; they must lie in 0-255 or in 0-1.")
    if hi > 1:
        return (x / 255.0).astype(np.float32)[:, None], 256
    return x.astype(np.float32)[:, None], _levels(x)


def _levels(x: np.ndarray) -> int:
    """Gray levels of 0-1 data: the smallest L <= 256 with every value a multiple of 1 / (L - 1)."""
    values = np.unique(x)
    for levels in (2, 17, 256):
        scaled = values * (levels - 1)
        if np.allclose(scaled, np.round(scaled), atol=1e-4):
            return levels
    return 256


def _labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise UploadError(f"The labels must be integers; 'y' holds {y.dtype} values.")
    y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise UploadError(f"The labels have shape {_shape(y)}; expected one label per image, shape ({n},).")
    if len(y) != n:
        raise UploadError(f"There are {len(y):,} labels for {n:,} images: give exactly one label per image.")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise UploadError("The labels must be whole numbers (class 0, 1, 2, ...); some are fractions, NaN or infinite.")
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise UploadError(f"Labels run from {y.min():g} to {y.max():g}; they must be classes 0 to {MAX_CLASSES - 1}.")
    return y.astype(np.int64)


def _shape(a: np.ndarray) -> str:
    return " x ".join(str(s) for s in a.shape)


# ------------------------------------------------------------------------------------------ examples


def example_npz(n: int = 200) -> bytes:
    """An example upload: ``n`` test digits as .npz (x: N x 8 x 8 in 0-1, y: labels)."""
    from genlib.data import load_dataset

    digits = load_dataset("digits", "test", seed=0)
    return to_npz(digits.x[:n, 0].numpy(), digits.y[:n].numpy())


def to_npz(x: np.ndarray, y: np.ndarray | None = None) -> bytes:
    """Images (and labels) as .npz bytes, the format ``read_upload`` reads best (an example to download)."""
    buffer = io.BytesIO()
    arrays = {"x": np.asarray(x)} if y is None else {"x": np.asarray(x), "y": np.asarray(y)}
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
