"""Checkpoints: an exact round trip, one clear CheckpointError per kind of broken file, and atomic saves."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

import genlib
from genlib import checkpoints
from genlib.checkpoints import CheckpointError, load, read_meta, save
from genlib.models import build


@pytest.fixture
def saved(tmp_path, tiny_vae):
    path = save(tiny_vae, tmp_path / "m.safetensors", data="digits", metrics={"elbo": -30.0})
    return path, tiny_vae


def _weights(model):
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def test_round_trip_gives_identical_outputs(saved, digits):
    path, model = saved
    loaded = load(path)
    assert type(loaded) is type(model) and loaded.name == "vae"
    assert loaded.config == model.config and loaded.data_shape == model.data_shape
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = digits.x[:16]
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model.encode(x), loaded.encode(x), strict=True))
        z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
        assert torch.equal(model.decode(z), loaded.decode(z))
    meta = loaded.checkpoint
    assert meta["data"] == "digits" and meta["metrics"] == {"elbo": -30.0}
    assert meta["genlib_version"] == genlib.__version__ and meta == read_meta(path)


def test_round_trip_keeps_the_schedule(tmp_path, digits):
    model = build("vae", digits.shape, latent_dim=3, hidden=(16, 8), free_bits=0.5,
                  beta_schedule={"kind": "cyclical", "total_steps": 300, "n_cycles": 3, "shape": "cosine"})
    loaded = load(save(model, tmp_path / "s.safetensors"))
    assert loaded.schedule == model.schedule and loaded.config.free_bits == 0.5


def _assert_one_clear_error(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    _assert_one_clear_error(tmp_path / "nope.safetensors", "no checkpoint")
    _assert_one_clear_error(tmp_path, "no checkpoint")  # a folder is not a checkpoint either


def test_truncated_file(saved):
    path, _ = saved
    raw = path.read_bytes()
    for keep in (len(raw) // 2, 20, 3, 0):
        path.write_bytes(raw[:keep])
        _assert_one_clear_error(path, "not a readable safetensors checkpoint")


def test_pickle_renamed_safetensors(saved):
    path, model = saved
    with open(path, "wb") as f:
        pickle.dump(model.state_dict(), f)
    _assert_one_clear_error(path, "not a readable safetensors checkpoint")
    torch.save(model.state_dict(), path)  # torch's zip-of-pickles format
    _assert_one_clear_error(path, "not a readable safetensors checkpoint")


def test_safetensors_without_the_genlab_record(tmp_path, tiny_vae):
    path = tmp_path / "plain.safetensors"
    save_file(_weights(tiny_vae), path)
    _assert_one_clear_error(path, "not a genlab checkpoint")
    save_file(_weights(tiny_vae), path, metadata={"format": "pt"})
    _assert_one_clear_error(path, "not a genlab checkpoint")


@pytest.mark.parametrize("record, fragment", [
    ({"model": "vae"}, "lacks data_shape, config"),
    ({"data_shape": [1, 8, 8], "config": {}}, "lacks model"),
    ("{not json", "corrupt"),
    ({"model": "no-such-model", "data_shape": [1, 8, 8], "config": {}}, "cannot rebuild"),
    ({"model": "vae", "data_shape": [1, 8, 8], "config": {"latent_dim": 4, "hidden": [64], "depth": 3}},
     "cannot rebuild"),
])
def test_bad_json_record(tmp_path, tiny_vae, record, fragment):
    path = tmp_path / "bad.safetensors"
    save_file(_weights(tiny_vae), path, metadata={"genlab": record if isinstance(record, str) else json.dumps(record)})
    _assert_one_clear_error(path, fragment)


def _with_record(path, model, **changes):
    meta = read_meta(path)
    meta.update(changes)
    save_file(_weights(model), path, metadata={"genlab": json.dumps(meta)})


def test_wrong_weight_shapes(saved):
    path, model = saved
    config = dict(read_meta(path)["config"], hidden=[32])  # same layers, other widths
    _with_record(path, model, config=config)
    _assert_one_clear_error(path, "has shape", "the model expects")


def test_weights_of_another_architecture(saved):
    path, model = saved
    config = dict(read_meta(path)["config"], hidden=[64, 64])  # one layer more: keys missing
    _with_record(path, model, config=config)
    _assert_one_clear_error(path, "weights do not match", "missing")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_failed_save_leaves_the_existing_checkpoint_intact(saved, monkeypatch, digits):
    path, model = saved
    before = path.read_bytes()

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)  # a partial file, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", half_written)
    other = build("vae", digits.shape, seed=1, latent_dim=4, hidden=(64,))
    with pytest.raises(OSError, match="No space"):
        save(other, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left behind
    monkeypatch.undo()
    loaded = load(path)
    assert torch.equal(loaded.state_dict()["encoder.0.weight"], model.state_dict()["encoder.0.weight"])


def test_save_creates_folders_and_overwrites(tmp_path, tiny_vae, digits):
    path = tmp_path / "a" / "b" / "m.safetensors"
    save(tiny_vae, path)
    other = build("vae", digits.shape, seed=1, latent_dim=4, hidden=(64,))
    save(other, path)
    assert torch.equal(load(path).state_dict()["encoder.0.weight"], other.state_dict()["encoder.0.weight"])
