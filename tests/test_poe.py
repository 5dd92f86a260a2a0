"""Fusion of Gaussian experts against independent references: densities multiplied and renormalised on a
grid, torch.distributions' mixtures and multivariate normals, and the classic 1-D example."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Normal

from genlib.distributions import (
    log_normal_full,
    mixture_log_prob,
    mixture_of_experts,
    product_of_experts,
    product_of_gaussians,
)


def _grid_product(mus, variances, prior):
    """Mean and variance of prod_e N(mu_e, var_e) (times N(0, 1) with ``prior``), by multiplying densities
    on a fine grid and renormalising: no precision algebra involved."""
    grid = torch.linspace(-12, 12, 20_001, dtype=torch.float64)
    log_density = torch.zeros_like(grid)
    for m, v in zip(mus, variances, strict=True):
        log_density += Normal(torch.tensor(m, dtype=torch.float64), math.sqrt(v)).log_prob(grid)
    if prior or not mus:
        log_density += Normal(0.0, 1.0).log_prob(grid)
    p = torch.softmax(log_density, 0)
    mean = (p * grid).sum()
    return mean.item(), (p * (grid - mean) ** 2).sum().item()


def test_the_classic_example_n05_n02():
    # N(0.5, 1/1.0) x N(0.2, 1/1.5) without the prior: precision 2.5, mean 0.32, variance 0.4
    mu = torch.tensor([[[0.5]], [[0.2]]], dtype=torch.float64)
    logvar = torch.tensor([[[0.0]], [[math.log(1 / 1.5)]]], dtype=torch.float64)
    m, lv = product_of_experts(mu, logvar, prior=False)
    assert m.item() == pytest.approx(0.32, abs=1e-12) and lv.exp().item() == pytest.approx(0.4, abs=1e-12)
    assert _grid_product([0.5, 0.2], [1.0, 1 / 1.5], prior=False) == pytest.approx((0.32, 0.4), abs=1e-6)
    full_mu, full_cov = product_of_gaussians(mu[:, 0], logvar[:, 0].exp()[..., None])
    assert full_mu.item() == pytest.approx(0.32, abs=1e-12) and full_cov.item() == pytest.approx(0.4, abs=1e-12)
    m, lv = product_of_experts(mu, logvar, prior=True)  # the N(0, 1) expert adds precision 1
    assert m.item() == pytest.approx(0.8 / 3.5, abs=1e-12) and lv.exp().item() == pytest.approx(1 / 3.5, abs=1e-12)


@pytest.mark.parametrize("prior", [True, False])
def test_poe_equals_the_renormalised_product_of_densities(prior):
    g = torch.Generator().manual_seed(0)
    mus = (torch.randn(3, generator=g) * 1.5).tolist()
    variances = (torch.rand(3, generator=g) * 2 + 0.1).tolist()
    for present in ([True, True, True], [True, False, True], [False, True, False], [False, False, False]):
        mu = torch.tensor(mus, dtype=torch.float64).view(3, 1, 1)
        logvar = torch.tensor(variances, dtype=torch.float64).log().view(3, 1, 1)
        m, lv = product_of_experts(mu, logvar, torch.tensor(present).view(3, 1), prior=prior)
        keep = [i for i in range(3) if present[i]]
        expected = _grid_product([mus[i] for i in keep], [variances[i] for i in keep], prior)
        assert (m.item(), lv.exp().item()) == pytest.approx(expected, abs=1e-6), present


@pytest.mark.parametrize("variance", [1e-30, 1e-12, 1e12, 1e30])
def test_gradients_are_finite_at_extreme_variances_for_poe_and_moe(variance):
    for fuse in ("poe", "moe"):
        mu = torch.tensor([[[0.3, -0.4]], [[-1.2, 2.0]]], requires_grad=True)
        logvar = torch.tensor([[[math.log(variance)] * 2], [[0.0, math.log(variance)]]], requires_grad=True)
        if fuse == "poe":
            m, lv = product_of_experts(mu, logvar, prior=True)
            out = m.sum() + lv.sum()
        else:
            log_w, m, lv = mixture_of_experts(mu, logvar)
            out = mixture_log_prob(torch.zeros(1, 2), log_w, m, lv).sum()
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all(), fuse


def test_a_dominant_expert_wins_the_product():
    mu = torch.tensor([[[3.0]], [[-1.0]]])
    logvar = torch.tensor([[[math.log(1e-8)]], [[0.0]]])
    m, lv = product_of_experts(mu, logvar, prior=True)
    assert m.item() == pytest.approx(3.0, abs=1e-6) and lv.exp().item() == pytest.approx(1e-8, rel=1e-4)


def test_mixture_of_experts_matches_torch_mixture_same_family():
    g = torch.Generator().manual_seed(1)
    E, B, D = 3, 4, 2
    mu = torch.randn(E, B, D, generator=g, dtype=torch.float64)
    logvar = torch.randn(E, B, D, generator=g, dtype=torch.float64) * 0.5
    mask = torch.tensor([[True, True, False, False], [True, False, True, False], [False, True, True, False]])
    log_w, m, lv = mixture_of_experts(mu, logvar, mask)
    assert log_w.shape == (E + 1, B) and m.shape == lv.shape == (E + 1, B, D)
    z = torch.randn(5, B, D, generator=g, dtype=torch.float64)
    got = mixture_log_prob(z, log_w, m, lv)  # (5, B)
    for b in range(B):
        present = [e for e in range(E) if mask[e, b]]
        if not present:  # every expert missing: the prior
            expected = Normal(0.0, 1.0).log_prob(z[:, b]).sum(-1)
        else:
            mix = MixtureSameFamily(Categorical(torch.ones(len(present), dtype=torch.float64)),
                                    torch.distributions.Independent(
                                        Normal(mu[present, b], (0.5 * logvar[present, b]).exp()), 1))
            expected = mix.log_prob(z[:, b])
        torch.testing.assert_close(got[:, b], expected)
        assert log_w[:, b].exp().sum().item() == pytest.approx(1.0)


def test_mixture_with_the_prior_expert_and_masked_garbage():
    mu = torch.tensor([[[1.0]], [[float("nan")]]])
    logvar = torch.tensor([[[0.0]], [[float("inf")]]])
    log_w, m, lv = mixture_of_experts(mu, logvar, torch.tensor([[True], [False]]), prior=True)
    assert torch.equal(log_w.exp()[:, 0], torch.tensor([0.5, 0.5, 0.0]))
    z = torch.tensor([[0.5]])
    expected = torch.logsumexp(torch.stack([Normal(0.0, 1.0).log_prob(z[0, 0]), Normal(1.0, 1.0).log_prob(z[0, 0])]), 0)
    torch.testing.assert_close(mixture_log_prob(z, log_w, m, lv)[0], expected - math.log(2))


def test_full_covariance_product_matches_the_grid_and_torch_log_density():
    mus = torch.tensor([[0.5, -0.3], [-0.4, 0.8]], dtype=torch.float64)
    covs = torch.tensor([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.2], [-0.2, 1.2]]], dtype=torch.float64)
    m, cov = product_of_gaussians(mus, covs, prior=True)
    xs = torch.linspace(-6, 6, 301, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1)  # (301, 301, 2)
    log_density = sum(MultivariateNormal(mus[e], covs[e]).log_prob(grid) for e in range(2))
    standard = MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    log_density = log_density + standard.log_prob(grid)
    p = torch.softmax(log_density.flatten(), 0).view(301, 301, 1)
    mean = (p * grid).sum((0, 1))
    centred = grid - mean
    expected_cov = (p[..., None] * centred[..., :, None] * centred[..., None, :]).sum((0, 1))
    torch.testing.assert_close(m, mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(cov, expected_cov, atol=1e-6, rtol=0)
    torch.testing.assert_close(log_normal_full(grid, m, cov), MultivariateNormal(m, cov).log_prob(grid))
    # with diagonal covariances it is the diagonal product of experts
    diag = torch.diag_embed(covs.diagonal(dim1=-2, dim2=-1))
    m2, cov2 = product_of_gaussians(mus, diag, mask=[True, False])
    pm, plv = product_of_experts(mus[:, None], covs.diagonal(dim1=-2, dim2=-1).log()[:, None],
                                 torch.tensor([[True], [False]]), prior=False)
    torch.testing.assert_close(m2, pm[0])
    torch.testing.assert_close(cov2.diagonal(), plv[0].exp())
    m0, cov0 = product_of_gaussians(mus, covs, mask=[False, False])  # nobody present: the prior
    assert torch.equal(m0, torch.zeros(2, dtype=torch.float64)) and torch.equal(cov0, torch.eye(2, dtype=torch.float64))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        mixture_of_experts(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError):
        mixture_of_experts(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError):
        product_of_gaussians(torch.zeros(2, 2), torch.zeros(2, 3, 3))
