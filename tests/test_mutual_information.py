"""The minibatch estimator of I(x; z) (genlib.objectives.mutual_information) against analytic answers.

For x ~ N(0, I_D) and the linear-Gaussian encoder q(z | x) = N(a x, s^2 I), the aggregate posterior is
N(0, (a^2 + s^2) I) and I(x; z) = D/2 log(1 + a^2 / s^2) exactly. The estimator uses the batch's own
codes for q(z), which makes it InfoNCE's estimate: below the truth on average and never above log B.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from genlib import objectives
from genlib.objectives import mutual_information


def linear_gaussian(batch: int, dim: int, a: float, s: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    mu = a * torch.randn(batch, dim, generator=g)
    logvar = torch.full_like(mu, 2 * math.log(s))
    return mu, logvar, mu + s * torch.randn(batch, dim, generator=g)


def test_matches_the_analytic_value_of_a_linear_gaussian_encoder():
    dim, a, s = 2, 1.0, 0.5
    truth = dim / 2 * math.log(1 + a**2 / s**2)  # 1.609 nats, far below log B = 7.6
    estimates = torch.tensor([mutual_information(*linear_gaussian(2000, dim, a, s, seed)).item() for seed in range(4)])
    assert estimates.mean().item() == pytest.approx(truth, abs=0.05)


def test_never_exceeds_log_batch_size_and_saturates_there():
    batch = 500
    mu, logvar, z = linear_gaussian(batch, 2, 1.0, 1e-3, seed=0)  # I(x; z) = 27.6 nats, far above log B
    estimate = mutual_information(mu, logvar, z).item()
    assert estimate <= math.log(batch) + 1e-6
    assert estimate > math.log(batch) - 0.05


def test_is_exactly_zero_when_every_posterior_is_the_same():
    mu, logvar = torch.zeros(64, 3), torch.full((64, 3), 0.3)
    z = torch.randn(64, 3)
    assert mutual_information(mu, logvar, z).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("chunk", [512, 4])  # one block of rows, and rows in several blocks
def test_equals_the_definition_on_a_small_batch(monkeypatch, chunk):
    monkeypatch.setattr(objectives, "MI_CHUNK", chunk)
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(10, 2, generator=g), torch.randn(10, 2, generator=g)
    z = torch.randn(10, 2, generator=g)
    log_q = torch.stack([Normal(mu, (0.5 * logvar).exp()).log_prob(z[i]).sum(-1) for i in range(10)])  # (B, B)
    expected = (log_q.diagonal() - (torch.logsumexp(log_q, 1) - math.log(10))).mean()
    assert mutual_information(mu, logvar, z).item() == pytest.approx(expected.item(), abs=1e-5)


def test_is_finite_at_a_large_batch_with_extreme_variances():
    batch = 5000
    g = torch.Generator().manual_seed(0)
    mu = 50 * torch.randn(batch, 2, generator=g)
    logvar = torch.empty(batch, 2).uniform_(-30.0, 10.0, generator=g)  # standard deviations from 3e-7 to 150
    z = mu + (0.5 * logvar).exp() * torch.randn(batch, 2, generator=g)
    estimate = mutual_information(mu, logvar, z)
    assert estimate.dtype == torch.float32 and torch.isfinite(estimate)
    assert 0.0 <= estimate.item() <= math.log(batch) + 1e-4
