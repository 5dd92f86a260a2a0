"""MMD (genlib.objectives.mmd) against a naive double loop and its statistical facts (Gretton et al. 2012)."""

from __future__ import annotations

import math

import pytest
import torch

from genlib.objectives import kernel_matrix, mmd


def naive_kernel(a: torch.Tensor, b: torch.Tensor, kernel: str, bandwidth: float, scales) -> float:
    """k(a, b) for two points, written out from the formula in kernel_matrix's docstring."""
    d2 = sum((float(a[i]) - float(b[i])) ** 2 for i in range(len(a)))
    total = 0.0
    for s in scales:
        h = 2.0 * len(a) * (bandwidth * s) ** 2
        total += h / (h + d2) if kernel == "imq" else math.exp(-d2 / h)
    return total


def naive_mmd(x, y, kernel, bandwidth, scales, unbiased) -> float:
    n, m = len(x), len(y)
    kxx = sum(naive_kernel(x[i], x[j], kernel, bandwidth, scales) for i in range(n) for j in range(n)
              if not (unbiased and i == j))
    kyy = sum(naive_kernel(y[i], y[j], kernel, bandwidth, scales) for i in range(m) for j in range(m)
              if not (unbiased and i == j))
    kxy = sum(naive_kernel(x[i], y[j], kernel, bandwidth, scales) for i in range(n) for j in range(m))
    pairs_x, pairs_y = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    return kxx / pairs_x + kyy / pairs_y - 2 * kxy / (n * m)


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("scales", [(1.0,), (0.2, 1.0, 5.0)])
def test_mmd_equals_a_naive_double_loop(kernel, unbiased, scales):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.7
    got = mmd(x, y, kernel, bandwidth=0.8, scales=scales, unbiased=unbiased).item()
    assert got == pytest.approx(naive_mmd(x, y, kernel, 0.8, scales, unbiased), rel=1e-9, abs=1e-12)


def test_kernel_matrix_is_one_on_the_diagonal_per_scale():
    x = torch.randn(6, 2)
    for kernel in ("imq", "rbf"):
        k = kernel_matrix(x, x, kernel, 1.0, (0.5, 1.0, 2.0))
        assert torch.allclose(k.diagonal(), torch.full((6,), 3.0), atol=1e-5)
        assert torch.allclose(k, k.T, atol=1e-6)


def test_unbiased_estimate_of_one_distribution_averages_to_zero_over_seeds():
    unbiased, biased = [], []
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g)
        unbiased.append(mmd(x, y).item())
        biased.append(mmd(x, y, unbiased=False).item())
    unbiased, biased = torch.tensor(unbiased), torch.tensor(biased)
    standard_error = unbiased.std() / math.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 3 * standard_error
    assert (unbiased < 0).any(), "a single unbiased estimate can be negative when p = q"
    assert (biased >= 0).all() and biased.mean() > 10 * standard_error, "the biased one is inflated"


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_grows_with_the_shift(kernel):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    values = [mmd(x, y + shift, kernel).item() for shift in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values


def test_mmd_gradient_is_finite_with_repeated_points():
    x = torch.zeros(8, 2, requires_grad=True)  # every pairwise distance is 0
    mmd(x, torch.randn(8, 2), "rbf").backward()
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="kernel"):
        mmd(torch.randn(4, 2), torch.randn(4, 2), "cosine")
    with pytest.raises(ValueError, match="N x D"):
        mmd(torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match="> 0"):
        mmd(torch.randn(4, 2), torch.randn(4, 2), bandwidth=0.0)
    with pytest.raises(ValueError, match="two samples"):
        mmd(torch.randn(1, 2), torch.randn(4, 2))


def test_mmd_terms_decompose_the_estimate_and_the_bandwidth_limits_hold():
    from genlib.objectives import mmd_across_bandwidths, mmd_terms
    from genlib.priors import two_clouds

    x, y = two_clouds(60, shift=1.5, seed=2)
    terms = mmd_terms(x, y, "rbf", bandwidth=0.7)
    assert terms["kernel_matrix"].shape == (120, 120)
    assert terms["xx"] + terms["yy"] - 2 * terms["xy"] == pytest.approx(terms["unbiased"], abs=1e-5)
    sweep = mmd_across_bandwidths(x, y, "rbf", (1e-3, 1.0, 1e3))
    tiny, middle, huge = zip(sweep["unbiased"], sweep["biased"], strict=True)
    assert abs(tiny[0]) < 1e-6 and tiny[1] == pytest.approx(1 / 60 + 1 / 60, rel=1e-3)  # only the diagonal is left
    assert max(abs(v) for v in huge) < 1e-4  # every pair looks alike
    assert middle[0] > 0.1


def test_two_clouds_checks_its_settings():
    from genlib.priors import two_clouds

    with pytest.raises(ValueError, match="at least 2"):
        two_clouds(1)
    with pytest.raises(ValueError, match="scale"):
        two_clouds(10, scale=0.0)
