"""Posterior collapse: the detector, the PixelVAE's autoregressive likelihood (causal, an exact sum of per-pixel
log-probabilities), and the fact the page rests on: at β = 1 the strong decoder collapses, free bits does not."""

from __future__ import annotations

import pytest
import torch

from genlib import collapse
from genlib.collapse import AutoregressiveLikelihood, detect_collapse, own_vs_random_code
from genlib.lockstep import Lockstep
from genlib.models import build


def test_detector_counts_dimensions_below_the_threshold():
    report = detect_collapse([0.5, 0.009, 0.0, 0.01, 2.0], threshold=0.01)
    assert report.collapsed == (1, 2) and report.n_used == 3 and not report.fully_collapsed
    assert "2 of 5 dimensions collapsed" in report.describe() and "0.01" in report.describe()
    everything = detect_collapse(torch.tensor([1e-4, 2e-3]))
    assert everything.fully_collapsed and "all 2 dimensions collapsed" in everything.describe()
    assert detect_collapse([1.0, 3.0]).describe().startswith("no collapsed dimension")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            detect_collapse([1.0], bad)


@pytest.fixture
def tiny_pixel_vae():
    return build("pixel-vae", (1, 8, 8), seed=0, **collapse.config(collapse.COLLAPSING, pixel_channels=8))


def test_autoregressive_likelihood_is_causal(tiny_pixel_vae):
    """The logits at pixel (i, j) depend on the input pixels strictly before it in raster order, never after."""
    lik = tiny_pixel_vae.likelihood
    assert isinstance(lik, AutoregressiveLikelihood)
    torch.manual_seed(0)
    h = tiny_pixel_vae.decode(torch.randn(1, 4)).detach()
    for i, j in [(0, 0), (3, 4), (7, 7), (5, 0)]:
        x = torch.rand(1, 1, 8, 8, requires_grad=True)
        lik.logits(x, h)[0, 0, i, j].backward()
        seen = x.grad[0, 0] != 0
        order = torch.arange(64).view(8, 8)
        assert not seen[order >= 8 * i + j].any(), f"pixel {(i, j)} sees itself or a later pixel"
        if (i, j) != (0, 0):
            assert seen[order < 8 * i + j].any()


def test_log_prob_is_the_sum_of_bernoulli_log_probs_per_pixel(tiny_pixel_vae, digits):
    model = tiny_pixel_vae
    x = model.likelihood.prepare(digits.x[:5])
    z = torch.randn(3, 5, 4)  # a sample axis in front, as IWAE uses
    h = model.decode(z)
    ours = model.likelihood.log_prob(h, x)
    assert ours.shape == (3, 5)
    for k in range(3):
        logits = model.likelihood.logits(x, h[k])
        reference = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
        torch.testing.assert_close(ours[k], reference)


def test_pictures_are_drawn_pixel_by_pixel(tiny_pixel_vae, digits):
    samples = tiny_pixel_vae.sample(3, torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 8, 8) and ((samples >= 0) & (samples <= 1)).all()
    codes = own_vs_random_code(tiny_pixel_vae, digits.x[0], n_random=4, seed=1)
    assert codes["input"].shape == codes["own"].shape == (1, 1, 8, 8) and codes["random"].shape == (4, 1, 8, 8)
    again = own_vs_random_code(tiny_pixel_vae, digits.x[0], n_random=4, seed=1)
    assert all(torch.equal(codes[k], again[k]) for k in ("input", "own", "random"))
    assert codes["gain"] == again["gain"] and len(codes["random_log_p"]) == 4
    x = tiny_pixel_vae.likelihood.prepare(digits.x[:1])
    mu, _ = tiny_pixel_vae.encode(x)
    own = tiny_pixel_vae.likelihood.log_prob(tiny_pixel_vae.decode(mu), x).item()
    assert codes["own_log_p"] == pytest.approx(own)
    assert codes["gain"] == pytest.approx(own - sum(codes["random_log_p"]) / 4)


def test_the_strong_decoder_collapses_at_beta_one_and_free_bits_cures_it(digits, digits_test):
    """The page's model and seed at a small step budget: β = 1 collapses (every dimension under the threshold,
    no active unit); free bits (λ = 0.5) keeps dimensions in use."""
    steps = 150
    models = {name: build("pixel-vae", digits.shape, seed=0, **collapse.config(s, steps))
              for name, s in (("beta1", collapse.COLLAPSING), ("free-bits", collapse.CURES["free bits"]))}
    lock = Lockstep(models, digits, digits_test, steps=steps, seed=0, eval_every=steps, lr=collapse.TRAINING["lr"])
    lock.advance(steps)
    final = lock.final()
    collapsed = detect_collapse(final["beta1"]["kl_per_dim"])
    assert collapsed.fully_collapsed, collapsed.kl_per_dim
    assert final["beta1"]["active_units"] == 0
    cured = detect_collapse(final["free-bits"]["kl_per_dim"])
    assert cured.n_used >= 1 and final["free-bits"]["active_units"] >= 1, cured.kl_per_dim
    assert final["free-bits"]["mutual_information"] > final["beta1"]["mutual_information"] + 0.1
    # the collapsed decoder explains an image no better from its own code than from a random one
    gains = {name: sum(own_vs_random_code(lock.runs[name].model, digits_test.x[i], n_random=8)["gain"]
                       for i in range(4)) / 4 for name in final}  # nats, averaged over 4 test images
    assert abs(gains["beta1"]) < 0.5 < gains["free-bits"], gains


def test_compare_pair_says_which_run_collapsed_and_which_bound_is_better():
    from genlib.collapse import compare_pair, detect_collapse

    gone, kept = detect_collapse([0.0, 0.001], 0.01), detect_collapse([0.0, 2.5], 0.01)
    text = compare_pair({"plain": gone, "cure": kept}, {"plain": 0, "cure": 1}, {"plain": -20.0, "cure": -19.5})
    assert "**plain** has collapsed" in text and "below 0.01 nats" in text
    assert "**cure** keeps 1 dimension(s)" in text and "a better bound" in text
    text = compare_pair({"plain": kept, "cure": gone}, {"plain": 1, "cure": 0}, {"plain": -19.0, "cure": -20.0})
    assert "still uses 1 of 2 dimensions" in text and "**cure** collapsed too" in text
