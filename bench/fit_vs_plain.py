"""Overhead of ``genlib.train.fit`` against a plain hand-written PyTorch loop on the same model and data.

The model is the digits MLP VAE of the issue's target (latent 8, hidden 256-256, Bernoulli, batch 128).
The plain loop is what one would write by hand: default ``torch.optim.Adam``, ``torch.randint`` index
batches, ``model.loss(x)["loss"]``, zero_grad / backward / step, no records. ``fit`` does everything it
always does (shuffled epochs, step records with every loss term, the non-finite check, chunked RNG
state). The two run in lockstep in one process: a chunk of 50 steps of one, then of the other (who goes first
alternates), each chunk timed, so that neighbouring chunks see the same load from whatever else shares
the machine. The figure is the median over chunk pairs of plain time / fit time. Threads: whatever torch
uses here (OMP_NUM_THREADS).

Where fit's margin comes from (Nov 2026, torch 2.13 CPU, 2 shared cores, 1 thread): forward + backward
~2.1 ms of which ~1.7 ms are the two MLPs' matmuls, the same in both loops; default Adam's step ~0.50 ms
against ~0.14 ms for ``genlib.nn.FusedAdam`` (torch's fused kernel, reached without Adam.step's Python
bookkeeping); fit's own per-step costs (records, batch slicing, a chunk's safety snapshot) ~0.06 ms.
Five runs on 2026-11-25 gave 1.18x, 1.21x, 1.22x, 1.22x and 1.27x (quartiles within 1.14-1.33x). On
another 2-core AMD EPYC later that day: 1.15x-1.27x in 6 runs (median 1.205x) once FusedAdam advanced its
step counters by a tensor one (1.11x-1.21x before). On a third 2-core AMD EPYC (2 threads: forward +
backward 1.8 ms, default Adam 0.62 ms, FusedAdam 0.13 ms): 1.12x-1.21x in 8 runs (median 1.13x), 1.18x-1.21x
while the machine ran fast, 1.12x-1.13x while its neighbours slowed it down (the shared part grows).
On a fourth (2026-11-25), FusedAdam's step inside the loop took 177-194 us, not the ~90 us it takes alone:
Optimizer's step wrapper and re-planning the group cost ~35 us of it, and a step's record another ~40 us.
FusedAdam now skips the wrapper where nothing listens and keeps its tensor lists, and a chunk's records are
made at the chunk's end. Runs alternating the code before and after (2 runs of 1000 steps each, 8 pairs):
1.12x-1.22x (median 1.18x) before, 1.22x-1.34x (median 1.27x) after. This command on the final code: 1.16x-1.28x
in 12 runs (median 1.23x; 11 of them at 1.2x or more).

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
RUNS = 3  # runs of each loop
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


def measure(steps: int = STEPS, runs: int = RUNS) -> dict:
    """Run the two loops in lockstep, one chunk of each in turn (alternating who goes first), and time every
    chunk: neighbouring chunks see the same load from whatever else the machine is doing."""
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
    m = measure()
    q1, _, q3 = m["quartiles"]
    return [
        {"bench": "fit_vs_plain", "figure": "plain loop (default Adam)", "value": f"{m['plain']:.0f} steps/s",
         "note": f"digits MLP VAE 8 / 256-256, batch 128; {RUNS} x {STEPS} steps, {m['threads']} torch threads"},
        {"bench": "fit_vs_plain", "figure": "genlib fit", "value": f"{m['fit']:.0f} steps/s",
         "note": f"median over {m['pairs']} chunks of {CHUNK} steps"},
        {"bench": "fit_vs_plain", "figure": "fit / plain (median ratio)", "value": f"{m['ratio']:.2f}x",
         "note": f"chunk pairs run in turn; quartiles {q1:.2f}-{q3:.2f}x; target >= 1.2x"},
    ]

if __name__ == "__main__":
    from bench import table

    print(table(run()))
