"""Evaluation and diagnostics, all per example in nats.

``evaluate(model, dataset)`` returns, for a latent-variable model:

- ``elbo`` = -(recon + kl): the evidence lower bound on log p(x) (β plays no part here);
- ``recon`` = -E_q[log p(x | z)] and ``kl`` = KL(q(z | x) || p(z)), with ``kl_per_dim`` (a list, D);
- ``active_units``: dimensions whose posterior mean moves with x, Cov_x(E_q[z_d]) > 0.01
  (Burda et al. 2016, "Importance Weighted Autoencoders", Sec. 5.2);
- ``mutual_information``: E[log q(z|x) - log q(z)] over the evaluated set (see objectives.mutual_information);
- ``nll_iwae``: -log of the importance-weighted bound with K samples (Burda et al., Eq. 8); nll_iwae <= -elbo.

For an autoregressive model (no latent code) it returns ``nll`` and ``bits_per_dim``.
Evaluation draws its noise from ``seed`` without touching the caller's random state, so the same
model and data always give the same numbers.
"""

from __future__ import annotations

import math

import torch

from genlib.objectives import iwae_bound, mutual_information, nats_to_bits_per_dim

ACTIVE_THRESHOLD = 0.01  # Burda et al.'s covariance threshold for an active unit


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> tuple[int, torch.Tensor]:
    """How many dimensions of the posterior means ``mu`` (N x D) vary across the data, and the variances."""
    variance = mu.var(dim=0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    return int((variance > threshold).sum()), variance


def is_latent_model(model) -> bool:
    return hasattr(model, "encode") and hasattr(model, "log_importance_weights")


@torch.no_grad()
def evaluate(model, dataset, *, k: int = 50, max_examples: int | None = 2000, batch_size: int = 500,
             seed: int = 0) -> dict:
    """Evaluate ``model`` on (up to ``max_examples`` of) ``dataset``; nats per example."""
    if k < 1:
        raise ValueError("k, the number of importance samples, must be >= 1")
    x_all = dataset.x if max_examples is None else dataset.x[:max_examples]
    if len(x_all) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    device = model.device
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if is_latent_model(model):
                return _evaluate_latent(model, x_all, k, batch_size, device)
            return _evaluate_autoregressive(model, x_all, batch_size, device)
    finally:
        model.train(was_training)


def _evaluate_latent(model, x_all, k, batch_size, device) -> dict:
    recon, kl, kl_dims, iwae, mus, logvars, zs = [], [], [], [], [], [], []
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size].to(device)
        terms = model.loss(x)
        recon.append(terms["recon"])
        kl.append(terms["kl"])
        kl_dims.append(terms["kl_per_dim"])
        x_prepared = model.likelihood.prepare(x)
        iwae.append(iwae_bound(model.log_importance_weights(x_prepared, k)))
        mu, logvar = model.encode(x_prepared)
        mus.append(mu)
        logvars.append(logvar)
        zs.append(mu + torch.randn_like(mu) * (0.5 * logvar).exp())
    recon, kl, iwae = torch.cat(recon), torch.cat(kl), torch.cat(iwae)
    mu, logvar, z = torch.cat(mus), torch.cat(logvars), torch.cat(zs)
    n_active, _ = active_units(mu)
    return {
        "elbo": -(recon + kl).mean().item(),
        "recon": recon.mean().item(),
        "kl": kl.mean().item(),
        "kl_per_dim": torch.cat(kl_dims).mean(0).tolist(),
        "active_units": n_active,
        "mutual_information": mutual_information(mu, logvar, z).item(),
        "nll_iwae": -iwae.mean().item(),
        "n_examples": len(x_all),
        "iwae_samples": k,
        "unit": model.likelihood.unit(model.data_shape),
    }


def _evaluate_autoregressive(model, x_all, batch_size, device) -> dict:
    nll = torch.cat([model.loss(x_all[s : s + batch_size].to(device))["nll"] for s in range(0, len(x_all), batch_size)])
    mean = nll.mean().item()
    return {"nll": mean, "bits_per_dim": nats_to_bits_per_dim(mean, math.prod(model.data_shape)),
            "n_examples": len(x_all), "unit": "nats per image"}
