"""Posterior collapse: a VAE whose decoder can ignore z, and a detector for latent dimensions it ignores.

Posterior collapse (Bowman et al. 2016, "Generating Sentences from a Continuous Space", Sec. 3.1) is the
optimum the ELBO falls into when the decoder can model x well without z: then q(z | x) = p(z) for
every x, so the KL term is 0, no latent dimension is active, and z carries no information about x.
An autoregressive decoder over pixels is strong enough for that: the :class:`PixelVAE`
(genlib.models.pixel_vae, registry name ``pixel-vae``) decodes z into a bias for a small PixelCNN, so
p(x | z) = prod_i p(x_i | x_<i, z). Trained with β = 1 from the start it collapses; KL annealing or
free bits (genlib.annealing) keep z in use. This module holds the page's settings and recipes.

The detector calls a dimension collapsed when its KL, averaged over the data, is below a threshold in
nats (:data:`KL_THRESHOLD`); :func:`genlib.metrics.active_units` is the complementary view from the
variance of the posterior means (Burda et al. 2016).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlib.annealing import Strategy
from genlib.models.pixel_vae import AutoregressiveLikelihood, PixelVAE, PixelVAEConfig

__all__ = ["AutoregressiveLikelihood", "CollapseReport", "PixelVAE", "PixelVAEConfig", "detect_collapse",
           "own_vs_random_code"]

KL_THRESHOLD = 0.01  # nats per dimension: below it a latent dimension counts as collapsed

# The collapse page's setting: a PixelVAE on binarised digits, β = 1 from the start, against a cure.
DATA = "digits"
MODEL = {"latent_dim": 4, "hidden": (64,), "pixel_channels": 32, "pixel_layers": 2, "first_kernel": 15,
         "conditioning": "global", "likelihood": "bernoulli"}
STEPS = 800
TRAINING = {"batch_size": 128, "lr": 3e-3, "seed": 0}
COLLAPSING = Strategy("constant", beta=1.0)  # β = 1 from the first step
CURES = {"free bits": Strategy("free-bits", lam=0.5), "monotonic warm-up": Strategy("monotonic", ratio=0.5),
         "cyclical": Strategy("cyclical", n_cycles=4, ratio=0.5)}


def config(strategy: Strategy, total_steps: int = STEPS, **model) -> dict:
    """The full ``pixel-vae`` config of one run of the collapse page."""
    return {**MODEL, **model, **strategy.config(total_steps)}


def recipe_name(cure: str | None) -> str:
    return "collapse-beta1-digits" if cure is None else f"collapse-{cure.replace(' ', '-')}-digits"


def recipes() -> dict[str, dict]:
    """Pretrained recipes for the page's default pair (see genlib.pretrained.RECIPES)."""
    out = {}
    for cure, strategy in ((None, COLLAPSING), ("free bits", CURES["free bits"])):
        cfg = config(strategy)
        cfg["hidden"] = list(cfg["hidden"])
        out[recipe_name(cure)] = {
            "description": f"PixelVAE (autoregressive decoder), {strategy.label}: posterior collapse "
                           + ("at β = 1" if cure is None else "cured"),
            "model": "pixel-vae", "data": DATA, "config": cfg, "steps": STEPS, **TRAINING,
        }
    return out


# ------------------------------------------------------------------------------------- the detector


@dataclass(frozen=True)
class CollapseReport:
    kl_per_dim: tuple[float, ...]  # KL of each latent dimension, averaged over the data (nats)
    threshold: float  # nats: a dimension below it is collapsed
    collapsed: tuple[int, ...]  # indices of the collapsed dimensions

    @property
    def n_collapsed(self) -> int:
        return len(self.collapsed)

    @property
    def n_used(self) -> int:
        return len(self.kl_per_dim) - len(self.collapsed)

    @property
    def fully_collapsed(self) -> bool:
        return self.n_used == 0

    def describe(self) -> str:
        d = len(self.kl_per_dim)
        if self.fully_collapsed:
            return f"all {d} dimensions collapsed (KL < {self.threshold:g} nats each): z carries nothing about x"
        if not self.collapsed:
            return f"no collapsed dimension: all {d} carry more than {self.threshold:g} nats"
        return f"{self.n_collapsed} of {d} dimensions collapsed (KL < {self.threshold:g} nats): {self.n_used} in use"


def detect_collapse(kl_per_dim, threshold: float = KL_THRESHOLD) -> CollapseReport:
    """The dimensions whose data-averaged KL (a length-D sequence or tensor, nats) is below ``threshold``."""
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"the collapse threshold must be a finite number of nats > 0, got {threshold}")
    values = tuple(float(v) for v in (kl_per_dim.tolist() if torch.is_tensor(kl_per_dim) else kl_per_dim))
    return CollapseReport(values, float(threshold), tuple(i for i, v in enumerate(values) if v < threshold))


@torch.no_grad()
def own_vs_random_code(model, x: torch.Tensor, *, n_random: int = 4, seed: int = 0) -> dict:
    """Decode one image ``x`` (C x H x W) from its own code (the posterior mean) and from ``n_random``
    codes drawn from the prior, and score x under each: if the decoder ignores z, both look alike and
    ``gain`` = log p(x | own z) - mean log p(x | random z) is about 0 nats.

    Returns ``input``, ``own`` (1 x C x H x W) and ``random`` (n_random x C x H x W) pictures, the
    log-likelihoods ``own_log_p`` (float) and ``random_log_p`` (list), and ``gain``, all in nats.
    """
    g = torch.Generator().manual_seed(int(seed))
    x = model.likelihood.prepare(x.unsqueeze(0).to(model.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        mu, _ = model.encode(x)
        z_random = torch.randn(n_random, mu.shape[-1], generator=g).to(model.device)
        h = model.decode(torch.cat([mu, z_random]))  # the own code first, then the random ones: one batch
        log_p = model.likelihood.log_prob(h, x.expand(1 + n_random, *x.shape[1:]))  # (1 + n_random,)
        pictures = model.likelihood.mean(h).cpu()  # an autoregressive decoder draws every picture at once
    own_log_p, random_log_p = log_p[0], log_p[1:]
    return {"input": x.cpu(), "own": pictures[:1], "random": pictures[1:], "own_log_p": own_log_p.item(),
            "random_log_p": random_log_p.tolist(), "gain": (own_log_p - random_log_p.mean()).item()}


def compare_pair(reports: dict, active: dict, elbo: dict) -> str:
    """What the collapsing run and its cure show, in Markdown: ``reports`` (name -> CollapseReport, the
    collapsing run first), ``active`` (name -> active units) and ``elbo`` (name -> held-out ELBO, nats)."""
    (name, base), (cure, cured) = reports.items()
    if base.fully_collapsed:
        first = (f"**{name}** has collapsed: every dimension's KL is below {base.threshold:g} nats and "
                 f"{active[name]} units are active. The encoder returns the prior for every image, so the run sits "
                 "on the rate = 0 axis of the plane: the PixelCNN models the digits alone, and any information put "
                 "in z would cost more KL than it saves in reconstruction.")
    else:
        first = (f"**{name}** still uses {base.n_used} of {len(base.kl_per_dim)} dimensions (KL above "
                 f"{base.threshold:g} nats): it has not collapsed (yet). Early in training it often does so within "
                 "a few hundred steps.")
    if cured.fully_collapsed:
        second = (f"**{cure}** collapsed too: this cure did not keep z in use with a decoder this strong. Annealing "
                  "only delays the KL pressure; once β is back at 1 nothing holds z open. Try free bits.")
    else:
        better = "a better" if elbo[cure] > elbo[name] else "a worse"
        second = (f"**{cure}** keeps {cured.n_used} dimension(s) above the threshold and {active[cure]} active "
                  "units: it pays a rate (KL) to the right of the collapsed run for a lower distortion. Its ELBO is "
                  f"{elbo[cure]:.2f} nats against {elbo[name]:.2f}: {better} bound (dotted lines: equal ELBO). A cure "
                  "buys a code that means something, not necessarily a higher ELBO.")
    return f"{first}\n\n{second}"
