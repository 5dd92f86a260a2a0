"""ELBO surgery (genlib.metrics.kl_decomposition) against closed forms: a linear-Gaussian encoder whose
aggregate posterior is a known Gaussian, the two limits of I(x; z) (0 and log N), and the minibatch
estimator of genlib.objectives on a pretrained model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from genlib import pretrained
from genlib.data import load_dataset
from genlib.metrics import evaluate, kl_decomposition
from genlib.objectives import likelihood, mutual_information

N = 2000


class GaussianEncoder(torch.nn.Module):
    """q(z | x) = N(ρ x, s²) per dimension, for point data x (N x 2) used as is."""

    def __init__(self, rho: float, std: float):
        super().__init__()
        self.rho, self.std = rho, std
        self.likelihood = likelihood("gaussian")
        self.config = SimpleNamespace(latent_dim=2)
        self.device = torch.device("cpu")

    def encode(self, x):
        return self.rho * x, torch.full_like(x, 2 * math.log(self.std))


def data(r: float = 0.6, seed: int = 123):  # not the estimator's seed (0): its noise must be independent of x
    cov = torch.tensor([[1.0, r], [r, 1.0]])
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(seed)) @ torch.linalg.cholesky(cov).T
    return SimpleNamespace(x=x)


def test_gaussian_encoder_against_closed_forms():
    rho, r = 0.8, 0.6
    ds = data(r)
    out = kl_decomposition(GaussianEncoder(rho, math.sqrt(1 - rho**2)), ds, samples=8)
    x = ds.x.double()
    var = 1 - rho**2
    kl = 0.5 * ((rho * x).pow(2).sum(1) + 2 * var - 2 - 2 * math.log(var)).mean()
    # q(z) is close to N(0, C), C = ρ² Cov(x) + (1 - ρ²) I (the empirical mixture of N posteriors)
    c = rho**2 * torch.cov(x.T) + var * torch.eye(2, dtype=torch.float64)
    marginal_kl = 0.5 * (torch.trace(c) - 2 - torch.logdet(c))
    corr = c[0, 1] / (c[0, 0] * c[1, 1]).sqrt()
    tc = -0.5 * torch.log1p(-corr**2)  # a Gaussian's total correlation: -1/2 log det(correlation matrix)
    assert out["kl"] == pytest.approx(kl.item(), abs=1e-6)
    assert out["marginal_kl"] == pytest.approx(marginal_kl.item(), abs=0.02)
    assert out["mutual_information"] == pytest.approx((kl - marginal_kl).item(), abs=0.02)
    assert out["total_correlation"] == pytest.approx(tc.item(), abs=0.02)
    assert out["mutual_information"] + out["marginal_kl"] == pytest.approx(out["kl"], abs=1e-9)


def test_the_two_limits_of_the_mutual_information():
    ds = data()
    same = kl_decomposition(GaussianEncoder(0.0, 0.5), ds)  # every q(z | x) the same: z says nothing of x
    assert abs(same["mutual_information"]) < 0.01 and same["total_correlation"] == pytest.approx(0, abs=0.01)
    assert same["marginal_kl"] == pytest.approx(same["kl"], abs=0.01)
    apart = kl_decomposition(GaussianEncoder(1.0, 1e-4), ds)  # codes tell every example apart: I = log N
    assert apart["mutual_information"] == pytest.approx(math.log(N), abs=0.01)


@pytest.mark.parametrize("name", ["vae-2d-digits", "vae-digits"])
def test_pretrained_models_agree_with_the_minibatch_estimator(name):
    model, test = pretrained.load(name), load_dataset("digits", "test")
    out = kl_decomposition(model, test, samples=8)
    assert out["kl"] == pytest.approx(evaluate(model, test)["kl"], rel=1e-4)
    assert out["mutual_information"] + out["marginal_kl"] == pytest.approx(out["kl"], abs=1e-6)
    assert 0 < out["mutual_information"] <= math.log(out["n_examples"]) + 1e-6
    assert out["marginal_kl"] > 0 and out["total_correlation"] > -0.01
    # objectives.mutual_information over the same examples (one code each, a plug-in log q(z|x))
    x = model.likelihood.prepare(test.x[:2000])
    with torch.no_grad():
        mu, logvar = model.encode(x)
        estimates = [mutual_information(mu, logvar, mu + (0.5 * logvar).exp() * torch.randn(
            mu.shape, generator=torch.Generator().manual_seed(s))).item() for s in range(4)]
    assert out["mutual_information"] == pytest.approx(sum(estimates) / 4, abs=0.05)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        kl_decomposition(GaussianEncoder(1.0, 1.0), SimpleNamespace(x=torch.zeros(1, 2)))
    with pytest.raises(ValueError, match="samples"):
        kl_decomposition(GaussianEncoder(1.0, 1.0), data(), samples=0)
