"""genlib.native: the stacked step's compiled element-wise passes, each against torch's own functions and
autograd, NaN and infinity carried as torch carries them; and the tensor operations wherever they cannot be
built."""

from __future__ import annotations

import math

import pytest
import torch

from genlib import native
from genlib.distributions import gaussian_kl
from genlib.models.vae import free_bits
from tests.conftest import require_native


@pytest.fixture(autouse=True)
def _kernels():
    require_native()


def test_the_reparameterisation_is_mu_plus_sigma_eps():
    torch.manual_seed(0)
    h, eps = torch.randn(3, 16, 10) * 3.0, torch.randn(16, 5)
    h[0, 0, 5:] = torch.tensor([200.0, -200.0, 0.0, float("nan"), 177.5])  # σ = inf, 0, 1, NaN, inf
    h[1, 0, 5:] = torch.tensor([-174.0, 177.4, 100.0, -100.0, 1e-3])  # σ near both ends of float32's range
    z, sigma = native.reparameterize(h, eps)
    mu, logvar = h[..., :5], h[..., 5:]
    expected = torch.exp(0.5 * logvar.double()).float()
    assert torch.allclose(sigma, expected, rtol=3e-7, atol=1e-37, equal_nan=True)  # 0 for denormals
    assert torch.allclose(z, mu + expected * eps, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert sigma[0, 0, 0] == math.inf and sigma[0, 0, 1] == 0.0 and sigma[0, 0, 3].isnan()
    assert sigma[0, 0, 4] == math.inf and 3e38 < sigma[1, 0, 1] < math.inf


def test_the_kl_step_is_the_free_bits_objectives_gradient():
    """The reference: each run's batch mean of recon + β · free_bits(KL, λ) (genlib.models.vae) plus a stand-in
    decoder loss Σ c·z, differentiated by autograd; d_z = c goes in as a strided view, as the stack's does."""
    torch.manual_seed(1)
    runs, batch, dim = 4, 32, 6
    h = torch.randn(runs, batch, 2 * dim) * 0.8
    h[..., [0, 1, dim, dim + 1]] *= 0.2  # two dimensions close to the prior: below λ = 0.3
    h.requires_grad_()
    eps, recon = torch.randn(batch, dim), torch.rand(runs, batch) * 50
    c = torch.randn(runs, dim, batch).transpose(1, 2)  # (R, B, D) with strides (D·B, 1, B)
    beta = torch.tensor([[1.0], [4.0], [1.0], [0.0]])
    lam = torch.tensor([0.0, 0.0, 0.3, 0.5]).view(-1, 1, 1)
    mu, logvar = h[..., :dim], h[..., dim:]
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    losses = [(recon[r] + beta[r, 0] * free_bits(gaussian_kl(mu[r], logvar[r]), lam[r].item())).mean()
              for r in range(runs)]
    (expected_d_h,) = torch.autograd.grad(sum(losses) + (c * z).sum(), h)
    terms, d_h = native.gaussian_kl_step(h.detach(), sigma.detach(), eps, c, beta, lam, recon)
    kl_per_dim = gaussian_kl(mu, logvar).detach()
    assert torch.allclose(terms["kl_per_dim"], kl_per_dim, rtol=1e-5, atol=1e-6)
    assert torch.allclose(terms["kl"], kl_per_dim.sum(-1), rtol=1e-5, atol=1e-5)
    assert torch.allclose(terms["elbo"], -(recon + kl_per_dim.sum(-1)), rtol=1e-5, atol=1e-4)
    assert torch.allclose(terms["loss"], torch.stack(losses).detach(), rtol=1e-5)
    assert terms["recon"] is recon
    assert torch.allclose(d_h, expected_d_h, rtol=1e-5, atol=1e-6)
    # λ = 0.3 leaves some dimensions out of the gradient, and not all of them
    counted = kl_per_dim[2].mean(0) > 0.3
    assert 0 < int(counted.sum()) < dim
    assert torch.allclose(d_h[2, :, :dim][:, ~counted], c[2][:, ~counted])


def test_the_relu_gradient_and_the_bias_gradient_are_autograds():
    torch.manual_seed(2)
    out = torch.relu(torch.randn(3, 40, 24))
    out[0, 0, :3] = torch.tensor([float("nan"), -0.0, 1e-30])  # threshold_backward: passes NaN, stops -0
    for d in (torch.randn(3, 40, 24), torch.randn(3, 24, 40).transpose(1, 2)):  # contiguous, strided
        expected = torch.ops.aten.threshold_backward(d, out, 0.0)
        bias_grad = torch.full((3, 1, 24), 7.0)
        result = native.relu_backward_bias(d, out, bias_grad)
        assert result is d and torch.equal(d, expected)
        assert torch.allclose(bias_grad, expected.sum(1, keepdim=True), rtol=1e-6, atol=1e-6)


def test_tensors_of_other_layouts_are_read_as_their_values():
    """A transposed view goes in as the values it shows, not as the memory under it."""
    torch.manual_seed(3)
    logits, x = torch.randn(2, 64, 16).transpose(1, 2), (torch.rand(16, 64) > 0.5).float()
    for got, expected in zip(native.bernoulli_nll(logits, x), native.bernoulli_nll(logits.contiguous(), x),
                             strict=True):
        assert torch.equal(got, expected)
    h, eps = torch.randn(2, 8, 16).transpose(1, 2), torch.randn(16, 4)
    for got, expected in zip(native.reparameterize(h, eps), native.reparameterize(h.contiguous(), eps), strict=True):
        assert torch.equal(got, expected)
    with pytest.raises(ValueError, match="must be contiguous"):
        native.relu_backward_bias(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 1, 6)[..., ::2])


def test_a_nan_logit_makes_its_examples_term_nan_and_no_other():
    logits = torch.randn(2, 4, 64)
    logits[1, 2, 7] = float("nan")
    x = (torch.rand(4, 64) > 0.5).float()
    recon, grad = native.bernoulli_nll(logits, x)
    assert recon[1, 2].isnan() and recon.isnan().sum() == 1
    assert grad[1, 2, 7].isnan() and grad.isnan().sum() == 1


def test_without_a_compiler_or_with_it_turned_off_the_stack_keeps_to_tensor_operations(monkeypatch, tmp_path):
    from genlib import batched
    from genlib.models import build

    models = [build("vae", (1, 8, 8), seed=0, latent_dim=2, hidden=(8,)) for _ in range(2)]
    with native.turned_off():
        assert not native.fits(torch.zeros(1)) and not batched.StackedVAE(models).compiled
    assert batched.StackedVAE(models).compiled
    wide = [build("vae", (1, 8, 8), seed=0, latent_dim=native.MAX_DIM + 1, hidden=(2,)) for _ in range(2)]
    assert not batched.StackedVAE(wide).compiled  # wider than the compiled KL's scratch arrays
    dim = native.MAX_DIM + 1
    h, sigma, eps = torch.zeros(1, 1, 2 * dim), torch.zeros(1, 1, dim), torch.zeros(1, dim)
    with pytest.raises(ValueError, match=f"at most {native.MAX_DIM} latent dimensions"):
        native.gaussian_kl_step(h, sigma, eps, sigma, torch.ones(1, 1), torch.zeros(1, 1, 1), torch.zeros(1, 1))
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    assert not native.available() and native.reason() == "no C compiler (cc) on PATH"
    assert not batched.StackedVAE(models).compiled
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("GENLAB_NATIVE", "0")
    assert not native.available() and "GENLAB_NATIVE=0" in native.reason()


def test_a_failed_build_is_a_reason_not_an_error(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("GENLAB_NATIVE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "FLAGS", ("-this-flag-does-not-exist",))
    assert not native.available()
    assert native.reason().startswith("the build failed")
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind


def test_the_library_is_built_once_per_source_and_flags(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("GENLAB_NATIVE_DIR", str(tmp_path))
    assert native.available()
    built = list(tmp_path.iterdir())
    assert len(built) == 1 and built[0].name.startswith("native-")
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(native, "_state", {})
    assert native.available() and built[0].stat().st_mtime_ns == stamp and list(tmp_path.iterdir()) == built
