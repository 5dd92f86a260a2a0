"""The notes' MI loss as an objective: a VAE that also rewards the mutual information between x and z,

    loss = -E_q[log p(x | z)] + β(step) · KL(q(z | x) || p(z)) - γ · Î(x; z)

per example in nats, averaged over the batch; Î(x; z) = mean_b [log q(z_b | x_b) - log q(z_b)] is the
minibatch estimator of ``genlib.objectives.mutual_information``, with q(z) the batch's aggregate
posterior (Hoffman & Johnson 2016, "ELBO surgery"): one number per batch, at most log B nats.

Since E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z)), the weight γ takes back part of what the KL
term charges for information: with β = 1 and γ = 1 only KL(q(z) || p(z)) is left to pay, which is the
InfoVAE objective with α = 1 and the KL divergence in place of MMD (Zhao et al. 2019, Eq. 6). γ = 0 is the
VAE, to the bit (no Î is computed). γ > β makes information free to grow, and the estimator's ceiling
log B is then where I(x; z) stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genlib.models.vae import VAE, VAEConfig
from genlib.objectives import mutual_information


@dataclass
class MIVAEConfig(VAEConfig):
    gamma: float = 1.0  # γ: weight of the reward -γ · Î(x; z); 0 is the VAE; must be >= 0

    def __post_init__(self):
        super().__post_init__()
        self.gamma = float(self.gamma)
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"γ must be a finite number >= 0 (γ < 0 would penalise information), got {self.gamma}")


class MIVAE(VAE):
    Config = MIVAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 4, "hidden": (64,), "gamma": 1.0}

    def regularizer(self, kl_per_dim, mu, logvar, z, beta: float) -> dict:
        """β · KL per example, and -γ · Î(x; z) once per batch (the notes' estimator), as two parts."""
        parts = {"β·KL": super().regularizer(kl_per_dim, mu, logvar, z, beta)}
        if self.config.gamma != 0:
            parts["-γ·I(x;z)"] = -self.config.gamma * mutual_information(mu, logvar, z)
        return parts
