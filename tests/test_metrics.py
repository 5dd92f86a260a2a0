"""evaluate(): its keys and units, the identities between its numbers, and determinism."""

from __future__ import annotations

import math

import pytest
import torch

from genlib.metrics import ACTIVE_THRESHOLD, active_units, evaluate
from genlib.models import build
from genlib.train import fit

KEYS = {"elbo", "recon", "kl", "kl_per_dim", "active_units", "mutual_information", "nll_iwae", "n_examples",
        "iwae_samples", "unit"}


@pytest.fixture(scope="module")
def trained(digits):
    model = build("vae", digits.shape, seed=0, latent_dim=4, hidden=(64,))
    list(fit(model, digits, steps=150, batch_size=64, lr=3e-3))
    return model


def test_keys_units_and_identities(trained, digits_test):
    m = evaluate(trained, digits_test, k=20)
    assert set(m) == KEYS
    assert m["unit"] == "nats per image" and m["n_examples"] == len(digits_test) and m["iwae_samples"] == 20
    assert m["elbo"] == pytest.approx(-(m["recon"] + m["kl"]), rel=1e-6)
    assert sum(m["kl_per_dim"]) == pytest.approx(m["kl"], rel=1e-5) and len(m["kl_per_dim"]) == 4
    assert m["recon"] > 0 and m["kl"] >= 0 and 0 <= m["active_units"] <= 4
    assert m["nll_iwae"] <= -m["elbo"]  # the importance-weighted bound is tighter
    assert -0.05 <= m["mutual_information"] <= math.log(len(digits_test))


def test_evaluate_is_deterministic_and_leaves_the_model_and_rng_alone(trained, digits_test):
    trained.train()
    torch.manual_seed(5)
    expected_draw = torch.rand(3)
    torch.manual_seed(5)
    first = evaluate(trained, digits_test, k=5, seed=1)
    assert torch.equal(torch.rand(3), expected_draw)
    assert trained.training
    assert evaluate(trained, digits_test, k=5, seed=1) == first
    assert evaluate(trained, digits_test, k=5, seed=2)["nll_iwae"] != first["nll_iwae"]


def test_batching_does_not_change_the_deterministic_terms(trained, digits_test):
    a = evaluate(trained, digits_test, k=3, batch_size=500)
    b = evaluate(trained, digits_test, k=3, batch_size=77)
    assert a["kl"] == pytest.approx(b["kl"], rel=1e-5)  # KL uses no noise
    assert a["active_units"] == b["active_units"]


def test_max_examples_and_bad_arguments(trained, digits_test):
    assert evaluate(trained, digits_test, k=2, max_examples=50)["n_examples"] == 50
    with pytest.raises(ValueError):
        evaluate(trained, digits_test, k=0)
    with pytest.raises(ValueError):
        evaluate(trained, digits_test.subset(0))


def test_active_units_counts_dimensions_above_the_threshold():
    g = torch.Generator().manual_seed(0)
    spread = torch.tensor([1.0, 0.5, 0.2, 0.05, 0.0])  # standard deviations; threshold 0.01 on the variance
    mu = torch.randn(5000, 5, generator=g) * spread + torch.tensor([3.0, -1.0, 0.0, 2.0, 7.0])
    n, variance = active_units(mu)
    assert ACTIVE_THRESHOLD == 0.01
    assert n == 3  # variances 1, 0.25, 0.04 are active; 0.0025 and 0 are not
    torch.testing.assert_close(variance, spread**2, rtol=0.1, atol=1e-4)
    assert active_units(mu, threshold=0.001)[0] == 4
    assert active_units(mu[:1])[0] == 0  # one example has no spread
