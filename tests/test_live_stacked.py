"""ui.live trains a page's runs of one architecture as one stack (genlib.batched), as the annealing lab does:
the objectives page's VAE and β-VAE. The runs, their timelines and their probes are those of the runs trained
alone, piece by piece, to the stack's 1e-3; runs of another architecture train alone beside them."""

from __future__ import annotations

import pytest
import torch

from genlib import batched
from genlib.models import build
from genlib.priors import ProbedRun
from genlib.timeline import Timeline
from genlib.train import TrainingRun
from ui import live

STEPS = 120
CHUNKS = (1, 7, 30, 50, 40)  # the tick sizes, through the timelines' first doublings


def _runs(data, probe_x):
    def probed(name, **config):
        model = build(name, data.shape, seed=0, latent_dim=2, hidden=(32, 32), **config)
        return ProbedRun(TrainingRun(model, data, steps=STEPS, seed=0), probe_x, seed=0)
    return {"VAE": probed("vae"), "β-VAE": probed("vae", beta_schedule={"kind": "constant", "beta": 4.0}),
            "MMD-VAE": probed("mmd-vae", lambda_=10.0)}


def _state(runs) -> live.LiveState:
    return live.LiveState(runs=runs, timelines={name: Timeline(run, max_snapshots=8) for name, run in runs.items()})


def _tick(s: live.LiveState, chunk: int) -> None:
    s.seconds_per_step = 1.0  # so that the tick's chunk is ``chunk`` steps per run
    live._advance(s, budget_s=chunk * len([r for r in s.runs.values() if not r.done]))


def test_a_pages_runs_of_one_architecture_train_as_one_stack(digits, monkeypatch):
    stacked, alone = _state(_runs(digits, digits.x[:64])), _state(_runs(digits, digits.x[:64]))
    assert live._groups(stacked.runs) == [["VAE", "β-VAE"], ["MMD-VAE"]]
    sizes = []
    advance = batched.StackedRuns.advance
    monkeypatch.setattr(batched.StackedRuns, "advance",
                        lambda self, n, **kw: sizes.append(len(self.runs)) or advance(self, n, **kw))
    for chunk in CHUNKS:
        _tick(stacked, chunk)
        for name, run in alone.runs.items():  # each run alone, as a page of one run trains it
            live._train(alone, name, run, chunk)
    # the VAE and the β-VAE as one stack of two, and alone as stacks of one; the MMD-VAE on its own step
    assert sizes and set(sizes) == {1, 2}
    for name, run in stacked.runs.items():
        other = alone.runs[name]
        assert run.step == other.step == min(STEPS, sum(CHUNKS))
        assert stacked.timelines[name].steps() == alone.timelines[name].steps()
        assert [p["step"] for p in run.probes] == [p["step"] for p in other.probes]
        for a, b in zip(run.run.history, other.run.history, strict=True):
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)
        last = stacked.timelines[name].steps()[-1]
        for key, value in stacked.timelines[name].snapshots[last]["model"].items():
            assert torch.allclose(value, alone.timelines[name].snapshots[last]["model"][key], rtol=1e-3, atol=1e-3)


def test_slow_motion_and_runs_on_their_own_are_not_stacked(digits):
    runs = _runs(digits, digits.x[:64])
    s = _state(runs)
    live._advance(s, budget_s=1.0, slow=True)  # slow motion: one dissected step each, alone
    assert all(run.step == 1 for run in runs.values()) and s.dissections.keys() == runs.keys()
    assert live._groups({"VAE": runs["VAE"]}) == [["VAE"]]
    lab = type("Lab", (), {"runs": {}})()  # a run-like object that is not a TrainingRun trains as it is
    assert live._groups({"lab": lab, **runs}) == [["VAE", "β-VAE"], ["MMD-VAE"], ["lab"]]
