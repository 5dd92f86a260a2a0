"""genlib.remote: a run trained by a Ray actor is the run trained in process, record for record and bit for bit.

One local Ray instance (one CPU) for the module; every test stops the actors it started."""

from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt): "
                                        "training on a Ray cluster is optional")

from genlib import remote  # noqa: E402
from genlib.lockstep import Lockstep  # noqa: E402
from genlib.models import build  # noqa: E402
from genlib.priors import ProbedRun  # noqa: E402
from genlib.timeline import models_of  # noqa: E402
from genlib.train import TrainingRun  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=1, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


@pytest.fixture
def wrap():
    """RemoteRun(run), its actor killed at the test's end (the one CPU is then free for the next test's)."""
    made = []

    def make(run):
        made.append(remote.RemoteRun(run))
        return made[-1]

    yield make
    for run in made:
        ray.kill(run._actor)


def vae(digits, seed=0):
    return build("vae", digits.shape, seed=seed, latent_dim=4, hidden=(64,))


def training_run(digits, steps=40, seed=0):
    return TrainingRun(vae(digits, seed), digits, steps=steps, batch_size=64, seed=seed)


def timeless(records):
    """Records without their wall-clock seconds (the one thing two processes cannot share)."""
    return [{key: value for key, value in r.items() if key != "seconds"} for r in records]


def assert_same_weights(a, b):
    models_a, models_b = models_of(a), models_of(b)
    assert models_a.keys() == models_b.keys()
    for name, model in models_a.items():
        theirs = models_b[name].state_dict()
        for key, value in model.state_dict().items():
            assert torch.equal(value, theirs[key]), f"{name}.{key} differs"


def test_a_run_trained_remotely_in_chunks_is_the_run_trained_here(digits, wrap):
    local, mirrored = training_run(digits), training_run(digits)
    run = wrap(mirrored)
    while not run.done:
        assert timeless(run.advance(7)) == timeless(local.advance(7))
    assert (run.step, run.steps, run.stopped) == (40, 40, None) and local.done
    assert timeless(run.history) == timeless(local.history) and len(run.history) == 40
    assert run.model is mirrored.model  # the page draws the mirror's model, with the actor's weights
    assert_same_weights(run, local)
    assert run.advance(7) == []
    view = run.view_at(21, {"model": local.model.state_dict()})  # read from the mirror
    assert view.step == 21 and len(view.history) == 21


def test_a_lockstep_trained_remotely_is_the_lockstep_trained_here(digits, digits_test, wrap):
    def lab():
        return Lockstep({"a": vae(digits, 0), "b": vae(digits, 1)}, digits, digits_test, steps=30, batch_size=64,
                        eval_every=10, eval_examples=64)

    local, run = lab(), wrap(lab())
    while not run.done:
        assert [r["step"] for r in run.advance(7)] == [r["step"] for r in local.advance(7)]
    assert (run.step, run.steps, run.stopped) == (30, 30, None)
    for name in ("a", "b"):
        assert timeless(run.runs[name].history) == timeless(local.runs[name].history)
    assert run.evals == local.evals and [e["step"] for e in run.evals["a"]] == [0, 10, 20, 30]
    assert_same_weights(run, local)
    assert not hasattr(run, "dissect_next")  # as the Lockstep: the live pages ask hasattr


def test_extend_and_dissect_next_run_on_the_actor(digits, wrap):
    local, run = training_run(digits, steps=10), wrap(training_run(digits, steps=10))
    run.advance(10), local.advance(10)
    assert run.done and run.dissect_next() is None
    run.extend(3), local.extend(3)
    assert not run.done and run.steps == 13
    mine, theirs = run.dissect_next(), local.dissect_next()
    assert timeless([mine["record"]]) == timeless([theirs["record"]]) and mine["record"]["step"] == 11
    for name, update in theirs["update"].items():
        assert torch.equal(mine["update"][name], update)
    assert timeless(run.advance(5)) == timeless(local.advance(5))
    assert run.step == 13 and run.done
    assert_same_weights(run, local)


def test_a_probed_run_brings_back_its_probes(digits, digits_test, wrap):
    def probed():
        return ProbedRun(training_run(digits, steps=20), digits_test.x[:64], every=5)

    local, run = probed(), wrap(probed())
    while not run.done:
        run.advance(7), local.advance(7)
    assert run.probes == local.probes and [p["step"] for p in run.probes] == [0, 7, 14, 20]
    assert timeless(run.history) == timeless(local.history)
    assert_same_weights(run, local)


def test_changes_by_hand_reach_the_actor(digits, wrap):
    """A presenter's step by hand (the AAE's discriminator step) on the mirror: ``by_hand`` brings in the
    actor's optimiser state first and sends the changed weights back, so training goes on from them."""

    def nudge(runs):
        run = runs["vae"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            run.model.training_step(run.x[:32], run.step, run.optimizers)

    local, run = training_run(digits, steps=12), wrap(training_run(digits, steps=12))
    run.advance(6), local.advance(6)
    remote.by_hand({"vae": run}, nudge)
    nudge({"vae": local})
    assert_same_weights(run, local)
    assert timeless(run.advance(6)) == timeless(local.advance(6))
    assert_same_weights(run, local)


def test_a_run_whose_actor_died_says_so(digits, wrap):
    run = wrap(training_run(digits))
    assert len(run.advance(5)) == 5
    weights = {k: v.clone() for k, v in run.model.state_dict().items()}
    ray.kill(run._actor)
    assert run.advance(5) == []
    assert run.done and run.step == 5
    assert run.stopped.startswith("stopped at step 5: the Ray worker that trained it is gone")
    assert "Reset" in run.stopped
    assert all(torch.equal(v, weights[k]) for k, v in run.model.state_dict().items())  # the last weights stay
    assert run.advance(5) == [] and run.dissect_next() is None


def test_maybe_remote_leaves_runs_alone_without_an_address(digits, monkeypatch):
    monkeypatch.delenv(remote.ADDRESS_VARIABLE, raising=False)
    runs = {"vae": training_run(digits)}
    assert remote.maybe_remote(runs) is runs


def test_maybe_remote_wraps_each_run_where_an_address_is_set(digits, monkeypatch):
    monkeypatch.setenv(remote.ADDRESS_VARIABLE, "auto")
    monkeypatch.setattr(remote, "_connected", False)  # ray.init was called by this module: it connects at once
    runs = {"vae": training_run(digits, steps=5)}
    wrapped = remote.maybe_remote(runs)
    try:
        assert isinstance(wrapped["vae"], remote.RemoteRun) and wrapped["vae"].run is runs["vae"]
        assert len(wrapped["vae"].advance(5)) == 5 and runs["vae"].step == 5
    finally:
        ray.kill(wrapped["vae"]._actor)


@pytest.mark.parametrize("page, key, buttons", [("10_elbo.py", "elbo", ("elbo-step10", "elbo-step")),
                                                ("48_adversarial_autoencoder.py", "aae", ("aae-step10", "aae-step-d"))])
def test_a_live_page_trains_on_ray(monkeypatch, page, key, buttons):
    """The app with GENLAB_RAY_ADDRESS set: a live page's run is a RemoteRun; Step, a presenter's step by hand
    and the replay slider work on it as on a run trained here."""
    import sys

    sys.path.insert(0, "tests")
    from apptest import open_page, progress_step

    monkeypatch.setenv(remote.ADDRESS_VARIABLE, "auto")
    monkeypatch.setattr(remote, "_connected", False)
    at = open_page(page).run()
    for button in buttons:
        at.button(key=button).click().run()
        assert not at.exception, at.exception
    runs = at.session_state[f"live::{key}"].runs
    try:
        assert all(isinstance(run, remote.RemoteRun) for run in runs.values())
        assert progress_step(at) == 11 if buttons[1].endswith("step") else progress_step(at) == 10
        at.select_slider(key=f"{key}-replay").set_value(0).run()
        assert not at.exception, at.exception
    finally:
        for run in runs.values():
            ray.kill(run._actor)
