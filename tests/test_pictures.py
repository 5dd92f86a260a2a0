"""genlib.pictures.series: the columns of a growing history, read incrementally, equal a fresh read."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genlib.pictures import series, smooth

ROOT = Path(__file__).resolve().parents[1]


def _naive(history, key):
    pairs = [(r["step"], r[key]) for r in history if key in r]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.float64)


def _check(history, key):
    got, want = series(history, key), _naive(history, key)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_series_follows_a_growing_history():
    history = []
    _check(history, "elbo")
    for step in range(1, 200):
        history.append({"step": step, "elbo": -step / 7, **({"mi": step * 0.5} if step % 10 == 0 else {})})
        if step % 17 == 0:
            _check(history, "elbo")
            _check(history, "mi")  # a term logged only every few steps
    _check(history, "elbo")
    _check(history, "missing")


def test_series_reads_afresh_when_the_list_was_changed_in_place():
    history = [{"step": i, "loss": float(i)} for i in range(1, 50)]
    _check(history, "loss")
    history[:] = [{"step": i, "loss": -float(i)} for i in range(1, 80)]  # same list, other records
    _check(history, "loss")
    del history[10:]  # shrunk
    _check(history, "loss")
    history[-1] = {"step": 10, "loss": 99.0}  # the last record read was replaced
    history.append({"step": 11, "loss": 98.0})
    _check(history, "loss")


def test_smooth_is_a_bias_corrected_moving_average():
    values = np.array([4.0, 2.0, 8.0])
    ema = [0.0]
    for v in values:
        ema.append(0.9 * ema[-1] + 0.1 * v)
    np.testing.assert_allclose(smooth(values), [e / (1 - 0.9 ** (i + 1)) for i, e in enumerate(ema[1:])])
    assert smooth(values)[0] == 4.0
    assert len(smooth(np.array([]))) == 0


@pytest.mark.parametrize("weight", [0.0, 0.8, 0.99, 0.999])
def test_smooth_matches_the_recursion_on_a_long_noisy_curve(weight):
    values = np.random.default_rng(0).normal(-20, 5, 5000)
    avg, expected = 0.0, []
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        expected.append(avg / (1 - weight ** (i + 1)))
    np.testing.assert_allclose(smooth(values, weight), expected, rtol=1e-12)


def test_smoothing_imports_no_scipy():
    """A first paint with a training curve smooths it: importing scipy.signal for that cost a second."""
    code = ("import sys, numpy\nfrom genlib.pictures import smooth\nsmooth(numpy.ones(100))\n"
            "assert 'scipy' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0
