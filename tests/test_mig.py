"""MIG (Chen et al. 2018) and the factor / latent mutual information matrix."""

import itertools
import math

import numpy as np
import pytest

from genlib.metrics import factor_mutual_information, mig, mig_per_factor


@pytest.fixture(scope="module")
def factors():
    """Every combination of three independent factors with 3, 4 and 5 levels, each shown 40 times (2400 x 3)."""
    grid = np.array(list(itertools.product(range(3), range(4), range(5))), dtype=np.float64)
    return np.repeat(grid, 40, axis=0)


def test_a_code_that_copies_each_factor_into_its_own_dimension_scores_one(factors):
    rng = np.random.default_rng(0)
    codes = np.concatenate([3 * factors[:, [2, 0, 1]] - 1, rng.normal(size=(len(factors), 2))], 1)  # permuted,
    # monotonically warped, plus two noise dimensions
    assert mig(codes, factors) == pytest.approx(1.0, abs=0.05)


def test_a_random_code_scores_near_zero(factors):
    codes = np.random.default_rng(0).normal(size=(len(factors), 6))
    assert 0 <= mig(codes, factors) < 0.1


def test_two_dimensions_sharing_one_factor_leave_no_gap_for_it(factors):
    codes = np.stack([factors[:, 0], 2 * factors[:, 0] + 1, factors[:, 1], factors[:, 2]], 1)
    gaps = mig_per_factor(codes, factors)
    assert gaps[0] == pytest.approx(0.0, abs=1e-9) and gaps[1:] == pytest.approx([1.0, 1.0])


def test_mutual_information_of_a_copied_uniform_factor_is_its_entropy(factors):
    mi = factor_mutual_information(factors, factors)  # (D=3, F=3), nats
    assert np.diag(mi) == pytest.approx([math.log(3), math.log(4), math.log(5)])
    assert mi[~np.eye(3, dtype=bool)] == pytest.approx(0.0, abs=1e-12), "independent factors share nothing"
    assert np.diag(factor_mutual_information(factors, factors, normalized=True)) == pytest.approx(1.0)


def test_constant_factors_are_left_out_and_all_constant_is_an_error(factors):
    with_constant = np.concatenate([factors, np.zeros((len(factors), 1))], 1)
    gaps = mig_per_factor(factors, with_constant)
    assert np.isnan(gaps[-1]) and mig(factors, with_constant) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="constant"):
        mig(factors, np.zeros((len(factors), 2)))
