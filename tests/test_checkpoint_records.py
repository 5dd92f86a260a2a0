"""Checkpoints whose record is valid JSON but wrong: in type, in size or in content. Each is one CheckpointError
sentence naming the file (and the CLI's one line), refused before the model is built for real."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from genlib import checkpoints
from genlib.__main__ import USAGE_ERROR, main
from genlib.checkpoints import META_KEY, CheckpointError


@pytest.fixture(scope="module")
def good(tmp_path_factory, digits):
    from genlib.models import build

    model = build("vae", digits.shape, seed=0, latent_dim=4, hidden=(32,))
    path = checkpoints.save(model, tmp_path_factory.mktemp("good") / "good.safetensors", data="digits",
                            metrics={"elbo": -40.0}, extra={"data_seed": 0})
    return path, {k: v.contiguous() for k, v in model.state_dict().items()}


def _write(path, weights, meta):
    save_file(weights, str(path), metadata={META_KEY: meta if isinstance(meta, str) else json.dumps(meta)})


def _edit(**fields):
    def edit(meta):
        return {**meta, **fields}
    return edit


def _config(**fields):
    def edit(meta):
        return {**meta, "config": {**meta["config"], **fields}}
    return edit


# name -> (a change to the good record, a fragment of the message)
CASES = {
    # the record itself is not an object
    "record-a-number": (lambda m: 3, "record is a number"),
    "record-a-list": (lambda m: [m], "record is a list"),
    "record-a-string": (lambda m: '"vae"', "record is a string"),  # _write stores a str as it is
    "record-null": (lambda m: None, "record is null"),
    # model
    "model-a-number": (_edit(model=5), "model is a number"),
    "model-a-list": (_edit(model=["vae"]), "model is a list"),
    "model-unknown": (_edit(model="gpt-7"), "unknown model"),
    # data_shape: type
    "shape-an-object": (_edit(data_shape={"c": 1, "h": 8, "w": 8}), "data_shape is a JSON object"),
    "shape-strings": (_edit(data_shape=["1", "8", "8"]), "data_shape is a list"),
    "shape-fractions": (_edit(data_shape=[1, 8.5, 8]), "data_shape is a list"),
    "shape-a-boolean": (_edit(data_shape=True), "data_shape is a boolean"),
    "shape-empty": (_edit(data_shape=[]), "data_shape is a list"),
    "shape-4-d": (_edit(data_shape=[1, 1, 8, 8]), "data_shape is a list"),
    # data_shape: size
    "shape-negative": (_edit(data_shape=[1, -8, 8]), "out of range"),
    "shape-zero": (_edit(data_shape=[0, 8, 8]), "out of range"),
    "shape-huge-side": (_edit(data_shape=[1, 10**9, 10**9]), "out of range"),
    "shape-huge-example": (_edit(data_shape=[3, 4096, 4096]), "out of range"),
    # config: type
    "config-a-list": (_edit(config=[4, [32]]), "config is a list"),
    "config-a-number": (_edit(config=4), "config is a number"),
    "latent-a-string": (_config(latent_dim="four"), "config.latent_dim is a string"),
    "latent-a-list": (_config(latent_dim=[4]), "config.latent_dim is a list"),
    "latent-a-fraction": (_config(latent_dim=4.5), "config.latent_dim is a number"),
    "hidden-an-object": (_config(hidden={"a": 32}), "config.hidden is a JSON object"),
    "hidden-a-number": (_config(hidden=32), "config.hidden is a number"),
    "hidden-strings": (_config(hidden=["32"]), "config.hidden is a list"),
    "likelihood-a-number": (_config(likelihood=5), "config.likelihood is a number"),
    "schedule-a-list": (_config(beta_schedule=[1.0]), "config.beta_schedule is a list"),
    # config: size
    "latent-negative": (_config(latent_dim=-4), "sizes run from 0"),
    "latent-zero": (_config(latent_dim=0), "latent_dim must be a positive integer"),
    "latent-huge": (_config(latent_dim=10**12), "sizes run from 0"),
    "hidden-negative": (_config(hidden=[-32]), "sizes run from 0"),
    "hidden-zero": (_config(hidden=[0]), "positive width"),
    "hidden-huge": (_config(hidden=[2**40]), "sizes run from 0"),
    "hidden-big-but-not-the-weights": (_config(hidden=[4096, 4096]), "weights do not match"),
    # config: content
    "likelihood-unknown": (_config(likelihood="purple"), "cannot rebuild"),
    "network-unknown": (_config(network="transformer"), "cannot rebuild"),
    "schedule-unknown-kind": (_config(beta_schedule={"kind": "warp", "beta": 1.0}), "cannot rebuild"),
    "free-bits-negative": (_config(free_bits=-1.0), "cannot rebuild"),
    "setting-unknown": (_config(depth=3), "cannot rebuild"),
    # the rest of the record
    "metrics-a-list": (_edit(metrics=[-40.0]), "metrics is a list"),
    "data-a-number": (_edit(data=7), "data is a number"),
    "data-seed-a-string": (_edit(data_seed="zero"), "data_seed is a string"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_record_is_one_sentence(case, good, tmp_path, capsys):
    path, weights = good
    change, fragment = CASES[case]
    meta = checkpoints.read_meta(path)
    bad = tmp_path / "bad.safetensors"
    _write(bad, weights, change(meta))
    with pytest.raises(CheckpointError) as error:
        checkpoints.load(bad)
    message = str(error.value)
    assert fragment in message and str(bad) in message and "\n" not in message and len(message) < 300, message
    assert main(["evaluate", str(bad)]) == USAGE_ERROR
    assert capsys.readouterr().err == f"genlib: error: {message}\n"


def _weights_edit(edit):
    def write(path, weights, meta):
        changed = dict(weights)
        edit(changed)
        _write(path, changed, meta)
    return write


WEIGHT_CASES = {
    "nan": (_weights_edit(lambda w: w["encoder.0.weight"].view(-1)[3:5].fill_(float("nan"))), "NaN or infinite"),
    "infinite": (_weights_edit(lambda w: w.update({"encoder.0.bias": torch.full_like(w["encoder.0.bias"],
                                                                                      float("inf"))})), "NaN"),
    "integers": (_weights_edit(lambda w: w.update({"encoder.0.bias": torch.zeros(32, dtype=torch.int64)})),
                 "holds I64 values"),
    "extra-weight": (_weights_edit(lambda w: w.update({"surprise": torch.zeros(3)})), "unexpected: ['surprise']"),
    "missing-weight": (_weights_edit(lambda w: w.pop("encoder.0.bias")), "missing: ['encoder.0.bias']"),
}


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_wrong_weights_under_a_good_record(case, good, tmp_path):
    path, weights = good
    write, fragment = WEIGHT_CASES[case]
    bad = tmp_path / "bad.safetensors"
    write(bad, {k: v.clone() for k, v in weights.items()}, checkpoints.read_meta(path))
    with pytest.raises(CheckpointError, match=None) as error:
        checkpoints.load(bad)
    assert fragment in str(error.value), str(error.value)


def _header_bytes(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


@pytest.mark.parametrize("content, fragment", [
    ((2**40).to_bytes(8, "little") + b"{}", "header claims"),  # a header larger than the file
    ((2**63).to_bytes(8, "little") + b"{}" * 100, "header claims"),
    (_header_bytes({"__metadata__": {META_KEY: "{}"}, "w": {"dtype": "F32", "shape": [10**9, 10**9],
                                                            "data_offsets": [0, 16]}}, b"\0" * 16), "declares shape"),
    (_header_bytes({"__metadata__": {META_KEY: "{}"}, "w": {"dtype": "F32", "shape": [4],
                                                            "data_offsets": [0, 16]}}, b"\0" * 8), "truncated"),
    (_header_bytes({"__metadata__": {META_KEY: "{}"}, "w": {"dtype": "F32", "shape": "four",
                                                            "data_offsets": [0, 16]}}, b"\0" * 16), "malformed"),
    (_header_bytes({"__metadata__": "genlab"}), "not a genlab checkpoint"),
    (_header_bytes([1, 2, 3]), "not a JSON object"),
    (b"\x05\0\0\0\0\0\0\0\xff\xfe\xfd\xfc\xfb", "not JSON"),
], ids=["header-past-the-file", "header-2-to-63", "shape-beyond-its-bytes", "data-cut-short", "shape-a-string",
        "metadata-a-string", "header-a-list", "header-binary"])
def test_a_malformed_header_is_refused_before_its_sizes_are_used(content, fragment, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        checkpoints.load(bad)
    assert fragment in str(error.value), str(error.value)


def test_every_registry_model_round_trips_through_the_checks(tmp_path):
    """The checks refuse nothing genlab itself saves: every model of the registry, and bytes as well as files."""
    from genlib.data import load_dataset
    from genlib.models import REGISTRY, build

    for name, (cls, _) in REGISTRY.items():
        model = build(name, load_dataset(cls.EXAMPLE_DATA, "train", seed=0).shape, seed=1, **cls.EXAMPLE_CONFIG)
        loaded = checkpoints.load_bytes(checkpoints.to_bytes(model, data=cls.EXAMPLE_DATA), label=f"{name}.st")
        assert loaded.name == name and loaded.config == model.config
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (name, key)


def test_load_bytes_names_the_upload_not_a_temporary_file(good):
    path, _ = good
    raw = path.read_bytes()
    with pytest.raises(CheckpointError) as error:
        checkpoints.load_bytes(raw[: len(raw) // 2], label="mine.safetensors")
    assert str(error.value).startswith("mine.safetensors is not a readable") and "/tmp" not in str(error.value)
