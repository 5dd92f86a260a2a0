"""InfoVAE (Zhao, Song & Ermon 2019, "InfoVAE: Balancing Learning and Inference in Variational
Autoencoders"): their InfoVAE objective with the divergence D = MMD (the variant they call MMD-VAE):

    loss = -E_q[log p(x | z)] + (1 - α) · β(step) · KL(q(z | x) || p(z)) + (α + λ - 1) · MMD²(q(z), p(z))

per example in nats (the MMD term is one number per batch, added to every example), averaged over the
batch. α weighs mutual information: the KL term pushes every q(z | x) towards the prior, which drives
I(x; z) down; α = 1 removes it. λ scales the divergence between the aggregate posterior
q(z) = E_x q(z | x) and the prior, measured on the batch's codes against as many prior draws.

Both weights must be >= 0, or the objective rewards the very thing it should penalise: 1 - α >= 0 (α <= 1)
and α + λ - 1 >= 0, with λ > 0. Some public implementations ship α and λ defaults that make α + λ - 1
negative (the loss then *maximises* MMD); the config refuses such settings.

α = 0, λ = 1 is the plain VAE (the MMD weight is exactly 0 and no prior draw is made). ``mmd-vae`` is the
preset α = 1 with a large λ: no KL at all, only MMD (the MMD-VAE tutorial's objective). "Large" is
relative to the reconstruction term: on digits (about 20 nats per image) λ = 10 matches q(z) to the
prior while the codes keep ~5.8 nats of I(x; z); λ = 100 makes the encoder's easiest way out win, every
q(z | x) equal to the prior (MI -> 0, a collapse the MMD term cannot see, since q(z) then is the prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlib.models.vae import VAE, VAEConfig
from genlib.objectives import KERNELS, mmd


@dataclass
class InfoVAEConfig(VAEConfig):
    alpha: float = 0.0  # α: 1 - α weighs the KL term; α = 1 drops it (MMD-VAE); must be <= 1
    lambda_: float = 10.0  # λ: α + λ - 1 weighs MMD(q(z) || p(z)); MMD² is ~0.001-1, so λ is large
    kernel: str = "imq"  # MMD kernel: "imq" (inverse multiquadric, as in WAE) or "rbf"
    bandwidth: float = 1.0  # kernel scale σ: h = 2 · D · σ² (see objectives.kernel_matrix)
    scales: tuple[float, ...] = (0.5, 1.0, 2.0)  # multi-scale: the kernel is summed over σ · s

    def __post_init__(self):
        super().__post_init__()
        self.scales = tuple(float(s) for s in self.scales)
        self.alpha, self.lambda_ = float(self.alpha), float(self.lambda_)
        if not (math.isfinite(self.alpha) and math.isfinite(self.lambda_)):
            raise ValueError(f"alpha and lambda_ must be finite numbers, got α = {self.alpha}, λ = {self.lambda_}")
        if self.alpha > 1:
            raise ValueError(f"α = {self.alpha:g} > 1 makes the KL weight 1 - α = {1 - self.alpha:g} negative: "
                             "the loss would reward posteriors far from the prior. Use α <= 1.")
        if self.lambda_ <= 0:
            raise ValueError(f"λ must be > 0 (Zhao et al. require it), got {self.lambda_:g}")
        if self.alpha + self.lambda_ - 1 < 0:
            raise ValueError(f"α + λ - 1 = {self.alpha + self.lambda_ - 1:g} < 0 makes the MMD weight negative: "
                             f"the loss would push q(z) away from the prior. Use λ >= 1 - α = {1 - self.alpha:g}.")
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}; choose one of {KERNELS}")
        if not (self.bandwidth > 0 and math.isfinite(self.bandwidth)) or not self.scales or min(self.scales) <= 0:
            raise ValueError("bandwidth and every scale must be finite numbers > 0")

    @property
    def kl_weight(self) -> float:
        return 1.0 - self.alpha

    @property
    def mmd_weight(self) -> float:
        return self.alpha + self.lambda_ - 1.0


class InfoVAE(VAE):
    Config = InfoVAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 4, "hidden": (64,), "alpha": 0.5, "lambda_": 50.0}

    def regularizer(self, kl_per_dim, mu, logvar, z, beta: float) -> dict:
        """(1 - α) · β · KL per example, and (α + λ - 1) · MMD²(codes, prior draws) once per batch (Zhao et
        al.'s objective), as the two parts a step's dissection shows."""
        c = self.config
        parts = {"(1-α)·β·KL": c.kl_weight * super().regularizer(kl_per_dim, mu, logvar, z, beta)}
        if c.mmd_weight == 0:
            return parts
        z_prior = torch.randn_like(z)  # (B, D) draws from p(z) = N(0, I)
        divergence = mmd(z, z_prior, c.kernel, bandwidth=c.bandwidth, scales=c.scales)  # unbiased, one per batch
        parts["(α+λ-1)·MMD²"] = c.mmd_weight * divergence
        return parts
