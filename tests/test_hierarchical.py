"""The hierarchical (Ladder) VAE: its ELBO's terms, the one-layer case, sampling, and what the layers do."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlib import checkpoints
from genlib.metrics import evaluate
from genlib.models import build
from genlib.models.hierarchical import (
    WARMUPS,
    code_correlations,
    off_diagonal_mean,
    sample_variance,
    samples_with_fixed_layers,
    warmup_schedules,
)
from genlib.train import fit

TINY = {"latent_dim": 4, "upper_dims": (3, 2), "hidden": (32,), "ladder_hidden": 16}


def _hvae(data, **config):
    return build("hierarchical-vae", data.shape, seed=0, **{**TINY, **config})


@pytest.fixture(scope="module")
def trained(digits):
    """Two layers briefly trained (300 steps); free bits keep both layers in use."""
    model = build("hierarchical-vae", digits.shape, seed=0, latent_dim=4, upper_dims=(3,), hidden=(64,),
                  ladder_hidden=32, free_bits=0.25)
    for _ in fit(model, digits, steps=300, batch_size=128, lr=2e-3, seed=0):
        pass
    return model.eval()


# ------------------------------------------------------------------ the objective


def test_elbo_is_recon_minus_the_sum_of_per_layer_kls(digits):
    model = _hvae(digits)
    torch.manual_seed(0)
    terms = model.loss(digits.x[:32])
    per_layer = [terms[f"kl_z{i}"] for i in (1, 2, 3)]
    torch.testing.assert_close(terms["elbo"], -(terms["recon"] + sum(per_layer)))
    torch.testing.assert_close(terms["kl"], sum(per_layer))
    assert terms["kl_per_dim"].shape == (32, 4 + 3 + 2)
    torch.testing.assert_close(terms["loss"], (terms["recon"] + terms["kl"]).mean())  # β = 1, no free bits


def test_each_layer_kl_matches_torch_distributions(digits):
    model = _hvae(digits)
    x = model.likelihood.prepare(digits.x[:16])
    torch.manual_seed(1)
    layers = model.posterior(model.bottom_up(x))
    for layer in layers:
        q = Normal(layer.mu, (0.5 * layer.logvar).exp())
        p = Normal(torch.zeros_like(layer.mu), 1.0) if layer.prior_mu is None else \
            Normal(layer.prior_mu, (0.5 * layer.prior_logvar).exp())
        torch.testing.assert_close(layer.kl(), kl_divergence(q, p), rtol=1e-4, atol=1e-5)


def test_merged_posterior_is_the_precision_weighted_product(digits):
    """Sønderby et al. Eq. 19-21: var_q = 1/(1/var_hat + 1/var_p), mu_q = var_q (mu_hat/var_hat + mu_p/var_p)."""
    model = _hvae(digits)
    x = model.likelihood.prepare(digits.x[:8])
    stats = model.bottom_up(x)
    layers = model.posterior(stats, use_mean=True)
    for i in range(model.n_layers - 1):
        (mu_hat, logvar_hat), layer = stats[i], layers[i]
        var_hat, var_p = logvar_hat.exp(), layer.prior_logvar.exp()
        var_q = 1 / (1 / var_hat + 1 / var_p)
        torch.testing.assert_close(layer.logvar.exp(), var_q, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(layer.mu, var_q * (mu_hat / var_hat + layer.prior_mu / var_p), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(layers[-1].mu, stats[-1][0])  # the top layer is the bottom-up estimate


def test_elbo_is_the_mean_log_importance_weight(digits):
    """E_q[log p(x, z) - log q(z | x)] is the ELBO: the analytic-KL form and the sampled form agree."""
    model = _hvae(digits)
    x = model.likelihood.prepare(digits.x[:4])
    k = 4000
    torch.manual_seed(2)
    sampled = model.log_importance_weights(x, k).mean(0)  # (B,)
    torch.manual_seed(3)
    analytic = model.loss(x.repeat(k, 1, 1, 1))["elbo"].view(k, 4).mean(0)
    torch.testing.assert_close(sampled, analytic, atol=0.3, rtol=0)


def test_one_layer_is_the_plain_vae(digits):
    config = {"latent_dim": 4, "hidden": (32,), "free_bits": 0.1}
    vae = build("vae", digits.shape, seed=5, **config)
    one = build("hierarchical-vae", digits.shape, seed=5, upper_dims=(), **config)
    assert vae.state_dict().keys() == one.state_dict().keys()
    for key, value in vae.state_dict().items():
        assert torch.equal(value, one.state_dict()[key]), key
    x = digits.x[:64]
    for step in (0, 10):
        torch.manual_seed(step)
        expected = vae.loss(x, step)
        torch.manual_seed(step)
        got = one.loss(x, step)
        for key in ("loss", "recon", "kl", "elbo", "kl_per_dim"):
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
        torch.testing.assert_close(got["kl_z1"], expected["kl"], rtol=0, atol=0)
    prepared = vae.likelihood.prepare(x)
    torch.manual_seed(9)
    expected = vae.log_importance_weights(prepared, 5)
    torch.manual_seed(9)
    torch.testing.assert_close(one.log_importance_weights(prepared, 5), expected)


def test_per_layer_warm_up(digits):
    warm_top = {"kind": "monotonic", "total_steps": 100, "ratio": 0.5}  # 0 at step 0, 1 from step 50
    model = _hvae(digits, upper_dims=(2,), layer_schedules=({"kind": "constant", "beta": 1.0}, warm_top))
    x = digits.x[:16]
    torch.manual_seed(0)
    terms = model.loss(x, step=0)
    assert terms["beta_z1"] == 1.0 and terms["beta_z2"] == 0.0
    torch.testing.assert_close(terms["loss"], (terms["recon"] + terms["kl_z1"]).mean())
    torch.manual_seed(0)
    assert model.loss(x, step=60)["beta_z2"] == 1.0
    with pytest.raises(ValueError, match="one schedule per layer"):
        _hvae(digits, layer_schedules=({"kind": "constant", "beta": 1.0},))


def test_the_warm_up_choices_ramp_the_layers_they_name(digits):
    """The page's choices: every layer's β ramps from 0 to 1 over the first half, or only the top layer's
    (the others at 1 throughout), or none (the model's one β)."""
    x, steps = digits.x[:16], 100
    assert warmup_schedules("none", 3, steps) == ()
    for warmup, at_start in (("all layers", [0.0, 0.0, 0.0]), ("top layer only", [1.0, 1.0, 0.0])):
        model = _hvae(digits, layer_schedules=warmup_schedules(warmup, 3, steps))
        for step, expected in ((0, at_start), (25, [b or 0.5 for b in at_start]), (60, [1.0] * 3)):
            torch.manual_seed(0)
            terms = model.loss(x, step=step)
            assert [terms[f"beta_z{i}"] for i in (1, 2, 3)] == pytest.approx(expected), (warmup, step)
    assert set(WARMUPS) == {"none", "all layers", "top layer only"}
    with pytest.raises(ValueError, match="warm-up must be one of"):
        warmup_schedules("bottom layer only", 3, steps)


def test_evaluate_reports_kl_per_layer(digits_test):
    model = _hvae(digits_test)
    metrics = evaluate(model, digits_test, k=20, max_examples=100)
    per_layer = model.kl_per_layer(metrics["kl_per_dim"])
    assert len(per_layer) == 3
    assert sum(per_layer) == pytest.approx(metrics["kl"], rel=1e-5)
    assert metrics["nll_iwae"] <= -metrics["elbo"] + 1e-3


def test_checkpoint_round_trip(digits, tmp_path):
    model = _hvae(digits, network="conv", hidden=(8,), layer_schedules=({"kind": "constant", "beta": 1.0},) * 3)
    path = checkpoints.save(model, tmp_path / "h.safetensors")
    loaded = checkpoints.load(path)
    assert loaded.config == model.config
    g = torch.Generator().manual_seed(0)
    expected = model.sample(4, g)
    torch.testing.assert_close(loaded.sample(4, torch.Generator().manual_seed(0)), expected)


# ------------------------------------------------------------------ sampling


def test_sampling_shapes_range_and_determinism(digits):
    model = _hvae(digits)
    x = model.sample(6, torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    torch.testing.assert_close(model.sample(6, torch.Generator().manual_seed(0)), x, rtol=0, atol=0)
    assert not torch.equal(model.sample(6, torch.Generator().manual_seed(1)), x)
    layers = model.sample_latents(6, torch.Generator().manual_seed(0))
    assert [tuple(layer.z.shape) for layer in layers] == [(6, 4), (6, 3), (6, 2)]


def test_temperature_and_fixed_layers(digits):
    model = _hvae(digits)
    cold = model.sample(5, torch.Generator().manual_seed(0), temperature=0.0)
    assert torch.allclose(cold, cold[:1].expand_as(cold))  # T = 0 everywhere: every sample is the mode path
    eps = model.draw_noise(1, torch.Generator().manual_seed(4))
    all_fixed = model.sample(5, torch.Generator().manual_seed(0), fixed=dict(enumerate(eps)))
    assert torch.allclose(all_fixed, all_fixed[:1].expand_as(all_fixed))
    top_fixed = model.sample_latents(5, torch.Generator().manual_seed(0), fixed={2: eps[2]})
    assert torch.allclose(top_fixed[2].z, top_fixed[2].z[:1].expand(5, -1))
    assert not torch.allclose(top_fixed[0].z, top_fixed[0].z[:1].expand(5, -1))
    # the other layers' noise is drawn as if nothing were fixed: fixing a layer to the noise it would
    # have drawn anyway changes nothing
    drawn = model.draw_noise(5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.sample(5, torch.Generator().manual_seed(0), fixed={2: drawn[2]}),
                               model.sample(5, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=(1.0, 1.0))
    with pytest.raises(ValueError, match="out of range"):
        model.sample(2, fixed={3: eps[0]})


def test_fixing_the_top_layer_reduces_the_variation_of_samples(trained):
    free = sample_variance(trained, (), seed=0)
    top_fixed = sample_variance(trained, (1,), seed=0)
    assert top_fixed < 0.9 * free, (top_fixed, free)  # 0.77 for this seed; in expectation always <= 1


def test_fixed_layer_grid_shares_the_fixed_noise_within_rows(trained):
    grid = samples_with_fixed_layers(trained, (0, 1), rows=3, cols=4, seed=0).view(3, 4, -1)
    torch.testing.assert_close(grid, grid[:, :1].expand_as(grid))  # everything fixed: each row is one picture
    assert not torch.allclose(grid[0], grid[1])


def test_lower_codes_are_conditionally_independent_given_the_layer_above(trained):
    marginal, conditional = code_correlations(trained, 0, groups=16, per_group=128, seed=0)
    assert marginal.shape == conditional.shape == (4, 4)
    torch.testing.assert_close(conditional.diagonal(), torch.ones(4))
    assert off_diagonal_mean(conditional) < 0.1  # diagonal Gaussian given z_2: only sampling noise is left
    assert off_diagonal_mean(marginal) > off_diagonal_mean(conditional)
