"""Overhead of ``genlib.train.fit`` against a plain hand-written PyTorch loop on the same model and data.

The model is the digits MLP VAE of the issue's target (latent 8, hidden 256-256, Bernoulli, batch 128).
The plain loop is what one would write by hand: default ``torch.optim.Adam``, ``torch.randint`` index
batches, ``model.loss(x)["loss"]``, zero_grad / backward / step, no records. ``fit`` does everything it
always does (shuffled epochs, step records with every loss term, the non-finite check, chunked RNG
state). The two alternate, repeat after repeat, in one process, so both see the same machine load;
the figures are medians of the per-pair ratios, by wall clock and by this process's CPU time (steadier
when other processes share the cores). Threads: whatever torch uses here (OMP_NUM_THREADS).

    python -m bench fit_vs_plain
"""

from __future__ import annotations

import statistics
import time

import torch

from genlib.data import load_dataset
from genlib.models import build
from genlib.train import fit

CONFIG = {"latent_dim": 8, "hidden": (256, 256), "likelihood": "bernoulli"}
BATCH = 128
REPEATS = 15  # interleaved pairs (fewer if the time budget runs out first; at least 5)
REPEAT_SECONDS = 1.0  # each timed run lasts about this long (at least 200 steps): pairs side by side see the same load
BUDGET_SECONDS = 45.0


def make_model(data):
    return build("vae", data.shape, seed=0, **CONFIG)


def plain_loop(model, x: torch.Tensor, steps: int, seed: int = 0) -> None:
    """The hand-written baseline."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(x), (BATCH,), generator=g)
        loss = model.loss(x[idx], step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def genlib_fit(model, data, steps: int, seed: int = 0) -> None:
    for _ in fit(model, data, steps=steps, batch_size=BATCH, lr=1e-3, seed=seed):
        pass


def steps_per_second(fn, steps: int) -> tuple[float, float]:
    """Steps per second of wall-clock time and per second of this process's CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(steps)
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def measure(repeats: int = REPEATS, repeat_seconds: float = REPEAT_SECONDS, budget: float = BUDGET_SECONDS) -> dict:
    data = load_dataset("digits", "train", seed=0)
    plain_fn = lambda n: plain_loop(make_model(data), data.x, n)  # noqa: E731
    fit_fn = lambda n: genlib_fit(make_model(data), data, n)  # noqa: E731
    fit_fn(20)  # warm up both paths (allocator, kernels), then size the runs from the plain loop's speed
    steps = max(200, int(steps_per_second(plain_fn, 40)[0] * repeat_seconds))
    start = time.perf_counter()
    plain, fitted = [], []
    for r in range(repeats):
        if r >= 5 and time.perf_counter() - start > budget:
            break
        pair = [(plain, plain_fn), (fitted, fit_fn)]
        for out, fn in pair if r % 2 == 0 else reversed(pair):  # alternate who goes first
            out.append(steps_per_second(fn, steps))
    median = statistics.median
    return {
        "plain": median(p[0] for p in plain), "fit": median(f[0] for f in fitted),
        "ratio": median(f[0] / p[0] for f, p in zip(fitted, plain, strict=True)),  # wall clock
        "ratio_cpu": median(f[1] / p[1] for f, p in zip(fitted, plain, strict=True)),  # CPU time of this process
        "ratios": [f[0] / p[0] for f, p in zip(fitted, plain, strict=True)],
        "steps": steps, "threads": torch.get_num_threads(),
    }


def run() -> list[dict]:
    m = measure()
    spread = f"repeats {min(m['ratios']):.2f}-{max(m['ratios']):.2f}x"
    note = (f"digits MLP VAE 8 / 256-256, batch 128; {len(m['ratios'])} x 2 runs of {m['steps']} steps interleaved, "
            f"{m['threads']} torch threads")
    return [
        {"bench": "fit_vs_plain", "figure": "plain loop (default Adam)", "value": f"{m['plain']:.0f} steps/s",
         "note": note},
        {"bench": "fit_vs_plain", "figure": "genlib fit", "value": f"{m['fit']:.0f} steps/s", "note": ""},
        {"bench": "fit_vs_plain", "figure": "fit / plain, wall clock (median ratio)", "value": f"{m['ratio']:.2f}x",
         "note": f"{spread}; target >= 1.2x"},
        {"bench": "fit_vs_plain", "figure": "fit / plain, CPU time (median ratio)", "value": f"{m['ratio_cpu']:.2f}x",
         "note": "steps per second of CPU this process got: steadier on a shared machine"},
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
