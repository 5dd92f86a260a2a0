"""InfoVAE (Zhao et al. 2019, Eq. 6) and its MMD-VAE preset: the objective, its special cases, its checks."""

from __future__ import annotations

import pytest
import torch

from genlib.distributions import gaussian_kl
from genlib.models import build
from genlib.objectives import mmd
from genlib.train import fit

SMALL = {"latent_dim": 3, "hidden": (32,)}


def test_alpha_0_lambda_1_is_exactly_the_vae(digits):
    vae = build("vae", digits.shape, seed=0, **SMALL)
    info = build("info-vae", digits.shape, seed=0, alpha=0.0, lambda_=1.0, **SMALL)
    x = digits.x[:64]
    torch.manual_seed(5)
    expected = vae.loss(x)
    torch.manual_seed(5)
    got = info.loss(x)
    assert torch.equal(got["loss"], expected["loss"])
    # and training is the same, step for step (no prior draw is made when the MMD weight is 0)
    a = [r["loss"] for r in fit(vae, digits, steps=30, batch_size=64, seed=1, stack=False)]  # autograd, as b
    b = [r["loss"] for r in fit(info, digits, steps=30, batch_size=64, seed=1)]
    assert a == b


def test_regularizer_is_the_weighted_kl_plus_the_weighted_mmd(digits):
    model = build("info-vae", digits.shape, seed=0, alpha=0.3, lambda_=20.0, kernel="rbf", bandwidth=0.7,
                  scales=(1.0, 2.0), **SMALL)
    mu, logvar = torch.randn(16, 3), torch.randn(16, 3) * 0.3
    z = mu + torch.randn(16, 3)
    kl_per_dim = gaussian_kl(mu, logvar)
    torch.manual_seed(0)
    got = model.regularizer(kl_per_dim, mu, logvar, z, beta=1.0)
    torch.manual_seed(0)
    prior = torch.randn(16, 3)
    assert list(got) == ["(1-α)·β·KL", "(α+λ-1)·MMD²"]  # the two weighted parts, as a dissection shows them
    assert torch.allclose(got["(1-α)·β·KL"], 0.7 * kl_per_dim.sum(1), atol=1e-5)
    assert torch.allclose(got["(α+λ-1)·MMD²"], 19.3 * mmd(z, prior, "rbf", bandwidth=0.7, scales=(1.0, 2.0)),
                          atol=1e-5)


def test_mmd_vae_preset_drops_the_kl_and_keeps_a_large_mmd_weight(digits):
    model = build("mmd-vae", digits.shape, **SMALL)
    assert model.config.alpha == 1.0 and model.config.kl_weight == 0.0 and model.config.mmd_weight >= 10


@pytest.mark.parametrize("settings, message", [
    ({"alpha": 1.5}, "KL weight"),
    ({"alpha": -0.5, "lambda_": 1.0}, "MMD weight"),  # α + λ - 1 = -0.5
    ({"alpha": 0.0, "lambda_": 0.5}, "MMD weight"),
    ({"lambda_": 0.0}, "λ must be > 0"),
    ({"alpha": float("nan")}, "finite"),
    ({"kernel": "cosine"}, "kernel"),
    ({"bandwidth": -1.0}, "bandwidth"),
])
def test_invalid_settings_raise_a_clear_error(digits, settings, message):
    with pytest.raises(ValueError, match=message):
        build("info-vae", digits.shape, **settings)


def test_mmd_vae_pulls_the_codes_towards_the_prior(digits_test, digits):
    from genlib.priors import code_diagnostics

    model = build("mmd-vae", digits.shape, seed=0, latent_dim=2, hidden=(64,))
    plain = build("info-vae", digits.shape, seed=0, latent_dim=2, hidden=(64,), alpha=1.0, lambda_=1e-3)
    for m in (model, plain):  # alpha = 1 and a tiny λ: an autoencoder with almost no regulariser
        for _ in fit(m, digits, steps=300, batch_size=128, lr=2e-3, seed=0):
            pass
    assert code_diagnostics(model, digits_test.x)["mmd"] < 0.5 * code_diagnostics(plain, digits_test.x)["mmd"]
