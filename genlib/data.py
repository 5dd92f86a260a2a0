"""Datasets: the embedded default (scikit-learn's 8x8 digits), procedurally generated sets and MNIST IDX files.

Every dataset is a :class:`Dataset` with ``x`` (float32; images N x C x H x W in [0, 1], points N x D),
``y`` (int64 labels or None), ``factors`` (N x F ground-truth generative factors or None) and ``name``.
Images also carry ``levels``, the number of distinct gray levels of the source (17 for digits, whose
pixels are integers 0..16; 2 for the binary sprites; 256 for MNIST). Likelihoods use it: see
:mod:`genlib.objectives`.

Multimodal sets (``digits-image-label``, ``digits-halves``, ``digits-halves-label``) pack several
modalities of one digit into one row of ``x`` (N x D) with a fixed layout, ``LAYOUTS[name]``, so the
training loop can cut batches from one tensor; :func:`unpack` / :func:`pack` convert a row to and from a
dict of modalities. A label is stored as c / 9 in one value (its 10 classes as 10 levels).

Nothing here touches the network unless ``download=True`` is passed for ``mnist`` / ``fashion-mnist``.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

IMAGE_SETS = ("digits", "sprites", "mnist", "fashion-mnist")
POINT_SETS = ("moons", "rings", "pinwheel")
MULTIMODAL_SETS = ("digits-image-label", "digits-halves", "digits-halves-label")  # see LAYOUTS below
NAMES = IMAGE_SETS + POINT_SETS + MULTIMODAL_SETS
TEST_FRACTION = 0.2  # share of each procedurally split set held out as "test"

SPRITE_SHAPES = ("square", "ellipse", "triangle")
SPRITE_FACTORS = ("shape", "scale", "rotation", "x", "y")


@dataclass
class Dataset:
    x: torch.Tensor  # (N, C, H, W) in [0, 1] or (N, D)
    y: torch.Tensor | None
    name: str
    factors: torch.Tensor | None = None  # (N, F)
    factor_names: tuple[str, ...] = ()
    levels: int | None = None  # distinct gray levels of an image set; None for points
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """One example's shape, e.g. (1, 8, 8) or (2,): what ``models.build`` takes as ``data_shape``."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    def subset(self, n: int) -> Dataset:
        """The first ``n`` examples (the split is already shuffled, so this is a random subset)."""
        return Dataset(
            x=self.x[:n], y=None if self.y is None else self.y[:n], name=self.name,
            factors=None if self.factors is None else self.factors[:n], factor_names=self.factor_names,
            levels=self.levels, split=self.split, meta=self.meta,
        )


def load_dataset(name: str, split: str = "train", seed: int = 0, *, n: int | None = None,
                 root: str | os.PathLike | None = None, download: bool = False) -> Dataset:
    """Load dataset ``name`` ("digits", "sprites", "moons", "rings", "pinwheel", "mnist", "fashion-mnist",
    or a multimodal packing of digits: "digits-image-label", "digits-halves", "digits-halves-label").

    ``split`` is "train" or "test"; built-in sets are split by a permutation drawn from ``seed``
    (80 / 20), so the same seed always gives the same split. ``n`` sets the size of the generated
    point sets (default 2000 in all). MNIST-style sets are read from IDX files under ``root``
    (default: ``$GENLAB_DATA`` or ``~/.cache/genlab``) and fetched only when ``download=True``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(NAMES)}")
    if name in ("mnist", "fashion-mnist"):
        return _load_idx_set(name, split, root=root, download=download)
    if name in MULTIMODAL_SETS:
        return _multimodal(name, split, seed)
    if name == "digits":
        x, y, factors, levels = _digits()
    elif name == "sprites":
        x, y, factors, levels = _sprites()
    else:
        x, y, factors, levels = _POINTS[name](n or 2000, seed)
    return _split(name, x, y, factors, levels, split, seed)


def _split(name, x, y, factors, levels, split, seed) -> Dataset:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(TEST_FRACTION * len(x)))
    idx = order[:n_test] if split == "test" else order[n_test:]
    return Dataset(
        x=torch.as_tensor(x[idx], dtype=torch.float32),
        y=None if y is None else torch.as_tensor(y[idx], dtype=torch.int64),
        name=name,
        factors=None if factors is None else torch.as_tensor(factors[idx], dtype=torch.float32),
        factor_names=SPRITE_FACTORS if name == "sprites" else (),
        levels=levels, split=split,
    )


def _digits():
    """scikit-learn's digits: read from the CSV scikit-learn ships (what ``load_digits`` reads) in ~3 ms,
    without importing scikit-learn (about a second, on every app page's first visit)."""
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is not None and csv.exists():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)  # 64 pixel values 0..16, then the label
        images, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:  # another layout of scikit-learn: ask it
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, target = bunch.images, bunch.target
    x = (images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8), 17 gray levels
    return x, target.astype(np.int64), None, 17


def _sprites(size: int = 16):
    """dSprites-style binary images: every combination of shape x scale x rotation x position.

    3 shapes x 4 scales x 8 rotations x 6 x-positions x 6 y-positions = 3456 images of 16 x 16.
    Labels are the shape; ``factors`` holds the five factor values (indices).
    """
    scales = np.linspace(0.22, 0.4, 4)  # half-size, as a fraction of the image side
    rotations = np.linspace(0, np.pi / 2, 8, endpoint=False)  # a square repeats after 90 degrees
    positions = np.linspace(0.3, 0.7, 6)
    coords = (np.arange(size) + 0.5) / size
    gx, gy = np.meshgrid(coords, coords)  # (H, W), x along columns
    images, factors = [], []
    for s, shape in enumerate(SPRITE_SHAPES):
        for a, scale in enumerate(scales):
            for r, angle in enumerate(rotations):
                for i, cx in enumerate(positions):
                    for j, cy in enumerate(positions):
                        u = (gx - cx) * np.cos(angle) + (gy - cy) * np.sin(angle)
                        v = -(gx - cx) * np.sin(angle) + (gy - cy) * np.cos(angle)
                        u, v = u / scale, v / scale
                        if shape == "square":
                            mask = (np.abs(u) <= 0.75) & (np.abs(v) <= 0.75)
                        elif shape == "ellipse":
                            mask = u**2 + (v / 0.6) ** 2 <= 1.0
                        else:  # triangle pointing up in its own frame
                            mask = (v >= -0.6) & (v <= 0.9 - 1.5 * np.abs(u) * 1.2)
                        images.append(mask.astype(np.float32))
                        factors.append((s, a, r, i, j))
    x = np.stack(images)[:, None]
    factors = np.asarray(factors, dtype=np.float32)
    return x, factors[:, 0].astype(np.int64), factors, 2


def _moons(n, seed):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, noise=0.08, random_state=seed)
    x = (x - np.array([0.5, 0.25])) * 1.5  # roughly centred, unit scale
    return x.astype(np.float32), y.astype(np.int64), None, None


def _rings(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    radius = 0.6 + 0.7 * y + 0.06 * rng.standard_normal(n)
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    return x.astype(np.float32), y.astype(np.int64), None, None


def _pinwheel(n, seed, arms=5, radial_std=0.3, tangential_std=0.05, rate=0.25):
    """The pinwheel of Johnson et al. (2016), "Composing graphical models with neural networks"."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, arms, n)
    feats = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    feats[:, 0] += 1.0
    angles = 2 * np.pi * y / arms + rate * np.exp(feats[:, 0])
    rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1).reshape(-1, 2, 2)
    x = 1.2 * np.einsum("ni,nij->nj", feats, rot)
    return x.astype(np.float32), y.astype(np.int64), None, None


_POINTS = {"moons": _moons, "rings": _rings, "pinwheel": _pinwheel}

# ---------------------------------------------------------------------------------------- multimodal


@dataclass(frozen=True)
class Modality:
    """One modality of a packed multimodal row: its name, shape once unpacked, and number of levels."""

    name: str
    shape: tuple[int, ...]  # one example's shape, e.g. (1, 4, 8) for the top half of a digit
    levels: int  # distinct values: 17 gray levels for digit pixels, 10 classes for a label
    kind: str  # "image" (pixels in [0, 1]) or "label" (class c stored as c / (levels - 1))

    @property
    def size(self) -> int:
        return math.prod(self.shape)


_IMAGE = Modality("image", (1, 8, 8), 17, "image")
_TOP, _BOTTOM = Modality("top", (1, 4, 8), 17, "image"), Modality("bottom", (1, 4, 8), 17, "image")
_LABEL = Modality("label", (1,), 10, "label")
LAYOUTS: dict[str, tuple[Modality, ...]] = {  # name -> modalities in the order they are packed in a row
    "digits-image-label": (_IMAGE, _LABEL),  # 64 pixels, then the label: D = 65
    "digits-halves": (_TOP, _BOTTOM),  # rows 0-3, then rows 4-7: D = 64
    "digits-halves-label": (_TOP, _BOTTOM, _LABEL),  # D = 65
}


def unpack(x: torch.Tensor, layout: str) -> dict[str, torch.Tensor]:
    """A packed batch (B, D) -> {modality name: (B, *shape)} in the order of ``LAYOUTS[layout]``."""
    modalities = LAYOUTS[layout]
    if x.dim() != 2 or x.shape[1] != sum(m.size for m in modalities):
        raise ValueError(f"a {layout} batch is B x {sum(m.size for m in modalities)}, got {tuple(x.shape)}")
    chunks = x.split([m.size for m in modalities], dim=1)
    return {m.name: c.reshape(-1, *m.shape) for m, c in zip(modalities, chunks, strict=True)}


def pack(parts: dict[str, torch.Tensor], layout: str) -> torch.Tensor:
    """The inverse of :func:`unpack`: {name: (B, *shape)} -> (B, D). Every modality must be given."""
    missing = [m.name for m in LAYOUTS[layout] if m.name not in parts]
    if missing:
        raise ValueError(f"pack needs every modality of {layout}; missing: {', '.join(missing)}")
    return torch.cat([parts[m.name].flatten(1) for m in LAYOUTS[layout]], dim=1)


def labels_to_values(y: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Class indices (B,) -> the label modality as packed: (B, 1) values c / (classes - 1)."""
    return (y.to(torch.float32) / (classes - 1)).unsqueeze(1)


def whole_images(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """The digit image of a dict of modalities: ``image`` itself, or ``top`` over ``bottom`` (B, 1, 8, 8)."""
    if "image" in parts:
        return parts["image"]
    return torch.cat([parts["top"], parts["bottom"]], dim=-2)


def one_per_class(dataset: Dataset, seed: int = 0) -> torch.Tensor:
    """Rows of ``dataset.x``, one drawn at random (from ``seed``) for each label, in label order."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for label in dataset.y.unique().tolist():
        rows = (dataset.y == label).nonzero()[:, 0]
        picks.append(rows[torch.randint(len(rows), (1,), generator=g)])
    return dataset.x[torch.cat(picks)]


def _multimodal(name: str, split: str, seed: int) -> Dataset:
    """Digits as modalities, split exactly like ``digits`` (same seed, same images in each split)."""
    digits = load_dataset("digits", split, seed)
    image, label = digits.x, labels_to_values(digits.y)
    parts = {"image": image, "top": image[:, :, :4], "bottom": image[:, :, 4:], "label": label}
    return Dataset(x=pack(parts, name), y=digits.y, name=name, levels=None, split=split,
                   meta={"layout": name, "modalities": [m.name for m in LAYOUTS[name]]})

# ---------------------------------------------------------------------------------------------- IDX

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("GENLAB_DATA") or Path.home() / ".cache" / "genlab")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array, checking its header against its size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != math.prod(dims) * dtype.itemsize:
        raise ValueError(f"{path}: header says {dims} but the file holds {len(body)} bytes of data")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests to make small MNIST-style sets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.exists():
            return candidate
    return None


def download_idx(name: str, root: str | os.PathLike | None = None) -> Path:
    """Fetch the four IDX files of ``name`` into ``root/name`` (only ever called on explicit request)."""
    folder = data_root(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    for stems in _IDX_FILES.values():
        for stem in stems:
            if _find(folder, stem) is None:
                urllib.request.urlretrieve(_IDX_URLS[name] + stem + ".gz", folder / (stem + ".gz"))
    return folder


def _load_idx_set(name: str, split: str, *, root=None, download=False) -> Dataset:
    folder = data_root(root) / name
    image_stem, label_stem = _IDX_FILES[split]
    if _find(folder, image_stem) is None and download:
        download_idx(name, root)
    images, labels = _find(folder, image_stem), _find(folder, label_stem)
    if images is None or labels is None:
        raise FileNotFoundError(
            f"{name} is not in {folder}: put the IDX files ({image_stem}[.gz], {label_stem}[.gz]) there, "
            f"or call load_dataset({name!r}, download=True) / `python -m genlib data {name}` where a network exists"
        )
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{name}: images {x.shape} and labels {y.shape} do not match")
    x = torch.as_tensor(x.astype(np.float32) / 255.0)[:, None]
    return Dataset(x=x, y=torch.as_tensor(y.astype(np.int64)), name=name, levels=256, split=split)
