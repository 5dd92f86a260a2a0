"""The training loop: chunked == unchunked bit for bit, non-finite losses stop cleanly, training helps, and a
plain MLP VAE trains through genlib.batched's step (a stack of one) as on its own step under autograd."""

from __future__ import annotations

import random

import pytest
import torch

from genlib import batched
from genlib.metrics import evaluate
from genlib.models import build
from genlib.models.base import NonFiniteLoss, summarize
from genlib.train import TrainingRun, fit

STEPS = 120


def _vae(data, **config):
    return build("vae", data.shape, seed=0, **{"latent_dim": 4, "hidden": (64,), **config})


def _without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("stack", [True, False], ids=["stack", "own step"])
@pytest.mark.parametrize("chunk_seed", [0, 1])
def test_chunked_run_equals_fit_bit_for_bit(digits, chunk_seed, stack):
    small = digits.subset(300)  # a few epochs in 120 steps: the batch order reshuffles mid-run
    reference = _vae(small, beta_schedule={"kind": "cyclical", "total_steps": STEPS, "n_cycles": 2})
    expected = list(fit(reference, small, steps=STEPS, batch_size=64, seed=7, stack=stack))

    model = _vae(small, beta_schedule={"kind": "cyclical", "total_steps": STEPS, "n_cycles": 2})
    run = TrainingRun(model, small, steps=STEPS, batch_size=64, seed=7, stack=stack)
    chunks = random.Random(chunk_seed)
    got = []
    while not run.done:
        torch.randn(chunks.randint(1, 50))  # someone else draws from the global RNG between chunks
        got += run.advance(chunks.randint(1, 40))
    assert run.step == STEPS and run.advance(5) == []
    assert _without_seconds(got) == _without_seconds(expected)
    assert _without_seconds(run.history) == _without_seconds(expected)
    _assert_same_weights(model, reference)


def test_same_seed_same_run_other_seed_other_run(digits):
    small = digits.subset(200)
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = _vae(small)
        runs[name] = (_without_seconds(fit(model, small, steps=20, batch_size=32, seed=seed)), model)
    assert runs["a"][0] == runs["b"][0]
    _assert_same_weights(runs["a"][1], runs["b"][1])
    assert runs["a"][0] != runs["c"][0]


def test_training_leaves_the_callers_random_state_alone(digits):
    run = TrainingRun(_vae(digits), digits, steps=10, batch_size=32)
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    run.advance(5)
    assert torch.equal(torch.rand(4), expected)


def test_records_hold_plain_numbers(digits):
    records = list(fit(_vae(digits), digits, steps=5, batch_size=32))
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds) and seconds[0] > 0
    for r in records:
        assert {"loss", "recon", "kl", "elbo", "beta", "kl_per_dim"} <= set(r)
        assert all(isinstance(r[k], float) for k in ("loss", "recon", "kl", "elbo", "beta"))
        assert isinstance(r["kl_per_dim"], list) and len(r["kl_per_dim"]) == 4
        assert r["elbo"] == pytest.approx(-(r["recon"] + r["kl"]), rel=1e-5)


def test_huge_learning_rate_stops_with_a_reason_and_finite_weights(digits):
    model = _vae(digits)
    run = TrainingRun(model, digits, steps=200, batch_size=64, lr=10.0)
    while not run.done:
        run.advance(25)
    assert run.stopped and "loss" in run.stopped and "learning rate" in run.stopped
    assert run.step < 200
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with pytest.raises(NonFiniteLoss):
        for _ in fit(_vae(digits), digits, steps=200, batch_size=64, lr=10.0):
            pass


def _poisoned_from(model, first_bad_step):
    """Make ``model``'s loss NaN from step ``first_bad_step`` (0-based) on."""
    honest = model.loss

    def loss(x, step=0):
        terms = honest(x, step)
        if step >= first_bad_step:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    model.loss = loss
    return model


def test_non_finite_loss_keeps_the_last_finite_weights(digits):
    model = _poisoned_from(_vae(digits), 5)
    run = TrainingRun(model, digits, steps=50, batch_size=32, seed=3)
    records = run.advance(20)
    assert len(records) == 5 and run.step == 5 and run.done
    assert "step 6" in run.stopped and "nan" in run.stopped
    assert run.advance(10) == []
    healthy = _vae(digits)  # the same run stopped by hand after 5 steps (on the model's own step, as the
    TrainingRun(healthy, digits, steps=50, batch_size=32, seed=3, stack=False).advance(5)  # poisoned one's)
    _assert_same_weights(model, healthy)
    with pytest.raises(NonFiniteLoss, match="step 6"):
        list(fit(_poisoned_from(_vae(digits), 5), digits, steps=50, batch_size=32, seed=3))


class _InfiniteGradient(torch.autograd.Function):
    """The identity forward; an infinite gradient backward: a finite loss whose step breaks the weights."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


def test_weights_broken_by_a_finite_loss_go_back_to_the_chunk_start(digits):
    model = _vae(digits)
    honest = model.loss

    def loss(x, step=0):
        terms = honest(x, step)
        if step == 5:
            terms["loss"] = _InfiniteGradient.apply(terms["loss"])
        return terms

    model.loss = loss
    run = TrainingRun(model, digits, steps=50, batch_size=32, seed=3)
    run.advance(3)
    assert run.advance(20) == []  # steps 4..6 are thrown away with the weights they made
    assert run.done and run.step == 3 and len(run.history) == 3
    assert "restored to step 3" in run.stopped
    assert all(torch.isfinite(p).all() for p in model.parameters())
    healthy = _vae(digits)
    TrainingRun(healthy, digits, steps=50, batch_size=32, seed=3, stack=False).advance(3)
    _assert_same_weights(model, healthy)


def test_training_lowers_the_test_loss(digits, digits_test):
    model = _vae(digits)
    before = evaluate(model, digits_test, k=2)["elbo"]
    list(fit(model, digits, steps=200, batch_size=64, lr=3e-3))
    after = evaluate(model, digits_test, k=2)["elbo"]
    assert after > before + 5, (before, after)  # nats per image


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"steps": 2.5}, {"steps": 10, "batch_size": 0},
                                    {"steps": 10, "lr": 0.0}, {"steps": 10, "lr": float("nan")},
                                    {"steps": 10, "lr": float("inf")}])
def test_bad_arguments_raise_value_error(digits, kwargs):
    with pytest.raises(ValueError):
        TrainingRun(_vae(digits), digits, **kwargs)


def test_batch_larger_than_the_data_is_cut_to_the_data(digits):
    small = digits.subset(10)
    run = TrainingRun(_vae(small), small, steps=3, batch_size=128)
    assert run.batch_size == 10 and len(run.advance(3)) == 3


def _terms(g: torch.Generator, batch: int, step: int) -> dict:
    return {"loss": torch.randn((), generator=g), "recon": torch.randn(batch, generator=g) * 50,
            "kl_per_dim": torch.rand(batch, 4, generator=g), "codes": torch.rand(batch, 3, 2, generator=g),
            "hits": torch.randint(0, 9, (batch,), generator=g), "beta": 0.25 * step}


def _reference_record(terms: dict) -> dict:
    """One step's record, reduced on its own with the obvious calls."""
    return {"loss": terms["loss"].item(), "recon": terms["recon"].mean().item(),
            "kl_per_dim": terms["kl_per_dim"].mean(0).tolist(), "codes": terms["codes"].mean((0, 1)).tolist(),
            "hits": terms["hits"].double().mean().item(), "beta": terms["beta"]}


def test_a_chunks_records_are_each_steps_own_batch_means():
    g = torch.Generator().manual_seed(0)
    steps = [_terms(g, 128, step) for step in range(50)]
    records = summarize(steps)
    assert records == [_reference_record(terms) for terms in steps]
    assert all(list(r) == list(steps[0]) for r in records)
    assert summarize(steps[:1]) == records[:1] and summarize([]) == []
    uneven = [_terms(g, 32, 0), _terms(g, 17, 1)]  # batches of two sizes are reduced one by one
    uneven[1]["extra"] = 2.0
    assert summarize(uneven) == [_reference_record(uneven[0]), {**_reference_record(uneven[1]), "extra": 2.0}]


# ---------------------------------------------------------------------- a plain VAE through the stack


def _spy(monkeypatch) -> list:
    """The sizes of the stacks that ``genlib.batched.StackedRuns`` trains from here on."""
    sizes: list[int] = []
    advance = batched.StackedRuns.advance
    monkeypatch.setattr(batched.StackedRuns, "advance",
                        lambda self, n, **kw: sizes.append(len(self.runs)) or advance(self, n, **kw))
    return sizes


def test_a_plain_vae_trains_as_a_stack_of_one_with_the_numbers_of_its_own_step(digits, compiled, monkeypatch):
    """200 steps with a β schedule and free bits: the same records, key for key and in order, the losses within
    1e-3 relative of the run on the model's own step under autograd, the same batches and noise after."""
    small = digits.subset(600)
    config = {"beta_schedule": {"kind": "monotonic", "total_steps": 200, "ratio": 0.5}, "free_bits": 0.2}
    own = TrainingRun(_vae(small, **config), small, steps=200, batch_size=64, seed=2, stack=False)
    assert batched.stacks(own) and not own.stack  # it would stack: stack=False keeps it on its own step
    expected = own.advance(200)
    sizes = _spy(monkeypatch)
    run = TrainingRun(_vae(small, **config), small, steps=200, batch_size=64, seed=2)
    assert batched.stacks(run)
    got = []
    while not run.done:
        got += run.advance(37)
    assert sizes and set(sizes) == {1}
    assert [list(r) for r in got] == [list(r) for r in expected]
    assert [r["step"] for r in got] == list(range(1, 201)) and [r["beta"] for r in got] == [r["beta"] for r in expected]
    assert max(abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(got, expected, strict=True)) < 1e-3
    for a, b in zip(run.model.parameters(), own.model.parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3)
    assert torch.equal(run._noise_state, own._noise_state) and run._cursor == own._cursor
    assert torch.equal(run._order_rng.get_state(), own._order_rng.get_state())


def test_what_does_not_stack_trains_on_its_own_step(digits, monkeypatch):
    small = digits.subset(200)
    sgd = TrainingRun(_vae(small), small, steps=20, batch_size=32)
    sgd.optimizers = [torch.optim.SGD(sgd.model.parameters(), lr=1e-3)]  # another optimiser than the stack's Adam
    decayed = TrainingRun(_vae(small), small, steps=20, batch_size=32)
    decayed.optimizers = [torch.optim.Adam(decayed.model.parameters(), lr=1e-3, weight_decay=1e-4)]
    other_lr = TrainingRun(_vae(small), small, steps=20, batch_size=32)
    other_lr.optimizers = [torch.optim.Adam(other_lr.model.parameters(), lr=3e-3)]
    runs = [sgd, decayed, other_lr, TrainingRun(_vae(small), small, steps=20, batch_size=32, stack=False),
            TrainingRun(build("info-vae", small.shape, seed=0, latent_dim=4, hidden=(64,)), small, steps=20,
                        batch_size=32),
            TrainingRun(_vae(small, network="conv", hidden=(8,)), small, steps=20, batch_size=32)]
    sizes = _spy(monkeypatch)
    for run in runs:
        assert not (run.stack and batched.stacks(run))
        assert len(run.advance(5)) == 5 and run.step == 5
    assert sizes == []
    before = [p.detach().clone() for p in sgd.model.parameters()]
    sgd.advance(1)  # the SGD it was given takes the step
    assert any(not torch.equal(a, b) for a, b in zip(before, sgd.model.parameters(), strict=True))
    assert "exp_avg" not in str(sgd.optimizers[0].state_dict())


def test_inside_a_stacked_chunk_the_model_holds_the_weights_of_the_step_before(digits):
    """``advance(n, inspect=...)`` (the timeline's snapshots inside a tick, a dissection) sees each step's
    weights as a run advanced one step at a time has them."""
    small = digits.subset(300)

    def seen_by(chunks):
        run = TrainingRun(_vae(small), small, steps=12, batch_size=32, seed=1)
        seen = {}
        for n in chunks:
            run.advance(n, inspect=lambda batch, step: seen.setdefault(step, (
                batch.clone(), [p.detach().clone() for p in run.model.parameters()])))
        return seen, run

    whole, run = seen_by([12])
    single, one_by_one = seen_by([1] * 12)
    assert sorted(whole) == sorted(single) == list(range(12))
    for step in range(12):
        assert torch.equal(whole[step][0], single[step][0])
        for a, b in zip(whole[step][1], single[step][1], strict=True):
            assert torch.equal(a, b), step
    _assert_same_weights(run.model, one_by_one.model)
