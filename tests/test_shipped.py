"""Timelines shipped in the zoo: recorded bit for bit like fit, bounded, matching the shipped model, checked
by sha256, and replayed by the pages at any shipped step."""

from __future__ import annotations

import math

import pytest
import torch
from apptest import open_page

from genlib import pretrained, shipped
from genlib.data import load_dataset
from genlib.metrics import evaluate
from genlib.models import build
from genlib.train import fit

SHIPPED = [name for name in pretrained.WITH_TIMELINE if "timeline" in pretrained.manifest().get(name, {})]


def test_the_annealing_and_collapse_recipes_ship_their_timelines():
    assert sorted(SHIPPED) == sorted(pretrained.WITH_TIMELINE), "rebuild: python -m genlib pretrained build"


def test_recording_trains_exactly_as_fit(digits, digits_test, tmp_path):
    small = digits.subset(200)

    def model():
        return build("vae", small.shape, seed=0, latent_dim=3, hidden=(16,),
                     beta_schedule={"kind": "cyclical", "total_steps": 90, "n_cycles": 3})

    reference = model()
    expected = [{k: v for k, v in r.items() if k != "seconds"} for r in fit(reference, small, steps=90, batch_size=32)]
    recorded = model()
    snapshots, history, evals = shipped.record_recipe(recorded, small, digits_test, steps=90, batch_size=32,
                                                      lr=1e-3, seed=0)
    assert history == expected
    for key, value in reference.state_dict().items():
        assert torch.equal(recorded.state_dict()[key], value)
    assert len(snapshots) <= 50 and min(snapshots) == 0 and max(snapshots) == 90
    assert [e["step"] for e in evals] == sorted(snapshots)
    path = shipped.save(tmp_path / "t.timeline.safetensors", snapshots, history, evals)
    back, back_history, back_evals = shipped.load(path)
    assert sorted(back) == sorted(snapshots) and back_history == history and back_evals == evals
    for key, value in snapshots[90]["model"].items():  # float16 on disk: within its rounding
        torch.testing.assert_close(back[90]["model"][key], value, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_timeline_ends_at_the_shipped_model(name):
    entry = pretrained.info(name)
    snapshots, history, evals = pretrained.load_timeline(name)
    steps = sorted(snapshots)
    assert steps[0] == 0 and steps[-1] == entry["steps"] and len(steps) <= 50
    assert entry["timeline"]["snapshots"] == len(steps)
    assert [r["step"] for r in history] == list(range(1, entry["steps"] + 1))
    model = pretrained.load(name)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(snapshots[steps[-1]]["model"][key], value, rtol=1e-2, atol=2e-3)
    last = evals[-1]
    assert last["step"] == entry["steps"]
    heldout = shipped.heldout_of(load_dataset(entry["data"], "test", seed=entry["seed"]))
    now = evaluate(model, heldout, k=1, max_examples=None, batch_size=len(heldout), seed=entry["seed"])
    for key in ("elbo", "recon", "kl"):
        assert math.isclose(now[key], last[key], rel_tol=1e-3, abs_tol=1e-3), (key, now[key], last[key])


def test_a_tampered_timeline_is_refused(tmp_path):
    name = SHIPPED[0]
    (tmp_path / "manifest.json").write_bytes((pretrained.ROOT / "manifest.json").read_bytes())
    data = bytearray(pretrained.timeline_path(name).read_bytes())
    data[-1] ^= 0xFF
    pretrained.timeline_path(name, tmp_path).write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="sha256"):
        pretrained.load_timeline(name, tmp_path)
    with pytest.raises(pretrained.PretrainedError, match="no shipped timeline"):
        pretrained.load_timeline("vae-digits")


def test_a_replayed_lab_at_step_k_holds_what_was_recorded_at_k():
    names = [n for n in SHIPPED if n.startswith("lab-")][:2]
    models = {n: pretrained.load(n) for n in names}
    timelines = {n: pretrained.load_timeline(n) for n in names}
    entry = pretrained.info(names[0])
    lab, timeline = shipped.replay(models, timelines, load_dataset(entry["data"], "test", seed=0), eval_every=64)
    assert lab.done and lab.step == entry["steps"]
    k = timeline.steps()[len(timeline.steps()) // 2]
    view = timeline.view(k)
    for n in names:
        assert view.runs[n].step == k and view.runs[n].history[-1]["step"] == k
        assert view.evals[n][-1]["step"] == k
        for key, value in timelines[n][0][k]["model"].items():
            assert torch.equal(view.runs[n].model.state_dict()[key], value)
    assert timeline.view(lab.step) is lab
    assert all(r.step == entry["steps"] for r in lab.runs.values()), "looking back leaves the lab as it was"


@pytest.mark.parametrize(("page", "key", "chart"), [("30_annealing_lab.py", "lab", "strip_samples"),
                                                    ("35_posterior_collapse.py", "collapse", "rd")])
def test_the_pages_scrub_the_shipped_runs(page, key, chart):
    import json

    at = open_page(page).run()
    assert not at.exception
    slider = at.select_slider(key=f"{key}-shipped")
    steps = [int(s) for s in slider.options]
    assert int(slider.value) == steps[-1] and steps[0] == 0

    def spec():
        return json.loads(next(c for c in at.get("plotly_chart") if c.key == chart).proto.spec)

    last = spec()["data"]
    slider.set_value(steps[len(steps) // 4]).run()
    assert not at.exception
    assert spec()["data"] != last, "the figures show the runs at the chosen step"
