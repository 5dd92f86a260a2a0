"""genlib.projections: shapes, seeded determinism, PCA against an SVD reference, clear errors."""

import numpy as np
import pytest
import torch

from genlib.projections import METHODS, ProjectionUnavailable, available, project


@pytest.fixture(scope="module")
def codes():
    """Three well separated Gaussian blobs in 6-D (60 codes)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 6))
    return np.concatenate([c + rng.normal(0, 0.3, (20, 6)) for c in centres]).astype(np.float32)


@pytest.mark.parametrize("method", [m for m in METHODS if available(m)])
def test_projection_is_n_by_2_and_the_same_for_the_same_seed(codes, method):
    xy = project(codes, method, seed=3)
    assert xy.shape == (60, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, project(torch.from_numpy(codes), method, seed=3))  # tensor or array


def test_tsne_keeps_the_blobs_apart(codes):
    a = project(codes, "tsne", seed=0)
    centres = np.stack([a[i * 20:(i + 1) * 20].mean(0) for i in range(3)])
    spread = max(np.linalg.norm(a[i * 20:(i + 1) * 20] - centres[i], axis=1).mean() for i in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)]
    assert min(gaps) > 2 * spread


def test_pca_spans_the_top_two_principal_axes(codes):
    centred = codes.astype(np.float64) - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T  # independent reference, signs arbitrary
    xy = project(codes, "pca")
    for k in range(2):
        assert abs(np.corrcoef(xy[:, k], reference[:, k])[0, 1]) == pytest.approx(1.0, abs=1e-6)
    assert (xy[np.abs(xy).argmax(0), [0, 1]] > 0).all(), "signs are fixed: each axis's largest value is positive"


@pytest.mark.parametrize("shape", [(60, 8), (359, 8), (5, 3), (40, 2)])
def test_pca_is_scikit_learns_pca_up_to_each_axis_sign(shape):
    from sklearn.decomposition import PCA

    z = np.random.default_rng(shape[0]).normal(size=shape) * np.linspace(3, 0.5, shape[1])
    reference = PCA(n_components=2, svd_solver="full").fit_transform(z)
    xy = project(z, "pca")
    np.testing.assert_allclose(np.abs(xy), np.abs(reference), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xy, reference * np.sign(reference[np.abs(reference).argmax(0), [0, 1]]), rtol=1e-4,
                               atol=1e-5)


def test_a_one_dimensional_code_is_drawn_against_zeros():
    z = np.arange(5, dtype=np.float32)[:, None]
    xy = project(z, "pca")
    np.testing.assert_array_equal(xy[:, 0], z[:, 0])
    np.testing.assert_array_equal(xy[:, 1], 0)


def test_tsne_works_on_a_set_smaller_than_its_usual_perplexity():
    assert project(np.random.default_rng(0).normal(size=(6, 3)), "tsne").shape == (6, 2)


def test_bad_input_gives_clear_errors(codes):
    with pytest.raises(ValueError, match="unknown projection"):
        project(codes, "mds")
    with pytest.raises(ValueError, match="NaN"):
        project(np.full((4, 2), np.nan), "pca")
    with pytest.raises(ValueError, match="at least two"):
        project(codes[:1], "pca")


@pytest.mark.skipif(available("umap"), reason="umap-learn is installed here")
def test_umap_without_umap_learn_says_what_to_install(codes):
    with pytest.raises(ProjectionUnavailable, match="umap-learn"):
        project(codes, "umap")
