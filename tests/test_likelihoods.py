"""Likelihoods are normalised distributions over the data they model, in nats per example."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genlib.objectives import LIKELIHOODS, likelihood, nats_to_bits_per_dim

SHAPE = (1, 2, 2)  # a tiny image: every possible value of it can be enumerated


def _all_images(levels: int) -> torch.Tensor:
    """Every 1 x 2 x 2 image whose pixels take ``levels`` evenly spaced values in [0, 1]: (levels^4, 1, 2, 2)."""
    values = [v / (levels - 1) for v in range(levels)]
    return torch.tensor(list(itertools.product(values, repeat=4)), dtype=torch.float64).view(-1, *SHAPE)


def test_bernoulli_sums_to_one_over_every_binary_image():
    lik = likelihood("bernoulli")
    x = _all_images(2)  # 16 images
    logits = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    log_p = lik.log_prob(logits.expand(len(x), *SHAPE), lik.prepare(x))
    assert log_p.shape == (16,)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("levels", [2, 3, 5])
def test_categorical_sums_to_one_over_every_gray_level_image(levels):
    lik = likelihood("categorical", levels=levels)
    x = _all_images(levels)  # levels^4 images
    logits = torch.randn(1, levels, *SHAPE, generator=torch.Generator().manual_seed(levels), dtype=torch.float64) * 2
    log_p = lik.log_prob(logits.expand(len(x), levels, *SHAPE), lik.prepare(x))
    assert log_p.shape == (levels**4,)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-10)


def test_gaussian_density_integrates_to_one():
    lik = likelihood("gaussian")
    mean, logvar = torch.tensor([0.3, -0.5], dtype=torch.float64), torch.tensor([-1.0, 0.5], dtype=torch.float64)
    params = torch.stack([mean, logvar])[None]  # (1, 2 params, 2 coordinates)
    grid = torch.linspace(-8, 8, 801, dtype=torch.float64)
    x = torch.cartesian_prod(grid, grid)  # (801^2, 2)
    density = lik.log_prob(params.expand(len(x), 2, 2), x).exp()
    cell = (grid[1] - grid[0]).item() ** 2
    assert density.sum().item() * cell == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name, shape", [("bernoulli", (1, 3, 3)), ("categorical", (1, 3, 3)), ("gaussian", (2,))])
def test_log_prob_with_a_sample_axis_equals_per_sample_calls(name, shape):
    lik = likelihood(name, levels=4 if name == "categorical" else None)
    g = torch.Generator().manual_seed(1)
    K, B = 3, 5
    x = lik.prepare(torch.rand(B, *shape, generator=g))
    param_shape = shape if lik.n_params == 1 else (lik.n_params, *shape)
    logits = torch.randn(K, B, *param_shape, generator=g)
    together = lik.log_prob(logits, x)
    assert together.shape == (K, B)
    for k in range(K):
        torch.testing.assert_close(together[k], lik.log_prob(logits[k], x))


def test_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(4, 1, 3, 3, generator=g) > 0.5).float()
    logits = torch.randn(4, 1, 3, 3, generator=g)
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(likelihood("bernoulli").log_prob(logits, x), expected)

    lik = likelihood("categorical", levels=5)
    x = lik.prepare(torch.rand(4, 1, 3, 3, generator=g))
    logits = torch.randn(4, 5, 1, 3, 3, generator=g)
    expected = torch.distributions.Categorical(logits=logits.movedim(1, -1)).log_prob((x * 4).round().long())
    torch.testing.assert_close(lik.log_prob(logits, x), expected.flatten(1).sum(1))


def test_prepare_binarises_or_quantises_and_is_idempotent():
    x = torch.tensor([0.0, 0.2, 0.49, 0.51, 0.74, 1.0]).view(1, 1, 2, 3)
    b = likelihood("bernoulli").prepare(x)
    assert b.flatten().tolist() == [0, 0, 0, 1, 1, 1]
    c = likelihood("categorical", levels=5)
    q = c.prepare(x)
    assert q.flatten().tolist() == pytest.approx([0.0, 0.25, 0.5, 0.5, 0.75, 1.0])
    assert torch.equal(c.prepare(q), q) and torch.equal(likelihood("bernoulli").prepare(b), b)
    assert torch.equal(likelihood("gaussian").prepare(x), x)


def test_mean_and_sample_live_in_the_data_space():
    g = torch.Generator().manual_seed(3)
    bern, cat, gauss = likelihood("bernoulli"), likelihood("categorical", levels=4), likelihood("gaussian")
    logits = torch.randn(6, 1, 2, 2, generator=g)
    assert bern.mean(logits).shape == (6, 1, 2, 2)
    assert set(bern.sample(logits, generator=g).unique().tolist()) <= {0.0, 1.0}
    logits = torch.randn(6, 4, 1, 2, 2, generator=g)
    m = cat.mean(logits)
    assert m.shape == (6, 1, 2, 2) and (m >= 0).all() and (m <= 1).all()
    s = cat.sample(logits, generator=g)
    assert s.shape == (6, 1, 2, 2) and set((s * 3).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    params = torch.randn(6, 2, 2, generator=g)
    assert torch.equal(gauss.mean(params), params[:, 0]) and gauss.sample(params, generator=g).shape == (6, 2)


def test_units_and_names():
    assert likelihood("bernoulli").unit((1, 8, 8)) == "nats per image"
    assert "density" in likelihood("gaussian").unit((2,))
    assert nats_to_bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    for name in LIKELIHOODS:
        lik = likelihood(name, levels=17)
        assert lik.describe() and lik.discrete == (name != "gaussian")
    with pytest.raises(ValueError):
        likelihood("poisson")
    with pytest.raises(ValueError):
        likelihood("categorical")  # needs levels
