"""2-D projections of latent codes for plotting: PCA (numpy), t-SNE and UMAP (thin scikit-learn / umap-learn wrappers).

- ``pca``: the top two principal axes (Pearson 1901); linear, so distances along an axis mean something.
- ``tsne``: t-SNE (van der Maaten & Hinton 2008, "Visualizing Data using t-SNE"), Barnes-Hut, initialised
  from PCA (so its result does not even depend on the seed); keeps neighbourhoods, not distances or
  cluster sizes.
- ``umap``: UMAP (McInnes et al. 2018); only where the optional package ``umap-learn`` is installed.

Every method is seeded: the same codes, method and seed give the same picture. Caching across page
visits is the app's job (``st.cache_data`` around ``project``); this module keeps no state.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

METHODS = ("pca", "tsne", "umap")
TSNE_PERPLEXITY = 30.0  # van der Maaten & Hinton's usual value; lowered for sets too small for it
UMAP_NEIGHBOURS = 15  # umap-learn's default n_neighbors


class ProjectionUnavailable(RuntimeError):
    """The method exists but cannot run here (UMAP without umap-learn)."""


def available(method: str) -> bool:
    """Whether ``method`` can run in this environment."""
    if method == "umap":
        return importlib.util.find_spec("umap") is not None
    return method in METHODS


def project(z, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project codes ``z`` (N x D, tensor or array) to N x 2 float32 coordinates with ``method``.

    A 1-D code is shown against zeros; a 2-D code is projected like any other (PCA of 2-D data is a rotation).
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    z = z.astype(np.float64, copy=False)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"project needs at least two codes as an N x D array, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("the codes contain NaN or infinite values; the model may have diverged")
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], axis=1).astype(np.float32)
    return _PROJECTORS[method](z, int(seed)).astype(np.float32)


def _pca(z: np.ndarray, seed: int) -> np.ndarray:
    """The centred codes on their top two right singular vectors: scikit-learn's ``PCA(svd_solver="full")``
    (the tests hold it to that), without importing scikit-learn: 1.0-1.2 s on a 2-core machine, on the latent
    space page's first visit."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # exact and deterministic: no randomness
    xy = centred @ vt[:2].T  # (N, 2)
    return xy * _sign_convention(xy)


def _sign_convention(xy: np.ndarray) -> np.ndarray:
    """Flip each axis so its largest |value| is positive: an SVD's signs are otherwise arbitrary."""
    big = xy[np.abs(xy).argmax(axis=0), np.arange(xy.shape[1])]
    return np.where(big < 0, -1.0, 1.0)


def _tsne(z: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(TSNE_PERPLEXITY, max(1.0, (len(z) - 1) / 3))  # must stay below N
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    return tsne.fit_transform(z)


def _umap(z: np.ndarray, seed: int) -> np.ndarray:
    if not available("umap"):
        raise ProjectionUnavailable("UMAP needs the optional package umap-learn, which is not installed here; "
                                    "use PCA or t-SNE (or `pip install umap-learn`)")
    import umap

    neighbours = min(UMAP_NEIGHBOURS, len(z) - 1)
    return umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed).fit_transform(z)


_PROJECTORS = {"pca": _pca, "tsne": _tsne, "umap": _umap}
