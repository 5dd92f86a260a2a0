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

import numpy as np
import torch

from genlib.distributions import LOG_2PI
from genlib.objectives import MI_CHUNK, iwae_bound, log_q_matrix, mutual_information, nats_to_bits_per_dim
from genlib.priors import prior_of

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


# ------------------------------------------------------------------------------------ disentanglement

MIG_BINS = 20  # histogram bins per latent dimension, as in disentanglement_lib's MIG


def _discrete(values) -> np.ndarray:
    """(N, K) tensor or array -> (N, K) int labels 0..levels-1 per column."""
    values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    return np.stack([np.unique(col, return_inverse=True)[1] for col in values.T], axis=1)


def _histogram_discretize(codes, bins: int) -> np.ndarray:
    """Each latent dimension cut into ``bins`` equal-width bins over its range: (N, D) ints."""
    codes = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be N x D, got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise ValueError("the codes contain NaN or infinite values")
    return np.stack([np.digitize(col, np.histogram(col, bins)[1][:-1]) for col in codes.T], axis=1)


def factor_mutual_information(codes, factors, *, bins: int = MIG_BINS, normalized: bool = False) -> np.ndarray:
    """I(z_d; v_k) between each latent dimension (codes N x D, usually posterior means, histogrammed into
    ``bins``) and each ground-truth factor (factors N x F, discrete): (D, F), nats.

    ``normalized=True`` divides column k by the factor's entropy H(v_k), so 1 means z_d determines v_k
    (a constant factor, H = 0, gives a column of NaN). Plug-in estimates: they are biased upward by
    about (bins - 1)(levels - 1) / 2N nats, so independent variables give small positive values.
    """
    from sklearn.metrics import mutual_info_score

    z, v = _histogram_discretize(codes, bins), _discrete(factors)
    if len(z) != len(v):
        raise ValueError(f"codes ({len(z)}) and factors ({len(v)}) must describe the same examples")
    mi = np.array([[mutual_info_score(v[:, k], z[:, d]) for k in range(v.shape[1])] for d in range(z.shape[1])])
    if normalized:
        entropy = np.array([mutual_info_score(v[:, k], v[:, k]) for k in range(v.shape[1])])
        with np.errstate(divide="ignore", invalid="ignore"):
            mi = np.where(entropy > 0, mi / np.where(entropy > 0, entropy, 1.0), np.nan)
    return mi


def mig_per_factor(codes, factors, *, bins: int = MIG_BINS) -> np.ndarray:
    """The mutual information gap of each factor: (I(z_a; v_k) - I(z_b; v_k)) / H(v_k), with z_a and z_b
    the two dimensions most informative about v_k: (F,), in [0, 1]; NaN for a constant factor.

    Eq. 6 of Chen et al. (2018), "Isolating Sources of Disentanglement in Variational Autoencoders".
    """
    normalized = factor_mutual_information(codes, factors, bins=bins, normalized=True)  # (D, F)
    top = -np.sort(-normalized, axis=0)  # each column in decreasing order (NaN columns stay NaN)
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    return top[0] - second


def mig(codes, factors, *, bins: int = MIG_BINS) -> float:
    """The mutual information gap (Chen et al. 2018, Eq. 6): the mean of ``mig_per_factor`` over the
    factors that vary. About 1 when each factor is captured by exactly one latent dimension, near 0 when
    no dimension stands out (an entangled or uninformative code)."""
    gaps = mig_per_factor(codes, factors, bins=bins)
    if np.isnan(gaps).all():
        raise ValueError("every factor is constant on these examples: MIG is undefined")
    return float(np.nanmean(gaps))


# ------------------------------------------------------------------------------------------ ELBO surgery


def _log_aggregate(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log q(z_i) and log q(z_id) per dimension, with q the aggregate posterior 1/N Σ_n q(z | x_n) of all N
    posteriors (mu, logvar: N x D) at the codes z (M x D): (M,) in float64 (by matrix products) and (M, D)
    (an M x N x D log-sum-exp, in the codes' precision: it is most of the cost), rows in chunks."""
    n = mu.shape[0]
    joint, marginals = [], []
    inv_var = torch.exp(-logvar)
    for start in range(0, len(z), MI_CHUNK):
        zc = z[start : start + MI_CHUNK]  # (M', D)
        joint.append(torch.logsumexp(log_q_matrix(zc, mu, logvar), dim=1) - math.log(n))
        per_dim = -0.5 * (LOG_2PI + logvar + (zc[:, None, :] - mu).pow(2) * inv_var)  # (M', N, D)
        marginals.append(torch.logsumexp(per_dim, dim=1).double() - math.log(n))
    return torch.cat(joint), torch.cat(marginals)


@torch.no_grad()
def kl_decomposition(model, dataset, *, max_examples: int | None = 2000, samples: int = 4,
                     batch_size: int = 500, seed: int = 0) -> dict:
    """ELBO surgery (Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the variational
    evidence lower bound", Eq. 3): the average KL term splits exactly into

        E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)),   q(z) = 1/N Σ_n q(z | x_n),

    with x uniform over the N examples evaluated. Returns nats per example: ``kl``, ``mutual_information``
    (I_q(x; z) = E_x E_q(z|x)[log q(z|x) - log q(z)], at most log N), ``marginal_kl`` (KL(q(z) || p(z))),
    their sum is ``kl`` exactly (up to rounding), and ``total_correlation`` KL(q(z) || Π_d q(z_d)) (Chen et
    al. 2018, "Isolating Sources of Disentanglement in VAEs", Eq. 2), with ``samples`` codes per example.

    The one Monte-Carlo term is E_q(z)[log q(z)] (with q(z) summed over all N posteriors, not a minibatch);
    E_q(z|x)[log q(z|x)] = -H(q(z|x)) and, for the N(0, I) prior, E_q(z|x)[log p(z)] are closed forms.
    """
    if samples < 1:
        raise ValueError("samples, the codes drawn per example, must be >= 1")
    x_all = dataset.x if max_examples is None else dataset.x[:max_examples]
    if len(x_all) < 2:
        raise ValueError("ELBO surgery needs at least 2 examples (q(z) is their mixture)")
    was_training = model.training
    model.eval()
    try:
        mus, logvars = [], []
        for start in range(0, len(x_all), batch_size):
            x = model.likelihood.prepare(x_all[start : start + batch_size].to(model.device))
            mu, logvar = model.encode(x)
            mus.append(mu)
            logvars.append(logvar)
    finally:
        model.train(was_training)
    mu, logvar = torch.cat(mus), torch.cat(logvars)  # (N, D)
    n, d = mu.shape
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    eps = torch.randn((samples, n, d), generator=gen, device=mu.device, dtype=mu.dtype)
    z = (mu + (0.5 * logvar).exp() * eps).reshape(samples * n, d)  # (S * N, D): S codes per example
    log_qz, log_qz_dims = _log_aggregate(z, mu, logvar)
    neg_entropy = -0.5 * (d * (1 + LOG_2PI) + logvar.double().sum(1)).mean()  # E_x E_q[log q(z|x)]
    prior = prior_of(model)
    if getattr(prior, "name", None) == "gaussian" and torch.all(prior.means == 0) and torch.all(prior.stds == 1):
        log_pz = -0.5 * (d * LOG_2PI + (mu.double().pow(2) + logvar.double().exp()).sum(1)).mean()  # E[log p(z)]
    else:
        log_pz = prior.log_prob(z).double().mean()
    mean_log_qz = log_qz.mean()
    return {"kl": (neg_entropy - log_pz).item(), "mutual_information": (neg_entropy - mean_log_qz).item(),
            "marginal_kl": (mean_log_qz - log_pz).item(),
            "total_correlation": (log_qz - log_qz_dims.sum(1)).mean().item(),
            "n_examples": n, "samples": samples, "unit": "nats per example"}
