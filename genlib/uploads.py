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

Memory is bounded by what a file declares, read before it is decoded (``genlib.headers``): a zip's number
of members, an .npz array's shape and dtype, each PNG's size, a .csv's lines and the width of its first
row. Whatever a file under MAX_BYTES declares, reading it holds at most about MAX_PIXELS float32 numbers
(64 MB) and the arrays it is decoded from (tests/test_upload_memory.py measures the peak).
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
from genlib.headers import HeaderError, npy_header, png_size, zip_members

MAX_BYTES = 25 * 2**20  # the largest file accepted (and the most a zip may unpack to)
MIN_IMAGES = 20  # fewer cannot make a train / test split worth the name
MAX_IMAGES = 20_000  # the sets here train on a laptop CPU
MIN_SIDE, MAX_SIDE = 4, 64  # pixels per side
MAX_PIXELS = 2**24  # pixels of all images together: 64 MB as float32 (20,000 images of 28 x 28 fit)
MAX_ARRAY_BYTES = 64 * 2**20  # the largest array an .npz may declare, in its own dtype
MAX_MEMBERS = 2 * MAX_IMAGES + 100  # entries of a zip: images, their folders, a few others (__MACOSX, ...)
MAX_LINE = (MAX_SIDE**2 + 1) * 32  # characters in a .csv line: the largest image's numbers, 32 characters each
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


def _open_zip(content: bytes, what: str) -> zipfile.ZipFile:
    """The archive, once its central directory is known to hold at most MAX_MEMBERS entries."""
    unreadable = UploadError(f"This is not a readable {what} file.")
    try:
        members = zip_members(content, MAX_MEMBERS)
    except HeaderError:
        raise unreadable from None
    if members > MAX_MEMBERS:
        raise UploadError(f"The {what} holds more than {MAX_MEMBERS:,} files; the limit is {MAX_IMAGES:,} images.")
    try:
        return zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise unreadable from None


def _read_npz(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    if content.startswith(b"\x93NUMPY"):
        raise UploadError("This is a single .npy array, not a .npz: save it with np.savez(f, x=images).")
    if not content.startswith(b"PK"):
        raise UploadError("This is not a readable .npz file (save it with np.savez(f, x=images, y=labels)).")
    with _open_zip(content, ".npz") as archive:
        names = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
        if "x" not in names:
            raise UploadError(f"The .npz has no array named 'x' (it has: {', '.join(names[:10]) or 'nothing'}); "
                              "save the images as x: np.savez(f, x=images, y=labels).")
        x = _npz_array(archive, "x", MAX_PIXELS, "images")
        y = _npz_array(archive, "y", MAX_IMAGES, "labels") if "y" in names else None
    return x, y


def _npz_array(archive: zipfile.ZipFile, key: str, most: int, what: str) -> np.ndarray:
    """Array ``key`` of the .npz, read only once its header declares a plain numeric dtype and a bounded size."""
    try:
        shape, dtype = npy_header(archive, f"{key}.npy")
    except HeaderError:
        raise UploadError(f"The .npz's array '{key}' is not readable (save it with np.savez).") from None
    if dtype.hasobject:
        raise UploadError(_OBJECTS)
    if dtype.kind not in "biuf" or dtype.fields is not None:
        must = "must be numbers" if key == "x" else "must be integers"
        raise UploadError(f"The {what} {must}; '{key}' holds {dtype} values.")
    count = math.prod(shape)
    if count > most or count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise UploadError(f"The .npz's '{key}' declares {' x '.join(map(str, shape))} = {count:,} values of "
                          f"{dtype.itemsize} bytes; the limit for the {what} is {most:,} values and "
                          f"{MAX_ARRAY_BYTES // 2**20} MB" + (" (20,000 images of 28 x 28 fit)." if key == "x"
                                                               else "."))
    try:
        with archive.open(f"{key}.npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise UploadError(f"The .npz's array '{key}' is cut short or damaged; save it again with np.savez.") from None


def _read_csv(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows parsed one at a time into a float32 array sized from the line count and the first row's width."""
    content = content.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
    breaks = content.count(b"\n") or content.count(b"\r")  # counted before any line is made (0.1 KB each)
    if breaks > 2 * MAX_IMAGES + 2:  # room for a blank line after each row
        raise UploadError(f"The .csv has {breaks:,} lines; the limit is {MAX_IMAGES:,} images, one a line.")
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        raise UploadError("The .csv has no rows.")
    if len(lines) > MAX_IMAGES + 1:
        raise UploadError(f"The .csv has {len(lines):,} rows; the limit is {MAX_IMAGES:,} images.")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    if len(lines[longest]) > MAX_LINE:
        raise UploadError(f"Line {longest + 1} of the .csv is {len(lines[longest]):,} characters long; an image of "
                          f"{MAX_SIDE} x {MAX_SIDE} needs at most {MAX_LINE:,}.")
    first = _cells(lines[0], 1)
    header, label_col = None, None
    if not all(_is_number(c) for c in first):
        header, lines = [c.strip().lower() for c in first], lines[1:]
        label_col = next((i for i, c in enumerate(header) if c in LABEL_COLUMNS), None)
    if not lines:
        raise UploadError("The .csv has a header but no images.")
    offset = 1 + (header is not None)  # line numbers as a spreadsheet shows them
    width = len(_cells(lines[0], offset))
    pixels = width - (label_col is not None)
    if len(lines) * pixels > MAX_PIXELS:
        raise UploadError(f"The .csv holds {len(lines):,} images of {pixels:,} values; the limit is "
                          f"{MAX_PIXELS:,} values in all (e.g. 20,000 images of 28 x 28).")
    x = np.empty((len(lines), pixels), np.float32)
    y = None if label_col is None else np.empty(len(lines), np.float32)
    for i, line in enumerate(lines):
        cells = _cells(line, i + offset)
        if len(cells) != width:
            raise UploadError(f"Row {i + offset} of the .csv has {len(cells)} values, the first row {width}: "
                              "every image must have the same number of pixels.")
        try:
            row = np.array(cells, dtype=np.float32)
        except ValueError:
            j = next((j for j, cell in enumerate(cells) if not _is_number(cell)), 0)
            raise UploadError(f"Row {i + offset}, column {j + 1} of the .csv is '{cells[j][:20]}', "
                              "not a number.") from None
        if y is None:
            x[i] = row
        else:
            y[i] = row[label_col]
            x[i] = np.delete(row, label_col)
    return x, y


def _cells(line: bytes, number: int) -> list[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadError("The .csv is not UTF-8 text.") from None
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error:
        raise UploadError(f"Row {number} of the .csv is not a row of comma-separated numbers.") from None


def _read_zip(content: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """PNGs decoded into one uint8 array, after every member's declared size and each PNG's header are read."""
    from PIL import Image, UnidentifiedImageError

    with _open_zip(content, ".zip") as archive:
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
        sizes = [_png_size(archive, m) for m in members]
        for m, size in zip(members, sizes, strict=True):
            if size != sizes[0]:
                raise UploadError(f"All images must have the same size: '{members[0].filename}' is "
                                  f"{sizes[0][1]} x {sizes[0][0]} but '{m.filename}' is {size[1]} x {size[0]}.")
        width, height = sizes[0]
        if max(width, height) > MAX_SIDE or min(width, height) < 1:
            raise UploadError(f"The images are {height} x {width} pixels; sides from {MIN_SIDE} to {MAX_SIDE} "
                              "pixels are accepted" + (" (downscale them first)." if max(width, height) > MAX_SIDE
                                                       else "."))
        if len(members) * width * height > MAX_PIXELS:
            raise UploadError(f"The .zip holds {len(members):,} images of {height} x {width}; the limit is "
                              f"{MAX_PIXELS:,} pixels in all (e.g. 20,000 images of 28 x 28).")
        images = np.empty((len(members), height, width), np.uint8)
        for i, m in enumerate(members):
            try:
                with archive.open(m) as f, Image.open(f, formats=["PNG"]) as img:
                    images[i] = np.asarray(img.convert("L"))
            except (UnidentifiedImageError, OSError, ValueError, EOFError, zipfile.BadZipFile):
                raise UploadError(f"'{m.filename}' in the .zip is not a readable PNG image.") from None
    folders = [PurePosixPath(m.filename).parent.name for m in members]
    labels = None
    if all(f.isdigit() for f in folders):  # class folders: 0/a.png, 1/b.png, ...
        labels = np.array([int(f) for f in folders])
    return images, labels


def _png_size(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> tuple[int, int]:
    """(width, height) as the PNG's header declares it, from its first 24 bytes."""
    try:
        with archive.open(member) as f:
            return png_size(f.read(24))
    except (HeaderError, OSError, EOFError, zipfile.BadZipFile):
        raise UploadError(f"'{member.filename}' in the .zip is not a readable PNG image.") from None


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
    if x.size > MAX_PIXELS:
        raise UploadError(f"There are {n:,} images of {h} x {w}, {x.size:,} pixels; the limit is {MAX_PIXELS:,} "
                          "pixels in all (e.g. 20,000 images of 28 x 28): use fewer or smaller images.")
    if x.dtype.kind == "f":
        bad = sum(int((~np.isfinite(part)).sum()) for part in _chunks(x))
        if bad:
            raise UploadError(f"The images contain {bad:,} NaN or infinite values: every pixel must be a number.")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise UploadError(f"Pixel values run from {lo:g} to {hi:g}; they must lie in 0-255 or in 0-1.")
    images = np.ascontiguousarray(x, np.float32)  # (N, H, W); the readers' arrays are fresh: no copy if it is one
    if hi > 1:
        images /= 255.0
        return images[:, None], 256
    return images[:, None], _levels(images)


def _chunks(x: np.ndarray, size: int = 2**20):
    """``x`` flattened, in pieces of ``size`` numbers: what elementwise checks run on, to keep temporaries small."""
    flat = x.reshape(-1)
    for start in range(0, len(flat), size):
        yield flat[start : start + size]


def _levels(x: np.ndarray) -> int:
    """Gray levels of 0-1 data: the smallest L <= 256 with every value a multiple of 1 / (L - 1)."""
    for levels in (2, 17):
        if all(np.allclose(part * (levels - 1), np.round(part * (levels - 1)), atol=1e-4) for part in _chunks(x)):
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
