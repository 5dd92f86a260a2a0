"""The MI-loss VAE (genlib/models/mi_vae.py): γ = 0 is the VAE, the loss is the VAE's minus γ · Î(x; z)
with the notes' estimator, its settings are checked, and γ > 0 keeps more information in z."""

from __future__ import annotations

import pytest
import torch

from genlib.metrics import kl_decomposition
from genlib.models import build
from genlib.objectives import mutual_information
from genlib.train import dissect_step, fit

SMALL = {"latent_dim": 3, "hidden": (32,)}


def test_gamma_0_is_exactly_the_vae(digits):
    vae = build("vae", digits.shape, seed=0, **SMALL)
    mi = build("mi-vae", digits.shape, seed=0, gamma=0.0, **SMALL)
    torch.manual_seed(5)
    expected = vae.loss(digits.x[:64])
    torch.manual_seed(5)
    assert torch.equal(mi.loss(digits.x[:64])["loss"], expected["loss"])
    a = [r["loss"] for r in fit(vae, digits, steps=20, batch_size=64, seed=1, stack=False)]  # autograd, as b
    b = [r["loss"] for r in fit(mi, digits, steps=20, batch_size=64, seed=1)]
    assert a == b


def test_loss_is_the_vae_loss_minus_gamma_times_the_mi_estimate(digits):
    model = build("mi-vae", digits.shape, seed=0, gamma=2.5, beta_schedule={"kind": "constant", "beta": 3.0},
                  **SMALL)
    mu, logvar = torch.randn(16, 3), torch.randn(16, 3) * 0.3
    z = mu + torch.randn(16, 3) * (0.5 * logvar).exp()
    kl_per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    parts = model.regularizer(kl_per_dim, mu, logvar, z, beta=3.0)
    assert list(parts) == ["β·KL", "-γ·I(x;z)"]  # the two weighted parts a step's dissection shows
    assert torch.allclose(parts["β·KL"], 3.0 * kl_per_dim.sum(1))
    assert torch.allclose(parts["-γ·I(x;z)"], -2.5 * mutual_information(mu, logvar, z))
    # the whole loss, batch mean, as the model computes it from one seeded forward pass
    torch.manual_seed(0)
    terms = model.loss(digits.x[:32])
    torch.manual_seed(0)
    x = model.likelihood.prepare(digits.x[:32])
    x_logits, mu, logvar, z = model(x)
    expected = (terms["recon"] + 3.0 * terms["kl"]).mean() - 2.5 * mutual_information(mu, logvar, z)
    assert torch.allclose(terms["loss"], expected, atol=1e-5)
    d = dissect_step(model, digits.x[:32])
    assert {"β·KL", "-γ·I(x;z)"} <= set(d["grads"])


@pytest.mark.parametrize("gamma", [-0.5, float("nan"), float("inf")])
def test_bad_gamma_is_refused(digits, gamma):
    with pytest.raises(ValueError, match="γ"):
        build("mi-vae", digits.shape, gamma=gamma, **SMALL)


def test_gamma_keeps_more_information_in_z(digits):
    """With β = 4 the VAE gives up most of I(x; z); rewarding the estimate with γ = 4 takes that charge back."""
    out = {}
    for gamma in (0.0, 4.0):
        model = build("mi-vae", digits.shape, seed=0, gamma=gamma, beta_schedule={"kind": "constant", "beta": 4.0},
                      latent_dim=2, hidden=(64,))
        for _ in fit(model, digits, steps=300, batch_size=128, seed=0):
            pass
        out[gamma] = kl_decomposition(model, digits, max_examples=1000)["mutual_information"]
    assert out[4.0] > out[0.0] + 0.5, out
