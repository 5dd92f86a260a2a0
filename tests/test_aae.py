"""The adversarial autoencoder (Makhzani et al. 2016) and the priors it matches (genlib.priors)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from genlib import checkpoints
from genlib.metrics import evaluate
from genlib.models import build
from genlib.priors import PRIORS, ProbedRun, code_diagnostics, density_grid, make_prior
from genlib.train import TrainingRun, fit

SMALL = {"latent_dim": 2, "hidden": (64,), "disc_hidden": (32,)}


# ------------------------------------------------------------------------------------------ priors


def test_gaussian_prior_is_the_standard_normal():
    prior = make_prior("gaussian", 3)
    z = torch.randn(10, 3)
    assert torch.allclose(prior.log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-5)
    draws = prior.sample(20000, torch.Generator().manual_seed(0))
    assert draws.mean(0).abs().max() < 0.03 and (draws.std(0) - 1).abs().max() < 0.03


@pytest.mark.parametrize("name", PRIORS)
def test_every_2d_prior_is_a_normalised_density_whose_per_dim_terms_sum_to_it(name):
    prior = make_prior(name, 2)
    xs, ys, density = density_grid(prior, limit=5.0, n=200)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert density.sum() * cell == pytest.approx(1.0, abs=0.01)
    z = prior.sample(64, torch.Generator().manual_seed(1))
    assert torch.allclose(prior.log_prob_per_dim(z).sum(1), prior.log_prob(z), atol=1e-4)


def test_shape_priors_need_two_dimensions_and_names_are_checked():
    with pytest.raises(ValueError, match="latent_dim = 2"):
        make_prior("rings", 3)
    with pytest.raises(ValueError, match="unknown prior"):
        make_prior("banana", 2)
    with pytest.raises(ValueError, match="latent_dim = 2"):
        build("aae", (1, 8, 8), latent_dim=4, prior="pinwheel")
    with pytest.raises(ValueError, match="encoder"):
        build("aae", (1, 8, 8), encoder="random")


# ------------------------------------------------------------------------------------------ the AAE


def test_three_optimisers_own_the_right_parameters(digits):
    model = build("aae", digits.shape, **SMALL)
    ae, disc, gen = model.configure_optimizers(1e-3)
    ids = [{id(p) for group in opt.param_groups for p in group["params"]} for opt in (ae, disc, gen)]
    encoder, decoder = {id(p) for p in model.encoder.parameters()}, {id(p) for p in model.decoder.parameters()}
    assert ids == [encoder | decoder, {id(p) for p in model.discriminator.parameters()}, encoder]


def test_the_generic_training_loop_runs_it_and_records_both_losses(digits):
    model = build("aae", digits.shape, **SMALL)
    records = list(fit(model, digits, steps=5, batch_size=32))
    assert {"recon", "disc_loss", "gen_loss", "d_real", "d_fake"} <= set(records[-1])
    assert all(math.isfinite(r["disc_loss"]) and math.isfinite(r["gen_loss"]) for r in records)


def test_codes_reach_a_2d_toy_prior_within_a_few_hundred_steps(digits, digits_test):
    model = build("aae", digits.shape, seed=0, prior="rings", **SMALL)
    run = ProbedRun(TrainingRun(model, digits, steps=400, batch_size=128, lr=2e-3, seed=0), digits_test.x)
    while not run.done:
        run.advance(100)
    before, after = run.probes[0]["mmd"], run.probes[-1]["mmd"]
    assert after < before / 5, [round(p["mmd"], 4) for p in run.probes]


@pytest.mark.parametrize("encoder", ["deterministic", "stochastic"])
def test_evaluate_gives_finite_bounds_under_the_aae_prior(digits, digits_test, encoder):
    model = build("aae", digits.shape, encoder=encoder, prior="mixture", **SMALL)
    for _ in fit(model, digits, steps=30, batch_size=64):
        pass
    metrics = evaluate(model, digits_test, k=20, max_examples=200)
    assert all(math.isfinite(metrics[key]) for key in ("elbo", "recon", "kl", "nll_iwae", "mutual_information"))
    assert metrics["nll_iwae"] <= -metrics["elbo"] + 1e-3
    assert sum(metrics["kl_per_dim"]) == pytest.approx(metrics["kl"], rel=1e-4)


def test_checkpoint_round_trip_rebuilds_the_prior(tmp_path, digits):
    model = build("aae", digits.shape, prior="moons", **SMALL)
    loaded = checkpoints.load(checkpoints.save(model, tmp_path / "aae.safetensors"))
    assert loaded.prior.name == "moons"
    x = digits.x[:8]
    assert torch.equal(loaded.encode(x)[0], model.encode(x)[0])
    z = torch.randn(5, 2)
    assert torch.equal(loaded.discriminate(z), model.discriminate(z))


def test_code_diagnostics_leave_the_global_random_state_alone(digits_test):
    model = build("aae", digits_test.shape, **SMALL)
    state = torch.get_rng_state()
    first = code_diagnostics(model, digits_test.x[:100])
    assert torch.equal(state, torch.get_rng_state())
    assert first == code_diagnostics(model, digits_test.x[:100])


def test_probing_a_run_does_not_change_its_training(digits, digits_test):
    plain = TrainingRun(build("info-vae", digits.shape, **{"latent_dim": 2, "hidden": (32,)}), digits, steps=20, seed=3)
    probed = ProbedRun(TrainingRun(build("info-vae", digits.shape, **{"latent_dim": 2, "hidden": (32,)}), digits,
                                   steps=20, seed=3), digits_test.x[:64], every=10)
    for _ in range(4):
        plain.advance(5)
        probed.advance(5)
    assert [r["loss"] for r in plain.history] == [r["loss"] for r in probed.history]
    assert [p["step"] for p in probed.probes] == [0, 10, 20] and probed.done


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_prior_on_the_gpu_draws_with_a_gpu_generator():
    """pictures.prior_samples hands the AAE a generator on the model's device: the prior must draw with it."""
    prior = make_prior("mixture", 2).to("cuda")
    z = prior.sample(64, torch.Generator("cuda").manual_seed(0))
    assert z.device.type == "cuda" and z.shape == (64, 2)
    assert torch.equal(z, prior.sample(64, torch.Generator("cuda").manual_seed(0)))
    assert prior.sample(8).device.type == "cuda"  # no generator: drawn on the CPU, returned on the prior's device


def _changed(before: dict, model) -> set[str]:
    return {name.split(".", 1)[0] for name, p in model.named_parameters() if not torch.equal(p, before[name])}


def test_a_manual_phase_steps_one_network_and_leaves_the_run_where_it_was(digits):
    from genlib.models.aae import manual_phase
    from genlib.train import TrainingRun

    run = TrainingRun(build("aae", digits.shape, seed=0, latent_dim=2, hidden=(32,)), digits, steps=20, batch_size=64)
    run.advance(3)
    noise, order = run._noise_state.clone(), run._order_rng.get_state().clone()
    for phase, moved in (("discriminator", {"discriminator"}), ("encoder", {"encoder"})):
        before = {name: p.detach().clone() for name, p in run.model.named_parameters()}
        terms = manual_phase(run, phase, seed=5)
        assert _changed(before, run.model) == moved, phase
        assert all(math.isfinite(v) for v in terms.values())
    assert run.step == 3 and len(run.history) == 3
    assert torch.equal(run._noise_state, noise) and torch.equal(run._order_rng.get_state(), order)
    with pytest.raises(ValueError, match="phase must be one of"):
        manual_phase(run, "decoder")


def test_code_pushes_point_where_the_encoder_loss_falls(digits):
    from genlib.objectives import generator_loss

    model = build("aae", digits.shape, seed=0, latent_dim=2, hidden=(32,))
    z, push = model.code_pushes(digits.x[:50])
    assert z.shape == push.shape == (50, 2)
    with torch.no_grad():
        loss = generator_loss(model.discriminator(z)).squeeze(-1)
        moved = generator_loss(model.discriminator(z + 1e-3 * push)).squeeze(-1)
        by_hand = torch.func.vmap(torch.func.grad(lambda c: generator_loss(model.discriminator(c)).sum()))(z)
    torch.testing.assert_close(push, -by_hand)
    assert (moved <= loss + 1e-7).all()
    assert all(p.grad is None for p in model.parameters())


def test_the_aae_scores_its_codes_under_its_own_prior(digits):
    model = build("aae", digits.shape, seed=0, latent_dim=2, hidden=(32,), prior="mixture")
    x = digits.x[:40]
    torch.manual_seed(3)
    terms = model.loss(x)
    with torch.no_grad():
        mu, logvar = model.encode(model.likelihood.prepare(x))
        torch.manual_seed(3)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape)
        q = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
        by_hand = q - model.prior.log_prob(z)  # the one-sample KL against the mixture, not a Gaussian's closed form
    torch.testing.assert_close(terms["kl"].detach(), by_hand, rtol=1e-4, atol=1e-4)
