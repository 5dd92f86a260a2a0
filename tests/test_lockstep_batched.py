"""The batched lock step (genlib.batched): runs of one architecture trained as one computation give the runs
trained alone with the same seed (equal batches, losses within 1e-3 relative after 200 steps), keep their own
β schedule, free bits, records and optimiser state, and drop out on a non-finite loss without the others."""

from __future__ import annotations

import pytest
import torch

from genlib import annealing, batched, native
from genlib.annealing import PRESETS, Strategy, lab_config
from genlib.data import load_dataset
from genlib.lockstep import Lockstep
from genlib.models import build
from genlib.timeline import Timeline
from genlib.train import TrainingRun

TINY = {"latent_dim": 4, "hidden": (32, 32)}
STEPS = 200
LINEUP = annealing.lineup(annealing.DEFAULT_LINEUP)  # β = 1, monotonic, cyclical, free bits: one architecture


def lab_models(data, lineup=LINEUP, steps=STEPS, **model):
    return {s.label: build("vae", data.shape, seed=0, **lab_config(s, steps, **{**TINY, **model})) for s in lineup}


def recording(run):
    """Keep every batch ``run`` hands out (its ``_next_batch``)."""
    seen, draw = [], run._next_batch

    def next_batch():
        seen.append(draw())
        return seen[-1]

    run._next_batch = next_batch
    return seen


# Weights agree to within a few Adam steps (lr = 1e-3): the stack's hand-written backward pass rounds
# differently from autograd (gradients equal to ~1e-7 relative), and where a gradient is near zero (a
# collapsing latent dimension's encoder weights), Adam's normalised step turns that rounding into a step.
WEIGHTS = {"rtol": 1e-3, "atol": 1e-3}


def relative(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b, strict=True))


def alone(data, name, model, steps, seed=0, **kw):
    """A run trained alone on the model's own step under autograd: the reference the stack is held to."""
    run = TrainingRun(model, data, steps=steps, seed=seed, stack=False, **kw)
    return run, recording(run)


def test_the_lab_trains_as_one_stack(digits, digits_test):
    lab = Lockstep(lab_models(digits), digits, digits_test, steps=STEPS)
    assert batched.groups(lab.runs) == [list(lab.runs)]
    other = build("vae", digits.shape, seed=0, latent_dim=4, hidden=(16,))  # another architecture
    patched = build("vae", digits.shape, seed=0, **TINY)
    patched.loss = patched.loss  # a loss replaced on the instance trains alone
    conv = build("vae", digits.shape, seed=0, latent_dim=4, hidden=(8,), network="conv")
    models = {**lab_models(digits), "other": other, "patched": patched, "conv": conv,
              "pixelcnn": build("pixelcnn", digits.shape, seed=0)}
    runs = {name: TrainingRun(model, digits, steps=STEPS) for name, model in models.items()}
    assert batched.groups(runs) == [list(lab.runs), ["other"], ["patched"], ["conv"], ["pixelcnn"]]
    ahead = next(iter(lab.runs))
    runs[ahead].advance(1)  # a run a step ahead leaves its group
    assert batched.groups(runs)[:2] == [[ahead], [n for n in lab.runs if n != ahead]]


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical", "gaussian"])
def test_the_stacks_hand_written_gradient_is_autograds_of_each_runs_own_loss(likelihood, digits, compiled):
    """The reference: each run's own ``VAE.loss`` on the same batch and noise, differentiated by autograd,
    with the element-wise passes as torch's operations and as genlib.native's compiled loops."""
    data = digits if likelihood != "gaussian" else load_dataset("moons", "train", seed=0)
    lineup = [PRESETS["vae"], Strategy("constant", beta=4.0), PRESETS["free-bits"], Strategy("constant", beta=0.0)]
    extra = {"likelihood": likelihood, **({"levels": 17} if likelihood == "categorical" else {})}
    models = list(lab_models(data, lineup, **extra).values())
    stack = batched.StackedVAE(models, compiled=compiled)
    assert stack.compiled == compiled
    x, step = data.x[:64], 150
    noise = torch.get_rng_state()
    terms = stack.step(x, torch.tensor([[m.beta(step)] for m in models]))
    for i, model in enumerate(models):
        torch.set_rng_state(noise)  # the same ε as the stack drew
        model.zero_grad()
        own = model.loss(x, step)
        own["loss"].backward()
        assert terms["loss"][i].item() == pytest.approx(own["loss"].item(), rel=1e-6)
        for key in ("recon", "kl"):
            assert torch.allclose(terms[key][i], own[key].detach(), rtol=1e-5, atol=1e-5), key
        grads = [t.grad[i].reshape(p.shape) for t, p in zip(stack.parameters(), model.parameters(), strict=True)]
        for (name, p), grad in zip(model.named_parameters(), grads, strict=True):
            assert p.grad.abs().max() > 0 or name.startswith("encoder"), name  # every decoder weight learns
            assert torch.allclose(grad, p.grad, rtol=1e-4, atol=1e-6 * p.grad.abs().max()), (lineup[i].label, name)
    # the free-bits run's gradient does differ from plain β = 1 (some dimension sits below λ here)
    assert not torch.allclose(stack.parameters()[-8].grad[0], stack.parameters()[-8].grad[2])


@pytest.mark.parametrize("width_in, width_out", [(4, 32), (32, 32), (32, 4)])
def test_a_stacked_layers_gradients_are_autograds_whichever_way_its_products_are_taken(width_in, width_out):
    """A narrow result (a latent's width against a layer's or a batch's) is taken as its transpose: the
    weight's, the bias's and the input's gradients are still each run's own ``nn.Linear``'s."""
    torch.manual_seed(0)
    layers = [torch.nn.Linear(width_in, width_out) for _ in range(3)]
    stacked = batched.StackedLinear(layers)
    h, d = torch.randn(3, 64, width_in), torch.randn(3, 64, width_out)  # input, dL/d(output)
    with torch.no_grad():
        out = stacked(h).clone()
        dh = stacked.backward(h, d).clone()
    for i, layer in enumerate(layers):
        x = h[i].clone().requires_grad_()
        y = layer(x)
        y.backward(d[i])
        assert torch.allclose(out[i], y.detach(), rtol=1e-5, atol=1e-5)
        assert torch.allclose(stacked.weight.grad[i], layer.weight.grad, rtol=1e-5, atol=1e-5)
        assert torch.allclose(stacked.bias.grad[i, 0], layer.bias.grad, rtol=1e-5, atol=1e-5)
        assert torch.allclose(dh[i], x.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_values", [64, 200])  # the log of a product per example (per block), one log per value
def test_the_stacks_bernoulli_terms_are_torchs_binary_cross_entropy(n_values, compiled):
    """Per example, BCE with logits summed over its values (against torch's kernel, logits out to ±40 where
    e^-|l| is tiny), and its gradient averaged over the batch (against autograd's)."""
    torch.manual_seed(0)
    logits = torch.randn(3, 16, n_values) * 12.0
    logits[0, 0, :4] = torch.tensor([40.0, -40.0, 0.0, 1e-4])
    x = (torch.rand(16, n_values) > 0.5).float()
    recon, grad = (native.bernoulli_nll if compiled else batched._bernoulli_nll)(logits, x)
    leaf = logits.clone().requires_grad_()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(leaf, x.expand_as(leaf), reduction="none").sum(-1)
    (expected_grad,) = torch.autograd.grad(bce.sum() / 16, leaf)
    assert torch.allclose(recon, bce.detach(), rtol=1e-6, atol=1e-4)
    assert torch.allclose(grad, expected_grad, rtol=1e-6, atol=1e-8)


def test_batched_runs_equal_the_runs_trained_alone(digits, digits_test, compiled):
    assert native.fits(torch.zeros(1)) == compiled  # the stack's way for this test (the fixture's switch)
    models = lab_models(digits)
    lab = Lockstep(models, digits, digits_test, steps=STEPS, seed=5, eval_every=70)
    lead = next(iter(lab.runs.values()))
    batches = recording(lead)
    records = []
    while not lab.done:
        records += lab.advance(33)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1)) and not lab.stopped
    for s in LINEUP:
        run, seen = alone(digits, s.label, build("vae", digits.shape, seed=0, **lab_config(s, STEPS, **TINY)),
                          STEPS, seed=5)
        run.advance(STEPS)
        assert len(seen) == len(batches) == STEPS and all(torch.equal(a, b) for a, b in zip(seen, batches, strict=True))
        mine = lab.runs[s.label]
        assert mine.step == STEPS and [r["step"] for r in mine.history] == list(range(1, STEPS + 1))
        assert relative([r["loss"] for r in mine.history], [r["loss"] for r in run.history]) < 1e-3
        assert [r["beta"] for r in mine.history] == [r["beta"] for r in run.history]  # its own schedule
        assert set(mine.history[0]) == set(run.history[0])
        for key in ("recon", "kl", "elbo"):
            assert relative([r[key] for r in mine.history], [r[key] for r in run.history]) < 1e-3, key
        for (name, a), b in zip(mine.model.named_parameters(), run.model.parameters(), strict=True):
            assert torch.allclose(a, b, **WEIGHTS), name
        assert torch.equal(mine._order_rng.get_state(), run._order_rng.get_state())  # the same batches next
        assert torch.equal(mine._noise_state, run._noise_state) and mine._cursor == run._cursor
    # free bits are the free-bits run's own: its KL of each dimension is held near λ, as alone
    free = [s.label for s in LINEUP if s.kind == "free-bits"][0]
    assert lab.runs[free].model.config.free_bits == PRESETS["free-bits"].lam


def test_each_run_goes_on_alone_with_its_own_optimiser_state(digits, digits_test):
    """After a batched advance a run's model and Adam state are its own: trained on alone (a presenter's
    dissected step, a run left by itself), it follows the run that trained alone all along."""
    lineup = annealing.lineup("Fu et al.'s pair")
    lab = Lockstep(lab_models(digits, lineup), digits, digits_test, steps=60)
    lab.advance(40)
    for s in lineup:
        run, _ = alone(digits, s.label, build("vae", digits.shape, seed=0, **lab_config(s, STEPS, **TINY)), 60)
        run.advance(40)
        theirs = run.dissect_next()
        mine = lab.runs[s.label].dissect_next()
        assert mine["record"]["step"] == theirs["record"]["step"] == 41
        assert mine["record"]["loss"] == pytest.approx(theirs["record"]["loss"], rel=1e-3)
        for name, update in theirs["update"].items():
            assert torch.allclose(mine["update"][name], update, rtol=1e-2, atol=1e-6), name
        lab.runs[s.label].advance(19)
        run.advance(19)
        assert relative([r["loss"] for r in lab.runs[s.label].history[-19:]],
                        [r["loss"] for r in run.history[-19:]]) < 1e-3


def test_a_run_that_stops_drops_out_of_the_stack(digits, digits_test, compiled):
    """A β that overflows float32 makes one run's loss infinite: it stops where it would alone, keeping its
    last finite weights, and the others train on as if it had never been there."""
    steps = 60
    lineup = [PRESETS["vae"], Strategy("monotonic", beta=3e38, ratio=0.25), PRESETS["cyclical"]]
    lab = Lockstep(lab_models(digits, lineup, steps), digits, digits_test, steps=steps, eval_every=25)
    records = lab.advance(steps)
    broken = lineup[1].label
    run, _ = alone(digits, broken, build("vae", digits.shape, seed=0, **lab_config(lineup[1], steps, **TINY)), steps)
    run.advance(steps)
    assert run.stopped and 1 < run.step < steps
    assert lab.runs[broken].stopped == run.stopped and lab.runs[broken].step == run.step
    assert [r["loss"] for r in lab.runs[broken].history] == pytest.approx([r["loss"] for r in run.history], rel=1e-3)
    for a, b in zip(lab.runs[broken].model.parameters(), run.model.parameters(), strict=True):
        assert torch.allclose(a, b, **WEIGHTS)
    assert lab.done and [r["step"] for r in records] == list(range(1, steps + 1))
    assert broken not in records[run.step]["runs"] and broken in records[run.step - 1]["runs"]
    for s in (lineup[0], lineup[2]):
        other, _ = alone(digits, s.label, build("vae", digits.shape, seed=0, **lab_config(s, steps, **TINY)), steps)
        other.advance(steps)
        assert lab.runs[s.label].step == steps
        assert relative([r["loss"] for r in lab.runs[s.label].history], [r["loss"] for r in other.history]) < 1e-3


def test_a_batched_lab_replays_like_a_fresh_run(digits, digits_test):
    small = digits.subset(300)
    lab = Lockstep(lab_models(small, steps=40), small, digits_test, steps=40, batch_size=32, eval_every=10)
    timeline = Timeline(lab, max_snapshots=6)
    while not lab.done:
        lab.advance(timeline.next_due() - lab.step)
        timeline.record()
    k = [s for s in timeline.steps() if 0 < s < 40][0]
    view = timeline.view(k)
    for s in LINEUP:
        fresh = TrainingRun(build("vae", small.shape, seed=0, **lab_config(s, 40, **TINY)), small, steps=40,
                            batch_size=32, stack=False)
        fresh.advance(k)
        assert view.runs[s.label].step == k and len(view.runs[s.label].history) == k
        for key, value in fresh.model.state_dict().items():
            assert torch.allclose(view.runs[s.label].model.state_dict()[key], value, **WEIGHTS), key


def test_the_lab_without_batching_gives_the_same_runs(digits, digits_test):
    lineup = annealing.lineup("Cyclical ramp shapes")
    one = Lockstep(lab_models(digits, lineup, 50), digits, digits_test, steps=50)
    each = Lockstep(lab_models(digits, lineup, 50), digits, digits_test, steps=50, batch=False)
    one.advance(50)
    each.advance(50)
    for name in one.runs:
        assert relative(one.curve(name, "loss")[1], each.curve(name, "loss")[1]) < 1e-3
        assert one.final()[name]["elbo"] == pytest.approx(each.final()[name]["elbo"], rel=1e-3)
    assert 0 < one.train_seconds and 0 < each.train_seconds


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_batched_lab_on_the_gpu_equals_the_runs_alone(digits, digits_test):
    lineup = annealing.lineup("Fu et al.'s pair")
    lab = Lockstep(lab_models(digits, lineup, 60), digits, digits_test, steps=60, device="cuda")
    assert batched.groups(lab.runs) == [list(lab.runs)]
    lab.advance(60)
    for s in lineup:
        run = TrainingRun(build("vae", digits.shape, seed=0, **lab_config(s, 60, **TINY)), digits, steps=60,
                          device="cuda", stack=False)
        run.advance(60)
        assert relative(lab.curve(s.label, "loss")[1], [r["loss"] for r in run.history]) < 1e-3
        assert torch.equal(lab.runs[s.label]._cuda_noise_state, run._cuda_noise_state)
