"""The latent space explorer: projection time for the digits test set, the page's cached repeat visit,
and MIG of a VAE against a β = 4 VAE on sprites.

- ``project`` on the 359 test codes of ``vae-digits`` (8-D posterior means), each method timed after the
  imports are warm (median of 3 for PCA and t-SNE, which are deterministic).
- The page (AppTest, same process): a first visit with t-SNE against a repeat visit, which
  ``st.cache_data`` serves without projecting again.
- MIG (Chen et al. 2018) of ``vae-sprites`` and ``beta-vae-sprites`` on the sprites test split (691) and
  on all 3456 sprites (train + test: the plug-in estimate's upward bias shrinks with N).

    python -m bench latent
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import torch

from genlib import latent, pretrained
from genlib.data import load_dataset
from genlib.metrics import mig, mig_per_factor
from genlib.projections import METHODS, available, project

PAGE = Path(__file__).resolve().parent.parent / "pages" / "20_latent_space.py"


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _page_seconds(**params) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    start = time.perf_counter()
    at.run()
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return time.perf_counter() - start


def run() -> list[dict]:
    rows = []
    load = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    mu = latent.encode(pretrained.load("vae-digits"), load_dataset("digits", "test").x).mu.numpy()
    project(mu[:10], "pca")  # warm the scikit-learn imports
    for method in METHODS:
        if not available(method):
            rows.append({"bench": "latent", "figure": f"project {method}", "value": "n/a",
                         "note": "umap-learn not installed"})
            continue
        seconds = _median_seconds(lambda m=method: project(mu, m, seed=0), 3)
        rows.append({"bench": "latent", "figure": f"project {method}, digits test {mu.shape}",
                     "value": f"{seconds * 1000:.1f} ms", "note": f"median of 3; {load}"})

    _page_seconds(model="vae-digits", projection="PCA")  # imports, model and data caches
    first = _page_seconds(model="vae-digits", projection="t-SNE")
    repeat = _page_seconds(model="vae-digits", projection="t-SNE")
    rows.append({"bench": "latent", "figure": "page, t-SNE: first visit / repeat visit",
                 "value": f"{first:.2f} s / {repeat:.2f} s", "note": "repeat served by st.cache_data"})

    test = load_dataset("sprites", "test")
    every = load_dataset("sprites", "train")
    every_x, every_factors = torch.cat([every.x, test.x]), torch.cat([every.factors, test.factors])
    for name in ("vae-sprites", "beta-vae-sprites"):
        model = pretrained.load(name)
        on_test = mig(latent.encode(model, test.x).mu, test.factors)
        mu_all = latent.encode(model, every_x).mu
        gaps = ", ".join(f"{f} {g:.2f}" for f, g in zip(test.factor_names, mig_per_factor(mu_all, every_factors),
                                                          strict=True))
        rows.append({"bench": "latent", "figure": f"MIG {name} (test 691 / all 3456)",
                     "value": f"{on_test:.3f} / {mig(mu_all, every_factors):.3f}", "note": f"per factor (all): {gaps}"})
    return rows
