"""umap-learn is a requirement: the UMAP projection is UMAP, not a silent fallback, and importing genlib does not
import it (numba's start-up is paid only when a page asks for UMAP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from genlib import projections

ROOT = Path(__file__).resolve().parent.parent


def test_umap_is_installed_and_pinned():
    assert projections.available("umap"), "umap-learn is in requirements.txt: install the requirements"
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    import numba
    import umap

    assert pins["umap-learn"] == umap.__version__ and pins["numba"] == numba.__version__


def test_umap_projects_like_umap_and_not_like_pca():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.1, (40, 6)), rng.normal(3, 0.1, (40, 6))])  # two tight clusters
    xy = projections.project(z, "umap", seed=0)
    assert xy.shape == (80, 2) and np.isfinite(xy).all()
    assert not np.allclose(xy, projections.project(z, "pca", seed=0))
    a, b = xy[:40], xy[40:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max()), "UMAP keeps the two clusters apart"


def test_importing_genlib_and_its_projections_does_not_import_umap():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys, genlib.projections, genlib.models; print('umap' in sys.modules or 'numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-500:]
