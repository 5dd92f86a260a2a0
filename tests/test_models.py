"""Every registered model, parametrised over genlib.models.MODELS: a model added to the registry is tested here
with no edit, built from its own EXAMPLE_CONFIG on its EXAMPLE_DATA."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genlib.checkpoints import load, save
from genlib.data import load_dataset
from genlib.metrics import evaluate
from genlib.models import MODELS, REGISTRY, build
from genlib.train import TrainingRun, fit

STEPS, BATCH = 4, 32


def _example(name):
    cls = REGISTRY[name][0]
    data = load_dataset(cls.EXAMPLE_DATA, "train", seed=0).subset(256)
    return build(name, data.shape, seed=0, **cls.EXAMPLE_CONFIG), data


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_documented_models_are_registered():
    assert MODELS == tuple(REGISTRY) and "vae" in MODELS
    for name in MODELS:
        cls = REGISTRY[name][0]
        assert isinstance(cls.EXAMPLE_CONFIG, dict) and isinstance(cls.EXAMPLE_DATA, str), name


@pytest.mark.parametrize("name", MODELS)
def test_builds_with_a_finite_loss(name):
    model, data = _example(name)
    assert model.name == name and model.data_shape == data.shape
    assert model.n_parameters() > 0
    json.dumps(model.config_dict())  # the config travels with the weights as JSON
    again, _ = _example(name)
    assert _same_weights(model, again)  # build is seeded
    terms = model.loss(data.x[:BATCH])
    loss = terms["loss"]
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    for key, value in terms.items():
        if isinstance(value, torch.Tensor) and value.dim() == 1:
            assert value.shape == (BATCH,), key  # per-example terms


@pytest.mark.parametrize("name", MODELS)
def test_a_few_training_steps_work_and_chunking_changes_nothing(name):
    model, data = _example(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = TrainingRun(model, data, steps=STEPS, batch_size=BATCH, seed=0)
    records = run.advance(1) + run.advance(STEPS)
    assert run.done and run.stopped is None and [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert all(math.isfinite(r["loss"]) for r in records)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # it learned something
    reference, _ = _example(name)
    expected = list(fit(reference, data, steps=STEPS, batch_size=BATCH, seed=0))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in expected] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in records]
    assert _same_weights(model, reference)


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_gives_identical_outputs(name, tmp_path):
    model, data = _example(name)
    list(fit(model, data, steps=2, batch_size=BATCH, seed=0))
    loaded = load(save(model, tmp_path / f"{name}.safetensors", data=data.name))
    assert type(loaded) is type(model) and loaded.name == name and _same_weights(model, loaded)
    assert loaded.config_dict() == model.config_dict()
    x = data.x[:BATCH]
    model.eval(), loaded.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        a = model.loss(x)
        torch.manual_seed(0)
        b = loaded.loss(x)
    assert torch.equal(a["loss"], b["loss"])
    small = data.subset(48)
    assert evaluate(model, small, k=2) == evaluate(loaded, small, k=2)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_settings_are_refused(name):
    cls = REGISTRY[name][0]
    data = load_dataset(cls.EXAMPLE_DATA, "train", seed=0)
    with pytest.raises(ValueError, match="no setting"):
        build(name, data.shape, **cls.EXAMPLE_CONFIG, no_such_setting=1)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        build("gpt", (1, 8, 8))
