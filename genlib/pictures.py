"""Numbers and pictures that pages show, computed here so that pages hold no tensor code.

Everything returns numpy arrays (images N x C x H x W in [0, 1]) or plain Python numbers.
"""

from __future__ import annotations

import numpy as np
import torch


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@torch.no_grad()
def reconstructions(model, x: torch.Tensor) -> np.ndarray:
    """Decoded posterior means of ``x`` (what the model makes of each input)."""
    was = model.training
    model.eval()
    try:
        return _numpy(model.reconstruct(x.to(model.device)))
    finally:
        model.train(was)


@torch.no_grad()
def prior_samples(model, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples decoded from fixed prior noise (the same ``seed`` shows the same codes as training goes on)."""
    was = model.training
    model.eval()
    try:
        generator = torch.Generator(device=model.device).manual_seed(seed)
        return _numpy(model.sample(n, generator=generator))
    finally:
        model.train(was)


def as_images(x: torch.Tensor, likelihood=None) -> np.ndarray:
    """Data as the model sees it (binarised for Bernoulli), ready to draw."""
    return _numpy(likelihood.prepare(x) if likelihood is not None else x)


_SERIES_CACHE: dict[tuple[int, str], tuple] = {}  # (id(history), key) -> (first, last, n, steps, values)
_SERIES_CACHE_SIZE = 256


def series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one logged term; steps without the term are skipped.

    Live pages ask for the same growing history several times a second: the columns read so far are
    kept (per history list and key) and only new records are read, as long as the list has only grown
    (its first record and the last one read are still the same objects at the same places).
    """
    n = len(history)
    cached = _SERIES_CACHE.get((id(history), key))
    if cached is not None:
        first, last, done, steps, values = cached
        if not (done <= n and done and history[0] is first and history[done - 1] is last):
            cached = None
    if cached is None:
        done, steps, values = 0, [], []
    steps, values = list(steps), list(values)  # a cached entry is never changed in place
    for r in history[done:]:
        if key in r:
            steps.append(r["step"])
            values.append(r[key])
    if n:
        if len(_SERIES_CACHE) >= _SERIES_CACHE_SIZE:
            _SERIES_CACHE.pop(next(iter(_SERIES_CACHE)))  # the oldest entry
        _SERIES_CACHE[(id(history), key)] = (history[0], history[-1], n, steps, values)
    return np.asarray(steps), np.asarray(values, dtype=np.float64)


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard-style smoothing of noisy batch losses).

    The average a_i = w a_(i-1) + (1 - w) v_i from a_(-1) = 0 is a linear recurrence, run as a doubling scan:
    after the pass with shift s, a_i sums the terms of the last 2s inputs, so log2(n) whole-array passes
    (live pages smooth the whole curve every tick: 0.5 ms for 10,000 steps). numpy alone: scipy.signal's
    ``lfilter`` did it in 0.1 ms, but importing scipy.signal took a second on a first paint."""
    values = np.asarray(values, dtype=np.float64)
    avg = (1 - weight) * values
    shift = 1
    while shift < len(avg):
        avg[shift:] = avg[shift:] + weight ** shift * avg[:-shift]  # the right side is read before it is written
        shift *= 2
    return avg / (1 - weight ** np.arange(1, len(values) + 1))


def schedule_curve(schedule, total_steps: int, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """β over a run, sampled at up to ``points`` steps (every step for short runs)."""
    steps = np.unique(np.linspace(0, total_steps - 1, min(points, total_steps)).astype(int))
    return steps, np.array([schedule(int(s)) for s in steps])
