"""Datasets: documented shapes, ranges and gray levels; seeded, disjoint splits; MNIST from IDX files; no downloads."""

from __future__ import annotations

import socket
import urllib.request
from collections import Counter

import numpy as np
import pytest
import torch

from genlib import data
from genlib.data import load_dataset, read_idx, write_idx


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a dataset tried to use the network")

    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _rows(x: torch.Tensor) -> Counter:
    return Counter(map(bytes, x.flatten(1).numpy()))


# name -> (example shape, total size, gray levels)
BUILT_IN = {
    "digits": ((1, 8, 8), 1797, 17),
    "sprites": ((1, 16, 16), 3456, 2),
    "moons": ((2,), 2000, None),
    "rings": ((2,), 2000, None),
    "pinwheel": ((2,), 2000, None),
}


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_sets_have_the_documented_shapes_ranges_and_levels(name):
    shape, total, levels = BUILT_IN[name]
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    assert len(train) + len(test) == total
    assert len(test) == round(0.2 * total)
    for d in (train, test):
        assert d.name == name and d.shape == shape and d.x.dtype == torch.float32
        assert d.levels == levels and d.is_image == (len(shape) == 3)
        assert d.y is not None and d.y.dtype == torch.int64 and len(d.y) == len(d)
        assert torch.isfinite(d.x).all()
        if levels:  # images: values in [0, 1] on the grid of gray levels
            assert d.x.min() >= 0 and d.x.max() <= 1
            scaled = d.x * (levels - 1)
            assert torch.equal(scaled, scaled.round())
    assert train.split == "train" and test.split == "test"


def test_sprites_carry_their_factors():
    d = load_dataset("sprites")
    assert d.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert d.factors.shape == (len(d), 5)
    assert torch.equal(d.factors[:, 0].long(), d.y)
    assert [len(d.factors[:, i].unique()) for i in range(5)] == [3, 4, 8, 6, 6]
    assert (d.x.flatten(1).sum(1) > 0).all()  # every sprite draws something


@pytest.mark.parametrize("name", BUILT_IN)
def test_split_is_seeded_and_disjoint(name):
    a, b = load_dataset(name, "train", seed=3), load_dataset(name, "train", seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    other = load_dataset(name, "train", seed=4)
    assert not torch.equal(a.x, other.x)
    test = load_dataset(name, "test", seed=3)
    if name == "sprites":  # each factor combination appears once: the splits partition the set
        keys = lambda d: {tuple(r) for r in d.factors.tolist()}  # noqa: E731
        assert not keys(a) & keys(test) and len(keys(a) | keys(test)) == 3456
    elif name == "digits":  # images may repeat: compare multisets against the whole of scikit-learn's set
        from sklearn.datasets import load_digits

        full = torch.as_tensor(load_digits().images / 16.0, dtype=torch.float32)
        assert _rows(a.x) + _rows(test.x) == _rows(full)
    else:  # continuous points never coincide
        assert not set(_rows(a.x)) & set(_rows(test.x))


def test_point_sets_take_a_size():
    assert len(load_dataset("moons", "train", n=100)) == 80
    assert len(load_dataset("pinwheel", "test", n=50)) == 10


def test_subset_keeps_everything_aligned():
    d = load_dataset("sprites").subset(10)
    assert len(d) == 10 and d.factors.shape == (10, 5) and d.y.shape == (10,) and d.levels == 2


def test_bad_names_and_splits():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")


# ------------------------------------------------------------------------------------------------- IDX


def _write_mnist(folder, n_train=12, n_test=5, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sets = {}
    for split, n, (images, labels) in (("train", n_train, data._IDX_FILES["train"]),
                                       ("test", n_test, data._IDX_FILES["test"])):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / (images + suffix), x)
        write_idx(folder / (labels + suffix), y)
        sets[split] = (x, y)
    return sets


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_style_sets_read_from_idx_files(tmp_path, name, gz):
    written = _write_mnist(tmp_path / name, gz=gz)
    for split, (x, y) in written.items():
        d = load_dataset(name, split, root=tmp_path)
        assert d.shape == (1, 28, 28) and len(d) == len(x) and d.levels == 256 and d.name == name
        assert torch.equal(d.x, torch.as_tensor(x, dtype=torch.float32)[:, None] / 255)
        assert torch.equal(d.y, torch.as_tensor(y, dtype=torch.int64))


def test_genlab_data_environment_variable_sets_the_root(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    assert len(load_dataset("mnist", "test")) == 5


def test_idx_round_trip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", a)
    assert np.array_equal(read_idx(tmp_path / "a"), a)


def test_corrupt_idx_gives_a_clear_value_error(tmp_path):
    folder = tmp_path / "mnist"
    _write_mnist(folder)
    images = folder / data._IDX_FILES["train"][0]
    raw = images.read_bytes()
    images.write_bytes(raw[:-7])  # truncated
    with pytest.raises(ValueError, match="header says"):
        load_dataset("mnist", "train", root=tmp_path)
    images.write_bytes(b"PK\x03\x04" + raw[4:])  # not an IDX file at all
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset("mnist", "train", root=tmp_path)
    images.write_bytes(b"")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_dataset("mnist", "train", root=tmp_path)


def test_images_and_labels_that_disagree_give_a_value_error(tmp_path):
    folder = tmp_path / "mnist"
    _write_mnist(folder)
    write_idx(folder / data._IDX_FILES["train"][1], np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        load_dataset("mnist", "train", root=tmp_path)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_missing_set_names_the_folder_and_downloads_nothing(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(name, "train", root=tmp_path)
    assert str(tmp_path / name) in str(info.value)
    assert "download=True" in str(info.value)
    assert not (tmp_path / name).exists()  # nothing was created, nothing fetched


def test_digits_are_scikit_learns_digits_exactly():
    from sklearn.datasets import load_digits

    from genlib.data import _digits

    x, y, _, levels = _digits()
    bunch = load_digits()
    assert np.array_equal(x[:, 0], (bunch.images / 16.0).astype(np.float32)) and np.array_equal(y, bunch.target)
    assert levels == 17 and x.dtype == np.float32 and y.dtype == np.int64
