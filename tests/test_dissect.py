"""One step dissected: each part's gradient against autograd written out by hand, and nothing disturbed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlib.dissect import grad_norms, update_sizes
from genlib.models import build
from genlib.train import TrainingRun, dissect_step, fit

BETA = 2.5


def _vae(data, **config):
    return build("vae", data.shape, seed=0, **{"latent_dim": 3, "hidden": (16,), **config})


def _by_hand(model, x, seed, beta):
    """The β-VAE loss of one batch written out from the paper, and the gradients of its two terms."""
    x = (x > 0.5).float()
    h = model.encoder(x.flatten(1))
    mu, logvar = h[:, :3], h[:, 3:]
    torch.manual_seed(seed)
    eps = torch.randn(mu.shape)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decoder(z).reshape(x.shape)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean()
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())

    def grads(value):
        found = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        return {n: torch.zeros_like(p) if g is None else g for n, p, g in zip(names, params, found, strict=True)}

    return {"recon": recon.item(), "kl": kl.item(), "loss": (recon + beta * kl).item(),
            "grads": {"recon": grads(recon), "β·KL": grads(beta * kl), "loss": grads(recon + beta * kl)},
            "eps": eps, "mu": mu.detach()}


def test_dissection_matches_autograd_by_hand(digits):
    model = _vae(digits, beta_schedule={"kind": "constant", "beta": BETA})
    x = digits.x[:32]
    d = dissect_step(model, x, step=0, seed=5)
    ref = _by_hand(model, x, seed=5, beta=BETA)
    assert d["terms"]["loss"] == pytest.approx(ref["loss"], rel=1e-5)
    assert d["terms"]["recon"] == pytest.approx(ref["recon"], rel=1e-5)
    assert d["terms"]["kl"] == pytest.approx(ref["kl"], rel=1e-5)
    assert d["terms"]["beta"] == BETA
    assert set(d["parts"]) == {"recon", "β·KL"}
    assert d["parts"]["β·KL"] == pytest.approx(BETA * ref["kl"], rel=1e-5)
    assert len(d["per_dim"]["kl_per_dim"]) == 3
    assert sum(d["per_dim"]["kl_per_dim"]) == pytest.approx(ref["kl"], rel=1e-5)
    names = [n for n, _ in model.named_parameters()]
    for part in ("recon", "β·KL", "loss"):
        assert list(d["grads"][part]) == names  # one gradient for every parameter, by name
        for name in names:
            torch.testing.assert_close(d["grads"][part][name], ref["grads"][part][name], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(d["chain"]["eps"], ref["eps"])
    torch.testing.assert_close(d["chain"]["mu"], ref["mu"])


def test_kl_does_not_reach_the_decoder_and_parts_sum_to_the_loss(digits):
    model = _vae(digits)
    d = dissect_step(model, digits.x[:64], step=0, seed=1)
    for name, g in d["grads"]["β·KL"].items():
        if name.startswith("decoder."):
            assert torch.count_nonzero(g) == 0, name
    assert any(torch.count_nonzero(g) for n, g in d["grads"]["β·KL"].items() if n.startswith("encoder."))
    for name, g in d["grads"]["loss"].items():
        torch.testing.assert_close(d["grads"]["recon"][name] + d["grads"]["β·KL"][name], g, rtol=1e-4, atol=1e-6)
    norms = grad_norms(d, {"encoder": "encoder.", "decoder": "decoder."})
    assert norms["β·KL"]["decoder"] == 0.0 and norms["β·KL"]["encoder"] > 0
    assert norms["recon"]["decoder"] > 0
    by_hand = sum(float((g.double() ** 2).sum()) for n, g in d["grads"]["recon"].items()
                  if n.startswith("encoder.")) ** 0.5
    assert norms["recon"]["encoder"] == pytest.approx(by_hand)


def test_info_vae_dissects_into_its_two_weighted_parts(digits):
    model = build("info-vae", digits.shape, seed=0, latent_dim=3, hidden=(16,), alpha=0.0, lambda_=10.0)
    d = dissect_step(model, digits.x[:64], seed=0)
    assert set(d["parts"]) == {"recon", "(1-α)·β·KL", "(α+λ-1)·MMD²"}
    assert sum(d["parts"].values()) == pytest.approx(d["terms"]["loss"], rel=1e-5)
    for name, g in d["grads"]["loss"].items():
        total = sum(d["grads"][part][name] for part in d["parts"])
        torch.testing.assert_close(total, g, rtol=1e-4, atol=1e-6)


def test_dissecting_touches_nothing(digits):
    model = _vae(digits)
    run = TrainingRun(model, digits, steps=10, batch_size=32, seed=3)
    run.advance(3)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer_state = [o.state_dict()["state"] for o in run.optimizers]
    moments = [{i: {k: v.clone() for k, v in s.items()} for i, s in st.items()} for st in optimizer_state]
    torch.manual_seed(123)
    expected_draw = torch.rand(4)
    torch.manual_seed(123)
    model.eval()
    dissect_step(model, digits.x[:32], step=3, seed=9)
    torch.testing.assert_close(torch.rand(4), expected_draw)  # the caller's random stream is as it was
    assert not model.training  # the mode is restored
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    for before, opt in zip(moments, run.optimizers, strict=True):
        for i, s in opt.state_dict()["state"].items():
            for k, v in s.items():
                assert torch.equal(v, before[i][k])


def test_no_grad_is_left_on_the_parameters(digits):
    model = _vae(digits)
    dissect_step(model, digits.x[:16])
    assert all(p.grad is None for p in model.parameters())


def _no_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.mark.parametrize("kind", ["vae", "hierarchical-vae"])
def test_a_run_dissected_at_every_step_follows_fit_bit_for_bit(digits, kind):
    small = digits.subset(200)
    config = {"latent_dim": 3, "hidden": (16,)} if kind == "vae" else {}
    steps = 12
    reference = build(kind, small.shape, seed=0, **config)
    expected = list(fit(reference, small, steps=steps, batch_size=64, seed=4))
    model = build(kind, small.shape, seed=0, **config)
    run = TrainingRun(model, small, steps=steps, batch_size=64, seed=4)
    dissections = []
    while (d := run.dissect_next()) is not None:
        dissections.append(d)
    assert len(dissections) == steps
    assert _no_seconds(run.history) == _no_seconds(expected)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    for d, record in zip(dissections, expected, strict=True):  # each dissection is the step it took
        assert d["terms"]["loss"] == pytest.approx(record["loss"], rel=1e-6)
        assert d["record"]["step"] == record["step"]


def test_first_adam_update_is_minus_lr_times_the_sign_of_the_gradient(digits):
    model = _vae(digits)
    run = TrainingRun(model, digits, steps=5, batch_size=32, seed=0, lr=1e-3)
    d = run.dissect_next()
    for name, g in d["grads"]["loss"].items():
        mask = g.abs() > 1e-4  # where |g| >> Adam's ε, the first update is -lr·g/|g|
        torch.testing.assert_close(d["update"][name][mask], -1e-3 * torch.sign(g[mask]), rtol=1e-3, atol=1e-7)
    sizes = update_sizes(d["update"])
    assert set(sizes) == {name.rsplit(".", 1)[0] for name in d["update"]}
    assert all(v > 0 for v in sizes.values())


def test_extend_lets_a_finished_run_take_more_steps(digits):
    run = TrainingRun(_vae(digits), digits, steps=3, batch_size=32)
    run.advance(10)
    assert run.done and run.step == 3
    run.extend(1)
    assert not run.done
    assert run.dissect_next()["record"]["step"] == 4
    assert run.done
