"""Overhead of ``genlib.train.fit`` against a plain hand-written PyTorch loop on the same model and data.

The model is the digits MLP VAE of the issue's target (latent 8, hidden 256-256, Bernoulli, batch 128).
The plain loop is what one would write by hand: default ``torch.optim.Adam``, ``torch.randint`` index
batches, ``model.loss(x)["loss"]``, zero_grad / backward / step, no records. ``fit`` does everything it
always does (shuffled epochs, step records with every loss term, the non-finite check, chunked RNG
state). The two run in lockstep in one process: a chunk of 50 steps of one, then of the other (who goes first
alternates), each chunk timed, so that neighbouring chunks see the same load from whatever else shares
the machine. The figure is the median over chunk pairs of plain time / fit time, on one torch thread (as the
app's live sessions train) and on torch's default thread count here.

Where fit's margin comes from: the optimiser (``genlib.nn.FusedAdam`` ~0.1 ms a step against default Adam's
~0.5 ms) and training with denormal floats flushed to zero (``genlib.train.flush_denormals``: the gradients of
the digits' always-off pixels are denormal, and the CPU is slow on them). The flush is set on the training
thread; torch's other intra-op threads keep their own setting, so with more threads it gains less. Figures
measured and their history: bench/NOTES.md.

    python -m bench fit_vs_plain
"""

from __future__ import annotations

import statistics
import time

import torch

from genlib.data import load_dataset
from genlib.models import build
from genlib.train import FIT_CHUNK, fit

CONFIG = {"latent_dim": 8, "hidden": (256, 256), "likelihood": "bernoulli"}
BATCH = 128
STEPS = 1000  # per run; each run is timed chunk by chunk
RUNS = 2  # runs of each loop, at each thread count
CHUNK = FIT_CHUNK  # fit computes its records FIT_CHUNK steps at a time: the chunks line up with its own


def make_model(data):
    return build("vae", data.shape, seed=0, **CONFIG)


def plain_loop(model, x: torch.Tensor, steps: int, seed: int = 0):
    """The hand-written baseline; it pauses (yields) after every CHUNK steps so that it can be timed in turns."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (BATCH,), generator=g)
        loss = model.loss(x[idx], step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % CHUNK == 0:
            yield


def genlib_fit(model, data, steps: int, seed: int = 0):
    """``fit`` as anyone would call it; pauses after every CHUNK records (one of fit's own chunks)."""
    for record in fit(model, data, steps=steps, batch_size=BATCH, lr=1e-3, seed=seed):
        if record["step"] % CHUNK == 0:
            yield


def measure(steps: int = STEPS, runs: int = RUNS, threads: int | None = None) -> dict:
    """Run the two loops in lockstep, one chunk of each in turn (alternating who goes first), and time every
    chunk: neighbouring chunks see the same load from whatever else the machine is doing."""
    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        return _measure(steps, runs)
    finally:
        torch.set_num_threads(default)


def _measure(steps: int, runs: int) -> dict:
    data = load_dataset("digits", "train", seed=0)
    for _ in genlib_fit(make_model(data), data, CHUNK):  # warm up (allocator, kernels)
        pass
    times = {"plain": [], "fit": []}  # seconds per chunk, paired by index
    for r in range(runs):
        loops = {"plain": plain_loop(make_model(data), data.x, steps, seed=r),
                 "fit": genlib_fit(make_model(data), data, steps, seed=r)}
        for c in range(steps // CHUNK):
            order = ("plain", "fit") if (r + c) % 2 == 0 else ("fit", "plain")
            for name in order:
                start = time.perf_counter()
                next(loops[name])
                times[name].append(time.perf_counter() - start)
    ratios = [p / f for p, f in zip(times["plain"], times["fit"], strict=True)]
    return {"plain": CHUNK / statistics.median(times["plain"]), "fit": CHUNK / statistics.median(times["fit"]),
            "ratio": statistics.median(ratios), "quartiles": statistics.quantiles(ratios, n=4),
            "pairs": len(ratios), "threads": torch.get_num_threads()}


def run() -> list[dict]:
    rows = []
    for threads in dict.fromkeys((1, torch.get_num_threads())):
        m = measure(threads=threads)
        q1, _, q3 = m["quartiles"]
        t = f"{m['threads']} thread{'s' * (m['threads'] > 1)}"
        rows += [
            {"bench": "fit_vs_plain", "figure": f"plain loop (default Adam), {t}", "value": f"{m['plain']:.0f} steps/s",
             "note": f"digits MLP VAE 8 / 256-256, batch 128; {RUNS} x {STEPS} steps"},
            {"bench": "fit_vs_plain", "figure": f"genlib fit, {t}", "value": f"{m['fit']:.0f} steps/s",
             "note": f"median over {m['pairs']} chunks of {CHUNK} steps"},
            {"bench": "fit_vs_plain", "figure": f"fit / plain (median ratio), {t}", "value": f"{m['ratio']:.2f}x",
             "note": f"chunk pairs run in turn; quartiles {q1:.2f}-{q3:.2f}x; target >= 1.3x"},
        ]
    return rows

if __name__ == "__main__":
    from bench import table

    print(table(run()))
