"""A run's timeline: bounded, evenly thinned snapshots, and a replay at step k equal to a fresh run stopped at k."""

from __future__ import annotations

import pytest
import torch

from genlib.lockstep import Lockstep
from genlib.metrics import evaluate
from genlib.models import build
from genlib.timeline import Timeline
from genlib.train import TrainingRun


def _vae(data, seed=0):
    return build("vae", data.shape, seed=seed, latent_dim=3, hidden=(16,),
                 beta_schedule={"kind": "cyclical", "total_steps": 60, "n_cycles": 2})


def _train(run, timeline, n):
    """Advance as the live pages do: in pieces that end where a snapshot is due, recording after each."""
    target = min(run.steps, run.step + n)
    while run.step < target and not run.done:
        run.advance(min(target, timeline.next_due()) - run.step)
        timeline.record()


def _no_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_snapshots_stay_bounded_and_evenly_spaced(digits):
    small = digits.subset(200)
    run = TrainingRun(_vae(small), small, steps=500, batch_size=32)
    timeline = Timeline(run, max_snapshots=20)
    for chunk in (7, 13, 50, 1, 100, 33, 296):
        _train(run, timeline, chunk)
        steps = timeline.steps()
        assert len(steps) <= 20
        assert steps[0] == 0 and steps[-1] == run.step  # the start and where the run is now
        regular = [s for s in steps if s % timeline.interval == 0]
        assert regular == list(range(0, regular[-1] + 1, timeline.interval))  # no gaps in the grid
        assert len(steps) - len(regular) <= 1  # at most one off-grid snapshot: the latest
    assert run.step == 500
    assert len(timeline.steps()) >= 10  # thinning halves, it does not throw the record away


def test_the_byte_budget_lowers_the_count(digits):
    run = TrainingRun(_vae(digits), digits, steps=100, batch_size=32)
    one = sum(t.numel() * t.element_size() for t in run.model.state_dict().values())
    timeline = Timeline(run, budget_bytes=5 * one)
    _train(run, timeline, 100)
    assert len(timeline.steps()) <= 5
    assert timeline.nbytes <= 5 * one
    assert timeline.steps()[-1] == 100


def test_a_lowered_budget_thins_at_once(digits):
    run = TrainingRun(_vae(digits), digits, steps=100, batch_size=32)
    one = sum(t.numel() * t.element_size() for t in run.model.state_dict().values())
    timeline = Timeline(run)
    _train(run, timeline, 60)
    assert len(timeline.steps()) > 20
    timeline.budget_bytes = 6 * one
    timeline.thin()
    assert len(timeline.steps()) <= 6 and timeline.steps()[0] == 0 and timeline.steps()[-1] == 60


def test_replay_at_step_k_equals_a_fresh_run_stopped_at_k(digits, digits_test):
    small = digits.subset(300)
    run = TrainingRun(_vae(small), small, steps=60, batch_size=64, seed=2)
    timeline = Timeline(run, max_snapshots=8)
    for chunk in (5, 11, 30, 14):
        _train(run, timeline, chunk)
    weights = {k: v.clone() for k, v in run.model.state_dict().items()}
    checked = [k for k in timeline.steps() if 0 < k < 60]
    assert len(checked) >= 3
    for k in checked:
        view = timeline.view(k)
        fresh = TrainingRun(_vae(small), small, steps=60, batch_size=64, seed=2)
        fresh.advance(k)
        assert view.step == k == fresh.step
        assert _no_seconds(view.history) == _no_seconds(fresh.history)
        for key, value in fresh.model.state_dict().items():
            assert torch.equal(view.model.state_dict()[key], value), (k, key)
        a = evaluate(view.model, digits_test, k=4, max_examples=64, seed=0)
        b = evaluate(fresh.model, digits_test, k=4, max_examples=64, seed=0)
        assert a == b
    for key, value in run.model.state_dict().items():  # looking back leaves the run where it was
        assert torch.equal(value, weights[key])
    assert timeline.view(run.step) is run


def test_a_lockstep_lab_replays_every_run(digits, digits_test):
    small = digits.subset(200)
    models = {"a": _vae(small, 0), "b": build("vae", small.shape, seed=0, latent_dim=3, hidden=(16,))}
    lab = Lockstep(models, small, digits_test, steps=40, batch_size=32, eval_every=10)
    timeline = Timeline(lab, max_snapshots=6)
    _train(lab, timeline, 40)
    k = [s for s in timeline.steps() if 0 < s < 40][0]
    view = timeline.view(k)
    fresh = Lockstep({"a": _vae(small, 0), "b": build("vae", small.shape, seed=0, latent_dim=3, hidden=(16,))},
                     small, digits_test, steps=40, batch_size=32, eval_every=10)
    fresh.advance(k)
    for name in models:
        assert view.runs[name].step == k
        for key, value in fresh.runs[name].model.state_dict().items():
            assert torch.equal(view.runs[name].model.state_dict()[key], value), (name, key)
        assert _no_seconds(view.runs[name].history) == _no_seconds(fresh.runs[name].history)
        assert [e["step"] for e in view.evals[name]] == [e["step"] for e in fresh.evals[name] if e["step"] <= k]
    assert lab.runs["a"].step == 40


def test_bad_requests_say_what_is_there(digits):
    run = TrainingRun(_vae(digits), digits, steps=10, batch_size=32)
    timeline = Timeline(run)
    with pytest.raises(KeyError, match="recorded steps"):
        timeline.view(5)
    with pytest.raises(ValueError, match="at least 2"):
        Timeline(run, max_snapshots=1)
    assert timeline.nearest(7) == 0


def test_snapshots_taken_inside_a_chunk_equal_those_of_pieces(digits):
    """ui.live trains a TrainingRun's tick in one piece, keeping the snapshots due inside it through the
    ``inspect`` hook: the same steps, the same weights and the same run as stopping at every snapshot."""
    pieces_run = TrainingRun(_vae(digits), digits, steps=300, batch_size=32, seed=3)
    whole_run = TrainingRun(_vae(digits), digits, steps=300, batch_size=32, seed=3)
    pieces, whole = Timeline(pieces_run, max_snapshots=8), Timeline(whole_run, max_snapshots=8)
    for chunk in (1, 5, 37, 80, 2, 175):
        _train(pieces_run, pieces, chunk)
        whole_run.advance(chunk, inspect=whole.inspector())
        whole.record()
        assert whole.steps() == pieces.steps()
        for step in pieces.steps():
            for key, value in pieces.snapshots[step]["model"].items():
                assert torch.equal(value, whole.snapshots[step]["model"][key]), (step, key)
    assert whole.steps()[-1] == 300 and len(whole.steps()) <= 9
    assert _no_seconds(whole_run.history) == _no_seconds(pieces_run.history)


def test_snapshots_of_a_chunk_that_was_undone_are_dropped(digits):
    run = TrainingRun(_vae(digits), digits, steps=50, batch_size=32, seed=0)
    timeline = Timeline(run)
    run.advance(10, inspect=timeline.inspector())
    assert max(timeline.steps()) == 9, "step 10's weights are only there after the chunk"
    run.step = 4  # as a chunk restored to its start after a non-finite loss leaves it
    timeline.record()
    assert timeline.steps() == [0, 1, 2, 3, 4]
