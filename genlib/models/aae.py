"""The adversarial autoencoder (Makhzani et al. 2016, "Adversarial Autoencoders", Sec. 2).

An autoencoder whose codes are pushed towards a prior p(z) by a discriminator on z instead of a KL
term. Each training step on a batch has three phases, each with its own optimiser:

1. reconstruction: encoder + decoder minimise -log p(x | z), z the code of x (nats per example);
2. regularisation, discriminator: prior draws are "real" (label 1), codes are "fake" (label 0);
   it minimises the binary cross-entropy ``objectives.discriminator_loss``;
3. regularisation, generator: the encoder minimises -log D(code) (``objectives.generator_loss``),
   i.e. it moves the codes where the discriminator believes prior draws lie.

The encoder is the VAE's: ``deterministic`` uses z = mu (Makhzani's main variant), ``stochastic`` draws
z ~ N(mu, exp(logvar)) (their "Gaussian posterior"). Any prior of ``genlib.priors`` works, including the
2-D toy shapes, because the discriminator only needs samples of it.

Evaluation (``genlib.metrics.evaluate``) still works and gives valid bounds on log p(x) under the AAE's
generative model p(z) p(x | z): ``loss`` and ``log_importance_weights`` use the prior's exact density,
and the KL term is the one-sample estimate log q(z|x) - log p(z) (split over dimensions by the chain rule).
For the stochastic encoder q is the encoder's Gaussian. A deterministic encoder has no density, so
evaluation uses the proposal N(mu, proposal_std² I) around its code: any proposal gives a valid lower bound
(ELBO and IWAE), only a looser one. Its ``mutual_information`` and ``kl`` then describe that proposal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlib.distributions import log_normal, reparameterize
from genlib.models.base import detach, optimize
from genlib.models.vae import VAE, VAEConfig
from genlib.nn import MLP, adam
from genlib.objectives import discriminator_loss, generator_loss
from genlib.priors import PRIORS, make_prior

ENCODERS = ("deterministic", "stochastic")


@dataclass
class AAEConfig(VAEConfig):
    """The VAE's settings (its ``beta_schedule`` and ``free_bits`` are unused here) plus these."""

    encoder: str = "deterministic"  # "deterministic" (z = mu) or "stochastic" (z ~ N(mu, exp(logvar)))
    prior: str = "gaussian"  # gaussian, mixture, or a 2-D shape: rings, pinwheel, moons (genlib.priors)
    components: int = 10  # Gaussians in the "mixture" prior
    disc_hidden: tuple[int, ...] = (64, 64)  # discriminator MLP widths (z -> ... -> 1 logit)
    proposal_std: float = 0.1  # deterministic encoder only: width of the evaluation proposal around mu

    def __post_init__(self):
        super().__post_init__()
        self.disc_hidden = tuple(int(h) for h in self.disc_hidden)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.prior not in PRIORS:
            raise ValueError(f"unknown prior {self.prior!r}; choose one of {PRIORS}")
        if not self.disc_hidden or min(self.disc_hidden) < 1:
            raise ValueError(f"disc_hidden must list at least one positive width, got {self.disc_hidden}")
        if not (self.proposal_std > 0 and math.isfinite(self.proposal_std)):
            raise ValueError(f"proposal_std must be a finite number > 0, got {self.proposal_std}")


class AAE(VAE):
    Config = AAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 2, "hidden": (64,), "disc_hidden": (32,)}

    def __init__(self, data_shape: tuple[int, ...], config: AAEConfig):
        super().__init__(data_shape, config)
        self.prior = make_prior(config.prior, config.latent_dim, components=config.components)
        self.discriminator = MLP(config.latent_dim, config.disc_hidden, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = super().encode(x)
        if self.config.encoder == "deterministic":  # the evaluation proposal around the code
            logvar = torch.full_like(mu, 2 * math.log(self.config.proposal_std))
        return mu, logvar

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """z for a prepared batch x: mu (deterministic) or one draw of q(z | x) (stochastic): (B, D)."""
        mu, logvar = self.encode(x)
        return mu if self.config.encoder == "deterministic" else reparameterize(mu, logvar)

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        """D(z): the discriminator's probability that z is a prior draw, (B,)."""
        return torch.sigmoid(self.discriminator(z)).squeeze(-1)

    # ------------------------------------------------------------------ training: three optimisers

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        autoencoder = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return [adam(autoencoder, lr), adam(self.discriminator.parameters(), lr), adam(self.encoder.parameters(), lr)]

    def training_step(self, x: torch.Tensor, step: int, optimizers: list[torch.optim.Optimizer]) -> dict:
        ae_opt, disc_opt, gen_opt = optimizers
        x = self.likelihood.prepare(x)
        terms = self.reconstruction_phase(x, ae_opt)
        terms.update(self.discriminator_phase(x, disc_opt))
        terms.update(self.encoder_phase(x, gen_opt))
        return terms

    def reconstruction_phase(self, x: torch.Tensor, optimizer) -> dict:
        """1. encoder + decoder take one step on -log p(x | z) of the prepared batch x."""
        recon = -self.likelihood.log_prob(self.decode(self.codes(x)), x)  # (B,) nats per example
        optimize(optimizer, recon.mean())
        return detach({"loss": recon.mean(), "recon": recon})

    def discriminator_phase(self, x: torch.Tensor, optimizer) -> dict:
        """2. the discriminator takes one step at telling prior draws (real) from the codes of x (fake)."""
        z_fake = self.codes(x).detach()
        z_real = self.prior.sample(len(x))
        disc = discriminator_loss(self.discriminator(z_real), self.discriminator(z_fake)).squeeze(-1)  # (B,)
        optimize(optimizer, disc.mean())
        with torch.no_grad():
            return {"disc_loss": disc.detach(), "d_real": self.discriminate(z_real),
                    "d_fake": self.discriminate(z_fake)}

    def encoder_phase(self, x: torch.Tensor, optimizer) -> dict:
        """3. the encoder takes one step at fooling the discriminator (non-saturating loss -log D(code))."""
        gen = generator_loss(self.discriminator(self.codes(x))).squeeze(-1)  # (B,)
        optimize(optimizer, gen.mean())
        return detach({"gen_loss": gen})

    def code_pushes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The codes of x (μ(x), the mean for a stochastic encoder) and, for each, -d(-log D(z))/dz there: the
        direction the encoder's loss pushes that code (GAN Lab's generator gradient). Both (B, D); nothing
        is trained."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                z = self.encode(self.likelihood.prepare(x.to(self.device)))[0]
            z.requires_grad_(True)
            gen = generator_loss(self.discriminator(z)).sum()  # a sum: each code's gradient is its own
            (grad,) = torch.autograd.grad(gen, z)
        finally:
            self.train(was_training)
        return z.detach(), -grad


    # ------------------------------------------------------------------ evaluation under p(z) p(x | z)

    def loss(self, x: torch.Tensor, step: int = 0) -> dict:
        """The negative ELBO with the AAE's prior, for evaluation (training uses ``training_step``)."""
        x = self.likelihood.prepare(x)
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        recon = -self.likelihood.log_prob(self.decode(z), x)
        kl_per_dim = log_normal(z, mu, logvar) - self.prior.log_prob_per_dim(z)  # (B, D) one-sample estimate
        kl = kl_per_dim.sum(1)
        return {"loss": (recon + kl).mean(), "recon": recon, "kl": kl, "elbo": -(recon + kl),
                "kl_per_dim": kl_per_dim}

    def loss_parts(self, x: torch.Tensor, step: int = 0) -> tuple[dict, dict]:
        terms = self.loss(x, step)
        return terms, {"recon": terms["recon"].mean(), "KL (one sample)": terms["kl"].mean()}

    def log_importance_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) with the AAE's prior: (K, B). ``x`` is prepared."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))  # (K, B, D)
        log_prior = self.prior.log_prob(z.flatten(0, 1)).view(z.shape[:2])
        return self.likelihood.log_prob(self.decode(z), x) + log_prior - log_normal(z, mu, logvar).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n decoded draws of the AAE's prior, as the likelihood's mean."""
        return self.likelihood.mean(self.decode(self.prior.sample(n, generator)))


PHASES = ("discriminator", "encoder")


def manual_phase(run, phase: str, seed: int = 0) -> dict:
    """One optimiser step of one adversarial phase of an AAE ``TrainingRun``, by hand (GAN Lab's manual step):
    ``"discriminator"`` or ``"encoder"``, on a batch of the run's data drawn from ``seed``. It changes the
    run's weights without counting a step; the run's own batch order and noise are untouched. Returns the
    phase's terms as batch means."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    model = run.model
    order = torch.randperm(len(run.x), generator=torch.Generator().manual_seed(int(seed)))
    x = model.likelihood.prepare(run.x[order[: run.batch_size].to(run.x.device)])
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if phase == "discriminator":
            terms = model.discriminator_phase(x, run.optimizers[1])
        else:
            terms = model.encoder_phase(x, run.optimizers[2])
    return {key: float(value.mean()) for key, value in terms.items()}


@torch.no_grad()
def decision_surface(model: AAE, limit: float = 3.5, n: int = 60):
    """The discriminator's D(z) on an n x n grid over [-limit, limit]^2 of a 2-D code space:
    (xs, ys, probabilities with rows along y), as numpy. 1 = "looks like a prior draw"."""
    from genlib.priors import grid_2d

    if model.config.latent_dim != 2:
        raise ValueError(f"the decision surface is drawn for a 2-D code; this model has {model.config.latent_dim}")
    xs, ys, points = grid_2d(limit, n)
    was_training = model.training
    model.eval()
    try:
        probs = model.discriminate(points.to(model.device)).reshape(n, n).cpu().numpy()
    finally:
        model.train(was_training)
    return xs, ys, probs
