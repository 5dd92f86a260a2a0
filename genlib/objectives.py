"""Objectives as pure tensor functions: likelihoods, MMD, the mutual-information estimator, IWAE.

Every function returns per-example (B,) or per-dimension values; models reduce them in one place.

Likelihoods (what "nats per image" means):

- ``bernoulli``: the image is binarised at 0.5 and modelled as independent Bernoulli pixels; the
  number is -log p(binarised image), a true discrete NLL in nats per image.
- ``categorical``: each pixel's gray level (``levels`` of them: 17 for digits, 256 for MNIST) is a
  K-way categorical; -log p(image) in nats per image of the quantised data, with no binarisation.
- ``gaussian``: for 2-D points; a diagonal Gaussian with a mean and log-variance per coordinate.
  This is a density, so its "nats per point" can be negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genlib.distributions import LOG_2PI

# ------------------------------------------------------------------------------------------ likelihoods


@dataclass(frozen=True)
class Likelihood:
    """How a decoder's outputs define p(x | z). ``n_params`` numbers are decoded per data value."""

    name: str
    n_params: int
    levels: int | None = None

    @property
    def discrete(self) -> bool:
        return self.name != "gaussian"

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The data as this likelihood models it (binarised, quantised, or as is)."""
        if self.name == "bernoulli":
            return (x > 0.5).to(x.dtype)
        if self.name == "categorical":
            return torch.round(x.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
        return x

    def unflatten(self, h: torch.Tensor, data_shape: tuple[int, ...]) -> torch.Tensor:
        """(B, n_params * prod(shape)) -> x_logits: (B, *shape) for one parameter, (B, n_params, *shape) else."""
        if self.n_params == 1:
            return h.reshape(h.shape[0], *data_shape)
        return h.reshape(h.shape[0], self.n_params, *data_shape)

    def log_prob(self, x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | decoder output), summed over every data value: (B,) in nats per example.

        ``x`` must already be ``prepare``d. The leading dims of ``x_logits`` may add a sample axis
        in front of B (K x B x ...), as IWAE needs.
        """
        if self.name == "bernoulli":
            per_value = -F.binary_cross_entropy_with_logits(x_logits, x.expand_as(x_logits), reduction="none")
        elif self.name == "categorical":
            param_axis = x_logits.dim() - x.dim()  # the axis after the batch axis (or sample + batch)
            target = torch.round(x * (self.levels - 1)).long().expand(*x_logits.shape[:param_axis], *x.shape[1:])
            log_p = torch.log_softmax(x_logits, dim=param_axis)
            per_value = log_p.gather(param_axis, target.unsqueeze(param_axis)).squeeze(param_axis)
        else:
            mean, logvar = x_logits.unbind(dim=x_logits.dim() - x.dim())
            logvar = logvar.clamp(-9.0, 6.0)
            per_value = -0.5 * (LOG_2PI + logvar + (x - mean).pow(2) / logvar.exp())
        lead = x_logits.dim() - (x.dim() - 1) - (0 if self.n_params == 1 else 1)  # batch (and sample) axes
        return per_value.flatten(lead).sum(-1)

    def mean(self, x_logits: torch.Tensor) -> torch.Tensor:
        """E[x | z], shaped like the data: what a reconstruction or a sample's picture shows."""
        if self.name == "bernoulli":
            return torch.sigmoid(x_logits)
        if self.name == "categorical":
            values = torch.linspace(0, 1, self.levels, device=x_logits.device).view(1, -1, *[1] * (x_logits.dim() - 2))
            return (torch.softmax(x_logits, dim=1) * values).sum(1)
        return x_logits[:, 0]

    def sample(self, x_logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of x ~ p(x | z)."""
        if self.name == "bernoulli":
            p = torch.sigmoid(x_logits)
            return (torch.rand(p.shape, generator=generator, device=p.device) < p).to(p.dtype)
        if self.name == "categorical":
            probs = torch.softmax(x_logits, dim=1).movedim(1, -1)
            flat = torch.multinomial(probs.reshape(-1, self.levels), 1, generator=generator)
            return flat.reshape(probs.shape[:-1]).to(x_logits.dtype) / (self.levels - 1)
        mean, logvar = x_logits.unbind(1)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        return mean + (0.5 * logvar.clamp(-9.0, 6.0)).exp() * eps

    def unit(self, data_shape: tuple[int, ...]) -> str:
        return "nats per image" if len(data_shape) == 3 else "nats per point (a density)"

    def describe(self) -> str:
        return {
            "bernoulli": "Bernoulli over the image binarised at 0.5",
            "categorical": f"categorical over {self.levels} gray levels per pixel",
            "gaussian": "diagonal Gaussian density per coordinate",
        }[self.name]


LIKELIHOODS = ("bernoulli", "categorical", "gaussian")


def likelihood(name: str, levels: int | None = None) -> Likelihood:
    """The likelihood called ``name``; ``categorical`` needs the data's number of gray ``levels``."""
    if name == "bernoulli":
        return Likelihood("bernoulli", 1)
    if name == "categorical":
        if not levels or levels < 2:
            raise ValueError("the categorical likelihood needs levels >= 2 (17 for digits, 256 for MNIST)")
        return Likelihood("categorical", int(levels), int(levels))
    if name == "gaussian":
        return Likelihood("gaussian", 2)
    raise ValueError(f"unknown likelihood {name!r}; choose one of {LIKELIHOODS}")


def nats_to_bits_per_dim(nats: float | torch.Tensor, n_dims: int):
    """Convert nats per example to bits per dimension: divide by D * ln 2."""
    return nats / (n_dims * math.log(2))


# ------------------------------------------------------------------------------------------------ MMD

KERNELS = ("imq", "rbf")


def kernel_matrix(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", bandwidth: float = 1.0,
                  scales: tuple[float, ...] = (1.0,)) -> torch.Tensor:
    """k(x_i, y_j) summed over bandwidth scales: (N, M).

    With h = 2 * D * (bandwidth * s)^2 for each scale s (D the dimension, as in Tolstikhin et al.'s WAE):
    inverse multiquadric k = h / (h + |x - y|^2), RBF k = exp(-|x - y|^2 / h).
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    if bandwidth <= 0 or any(s <= 0 for s in scales):
        raise ValueError("bandwidth and scales must be > 0")
    # exact differences, not the |x|^2 + |y|^2 - 2 x.y shortcut, which leaves k(x, x) visibly below k(0)
    # when the bandwidth is small; for the batch sizes and code sizes here the cost is the same
    d2 = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    total = torch.zeros_like(d2)
    for s in scales:
        h = 2.0 * x.shape[-1] * (bandwidth * s) ** 2
        total = total + (h / (h + d2) if kernel == "imq" else torch.exp(-d2 / h))
    return total


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", *, bandwidth: float = 1.0,
        scales: tuple[float, ...] = (1.0,), unbiased: bool = True) -> torch.Tensor:
    """Squared maximum mean discrepancy between samples x (N x D) and y (M x D) (Gretton et al. 2012).

    The unbiased estimate (Lemma 6) drops the i = j terms of the within-sample sums:
    MMD_u^2 = sum_{i!=j} k(x_i,x_j)/(N(N-1)) + sum_{i!=j} k(y_i,y_j)/(M(M-1)) - 2 mean k(x_i,y_j).
    It is an average of unbiased U-statistics, so its expectation is the true MMD^2 >= 0, but a single
    estimate can be negative: when p = q the true value is 0 and the estimate scatters around it.
    The biased estimate (``unbiased=False``, Eq. 5) keeps the diagonal and is always >= 0, but it is
    inflated by about (E k(x,x) - E k(x,x')) (1/N + 1/M).
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be N x D and M x D, got {tuple(x.shape)} and {tuple(y.shape)}")
    n, m = x.shape[0], y.shape[0]
    kxx = kernel_matrix(x, x, kernel, bandwidth, scales)
    kyy = kernel_matrix(y, y, kernel, bandwidth, scales)
    kxy = kernel_matrix(x, y, kernel, bandwidth, scales)
    if not unbiased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    if n < 2 or m < 2:
        raise ValueError("the unbiased MMD needs at least two samples on each side")
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean()


def mmd_terms(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", *, bandwidth: float = 1.0,
              scales: tuple[float, ...] = (1.0,)) -> dict:
    """The pieces of MMD^2 for a picture: the kernel matrix of the stacked samples [x; y] ((N+M) x (N+M)),
    the three block means off the diagonal (``xx``, ``yy``) and across (``xy``), and both estimates."""
    both = torch.cat([x, y])
    k = kernel_matrix(both, both, kernel, bandwidth, scales)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return {"kernel_matrix": k,
            "xx": ((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))).item(),
            "yy": ((kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))).item(),
            "xy": kxy.mean().item(),
            "unbiased": mmd(x, y, kernel, bandwidth=bandwidth, scales=scales).item(),
            "biased": mmd(x, y, kernel, bandwidth=bandwidth, scales=scales, unbiased=False).item()}


def mmd_across_bandwidths(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq",
                          bandwidths=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)) -> dict:
    """The biased and unbiased MMD^2 of x and y at each single bandwidth: ``{"bandwidth", "biased",
    "unbiased"}`` as lists. Too small a bandwidth sees every point as alone (k ~ 0 off the diagonal):
    the unbiased estimate falls to 0 and the biased one to the diagonal's floor, about k(0)(1/N + 1/M).
    Too large a one sees all points as one (k ~ constant): both fall to 0. The test has power in between."""
    out = {"bandwidth": [float(b) for b in bandwidths], "biased": [], "unbiased": []}
    for b in out["bandwidth"]:
        out["biased"].append(mmd(x, y, kernel, bandwidth=b, unbiased=False).item())
        out["unbiased"].append(mmd(x, y, kernel, bandwidth=b).item())
    return out


# ----------------------------------------------------------------------------------- mutual information


def log_q_matrix(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i | x_j) for every code z_i (N x D) and posterior j (B x D): (N, B), summed over D,
    computed in float64 with matrix products."""
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    inv_var = torch.exp(-logvar)  # (B, D)
    # sum_d (z_id - mu_jd)^2 / var_jd = z^2 @ (1/var)^T - 2 z @ (mu/var)^T + sum_d mu_jd^2 / var_jd
    quad = z.pow(2) @ inv_var.T - 2 * z @ (mu * inv_var).T + (mu.pow(2) * inv_var).sum(1)
    return -0.5 * (z.shape[1] * LOG_2PI + logvar.sum(1) + quad.clamp_min(0))


MI_CHUNK = 512  # rows of the B x B matrix of log q(z_i | x_j) held at once


def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The minibatch estimate of I(x; z) under q: mean_i [log q(z_i | x_i) - log q(z_i)], in nats.

    ``z_i ~ q(z | x_i)``; the aggregate posterior q(z) = 1/B sum_j q(z | x_j) is estimated on the same
    minibatch with a stable log-sum-exp (Hoffman & Johnson 2016, "ELBO surgery"; as used by He et al.
    2019 and Fu et al. 2019 to watch posterior collapse). The aggregate is estimated from the same B
    codes, so the estimate is biased: it is the InfoNCE bound with critic q(z | x) (Poole et al. 2019,
    "On Variational Bounds of Mutual Information"), below I(x; z) on average, and it can never
    exceed log B, the most a batch of B codes can tell apart. Float64 inside, rows in chunks: finite and
    memory-bounded at any batch size.
    """
    if not (mu.shape == logvar.shape == z.shape) or z.dim() != 2:
        raise ValueError("mu, logvar and z must all be B x D")
    b = z.shape[0]
    total = torch.zeros((), dtype=torch.float64, device=z.device)
    for start in range(0, b, MI_CHUNK):  # rows in chunks: memory stays MI_CHUNK x B, whatever B is
        log_q = log_q_matrix(z[start : start + MI_CHUNK], mu, logvar)  # row i, column j = log q(z_i | x_j)
        log_q_own = log_q.diagonal(offset=start)  # log q(z_i | x_i)
        total = total + (log_q_own - torch.logsumexp(log_q, dim=1)).sum()
    return (total / b + math.log(b)).to(mu.dtype)  # log q(z_i) = logsumexp_j log q(z_i | x_j) - log B


# -------------------------------------------------------------------------------------------- IWAE


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2016, Eq. 8) from K x B log weights:
    log (1/K) sum_k w_k, per example (B,). It rises toward log p(x) as K grows."""
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


# ----------------------------------------------------------------------------------- adversarial


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a discriminator that calls ``real`` 1 and ``fake`` 0: (B,) per pair."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), reduction="none")
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none"))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(fake) (Goodfellow et al. 2014, Sec. 3): (B,)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="none")
