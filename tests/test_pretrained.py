"""The pretrained zoo: every manifest entry loads, matches its sha256, and re-evaluates to its recorded
metrics; every recipe still trains; the folder stays small."""

from __future__ import annotations

import json
import math

import pytest

from genlib import pretrained
from genlib.data import load_dataset
from genlib.metrics import evaluate

ENTRIES = pretrained.names()
MAX_ZOO_BYTES = 40 * 2**20  # timelines included (genlib.shipped)
# Same machine and torch: identical numbers. Another BLAS or CPU may move the last digits.
REL, ABS = 1e-3, 1e-3
COMPARED = ("elbo", "recon", "kl", "nll_iwae", "mutual_information", "nll", "bits_per_dim")


def test_the_zoo_is_not_empty_and_stays_under_40_mb():
    assert ENTRIES, "no pretrained models: run `python -m genlib pretrained build`"
    total = sum(p.stat().st_size for p in pretrained.ROOT.iterdir() if p.is_file())
    assert total < MAX_ZOO_BYTES, f"pretrained/ holds {total / 2**20:.1f} MB"


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_loads_matches_its_sha256_and_reproduces_its_metrics(name):
    entry = pretrained.info(name)
    path = pretrained.path_of(name)
    assert path.exists(), f"{path.name} is in the manifest but not on disk"
    assert pretrained.sha256(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
    assert entry["recipe"] == f"python -m genlib pretrained build {name}"
    assert {"data", "seed", "steps", "metrics", "genlib_version", "description"} <= set(entry)
    assert name in pretrained.RECIPES, f"{name} has no recipe to rebuild it"
    model = pretrained.load(name)
    assert model.name == entry["model"] and json.loads(json.dumps(model.config_dict())) == entry["config"]
    metrics = evaluate(model, load_dataset(entry["data"], "test", seed=entry["seed"]))
    recorded = entry["metrics"]
    assert metrics["n_examples"] == recorded["n_examples"] and metrics["unit"] == recorded["unit"]
    for key in COMPARED:
        if key in recorded:
            assert math.isclose(metrics[key], recorded[key], rel_tol=REL, abs_tol=ABS), \
                f"{name}: {key} {metrics[key]:.4f} now, {recorded[key]:.4f} recorded"
    if "kl_per_dim" in recorded:  # the ELBO page shows the recorded bars of a pretrained model
        assert metrics["kl_per_dim"] == pytest.approx(recorded["kl_per_dim"], rel=REL, abs=ABS)
    if "active_units" in recorded:
        assert abs(metrics["active_units"] - recorded["active_units"]) <= 1


def test_a_tampered_file_is_refused(tmp_path):
    name = ENTRIES[0]
    (tmp_path / "manifest.json").write_bytes((pretrained.ROOT / "manifest.json").read_bytes())
    data = bytearray(pretrained.path_of(name).read_bytes())
    data[-1] ^= 0xFF
    pretrained.path_of(name, tmp_path).write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="sha256"):
        pretrained.load(name, tmp_path)


@pytest.mark.parametrize("name", sorted(pretrained.RECIPES))
def test_each_recipe_still_trains_a_few_steps(name):
    model, data = pretrained.train_recipe(name, steps=3)
    assert model.name == pretrained.RECIPES[name]["model"] and data.name == pretrained.RECIPES[name]["data"]
    assert all(math.isfinite(p.detach().abs().sum().item()) for p in model.parameters())
