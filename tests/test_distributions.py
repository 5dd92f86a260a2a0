"""Gaussian math against independent references: torch.distributions and the product of Gaussians written out."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlib.distributions import (
    gaussian_kl,
    gaussian_kl_between,
    log_normal,
    log_standard_normal,
    product_of_experts,
    reparameterize,
)


def _random_gaussians(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(*shape, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(*shape, generator=g, dtype=torch.float64) * 1.5
    return mu, logvar


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = _random_gaussians(16, 5)
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    got = gaussian_kl(mu, logvar)
    assert got.shape == (16, 5)  # per dimension, not summed
    torch.testing.assert_close(got, kl_divergence(q, p), rtol=1e-10, atol=1e-12)


def test_gaussian_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 4)
    assert torch.equal(gaussian_kl(zeros, zeros), zeros)
    mu, logvar = _random_gaussians(64, 3, seed=1)
    assert (gaussian_kl(mu, logvar) > 0).all()


def test_gaussian_kl_between_matches_torch_distributions():
    mu_q, logvar_q = _random_gaussians(8, 6, seed=2)
    mu_p, logvar_p = _random_gaussians(8, 6, seed=3)
    expected = kl_divergence(Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp()))
    torch.testing.assert_close(gaussian_kl_between(mu_q, logvar_q, mu_p, logvar_p), expected, rtol=1e-10, atol=1e-12)
    # against the standard normal it is gaussian_kl
    zeros = torch.zeros_like(mu_q)
    torch.testing.assert_close(gaussian_kl_between(mu_q, logvar_q, zeros, zeros), gaussian_kl(mu_q, logvar_q))


def test_log_normal_matches_torch_distributions():
    mu, logvar = _random_gaussians(10, 4, seed=4)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(log_normal(x, mu, logvar), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(log_standard_normal(x), Normal(0.0, 1.0).log_prob(x), rtol=1e-10, atol=1e-12)


def test_reparameterize_has_the_right_moments_and_uses_the_generator():
    mu = torch.full((200_000, 1), 1.5)
    logvar = torch.full((200_000, 1), math.log(0.25))
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 1.5) < 0.01
    assert abs(z.std().item() - 0.5) < 0.01
    z2 = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, z2)


# ------------------------------------------------------------------------------------ product of experts


def naive_product(mus, variances, prior):
    """The product of 1-D Gaussians by the textbook formula: precisions add, means are precision-weighted."""
    if prior:
        mus, variances = [0.0, *mus], [1.0, *variances]
    if not mus:  # nobody present: the prior
        return 0.0, 1.0
    precision = sum(1.0 / v for v in variances)
    mean = sum(m / v for m, v in zip(mus, variances, strict=True)) / precision
    return mean, 1.0 / precision


def _poe(mu, var, mask=None, prior=True):
    m, logvar = product_of_experts(torch.tensor(mu, dtype=torch.float64), torch.tensor(var, dtype=torch.float64).log(),
                                   None if mask is None else torch.tensor(mask), prior=prior)
    return m, logvar.exp()


def test_product_of_experts_classic_example_without_prior():
    # N(0.5, 1/1.0) x N(0.2, 1/1.5): precision 2.5, mean (0.5 * 1 + 0.2 * 1.5) / 2.5
    mean, var = _poe([[[0.5]], [[0.2]]], [[[1.0]], [[1 / 1.5]]], prior=False)
    assert mean.item() == pytest.approx(0.32, abs=1e-12)
    assert var.item() == pytest.approx(0.4, abs=1e-12)


@pytest.mark.parametrize("prior", [True, False])
def test_product_of_experts_matches_the_analytic_product(prior):
    g = torch.Generator().manual_seed(0)
    E, B, D = 3, 5, 4
    mu = torch.randn(E, B, D, generator=g, dtype=torch.float64)
    var = torch.rand(E, B, D, generator=g, dtype=torch.float64) * 3 + 0.05
    mask = torch.rand(E, B, generator=g) > 0.4
    mask[:, 0] = True  # row 0: everyone present
    mask[:, 1] = False  # row 1: nobody present -> the prior, with or without prior=True
    for m in (None, mask):
        got_mu, got_logvar = product_of_experts(mu, var.log(), m, prior=prior)
        for b in range(B):
            present = [e for e in range(E) if m is None or m[e, b]]
            for d in range(D):
                mean, variance = naive_product([mu[e, b, d].item() for e in present],
                                               [var[e, b, d].item() for e in present], prior)
                assert got_mu[b, d].item() == pytest.approx(mean, rel=1e-9, abs=1e-12)
                assert got_logvar[b, d].exp().item() == pytest.approx(variance, rel=1e-9)


def test_product_of_experts_all_masked_gives_the_prior():
    mu = torch.randn(2, 3, 4)
    logvar = torch.randn(2, 3, 4)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    for prior in (True, False):
        m, lv = product_of_experts(mu, logvar, mask, prior=prior)
        assert torch.equal(m, torch.zeros(3, 4)) and torch.equal(lv, torch.zeros(3, 4))


def test_product_of_experts_ignores_what_a_masked_expert_holds():
    mu = torch.randn(2, 3, 4)
    logvar = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, True], [False, False, False]])
    poisoned_mu, poisoned_logvar = mu.clone(), logvar.clone()
    poisoned_mu[1], poisoned_logvar[1] = float("nan"), float("inf")
    expected = product_of_experts(mu[:1], logvar[:1])
    got = product_of_experts(poisoned_mu, poisoned_logvar, mask)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("variance", [1e-8, 1e8])
def test_product_of_experts_gradients_are_finite_at_extreme_variances(variance):
    mu = torch.tensor([[[0.3]], [[-1.2]]], requires_grad=True)
    logvar = torch.tensor([[[math.log(variance)]], [[0.0]]], requires_grad=True)
    m, lv = product_of_experts(mu, logvar, prior=True)
    assert torch.isfinite(m).all() and torch.isfinite(lv).all()
    (m.sum() + lv.sum()).backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all()
    mean, var = naive_product([0.3, -1.2], [variance, 1.0], prior=True)
    assert m.item() == pytest.approx(mean, rel=1e-4, abs=1e-6)
    assert lv.exp().item() == pytest.approx(var, rel=1e-4)


def test_product_of_experts_rejects_bad_shapes():
    with pytest.raises(ValueError):
        product_of_experts(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError):
        product_of_experts(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), mask=torch.ones(3, 2, dtype=torch.bool))
