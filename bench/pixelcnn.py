"""PixelCNN against gated PixelCNN on binarised digits: test bits per dimension at equal training time,
and the time to draw 64 samples (8 x 8: 64 forward passes each).

Both models use their pretrained recipe (``pixelcnn-digits``, ``gated-pixelcnn-digits``: config, batch,
learning rate, seed) but train for the same CPU time instead of their step budgets. The two runs
advance in alternating chunks on one thread, the one behind in CPU seconds going next, so both see
the same machine load; the budget counts process CPU time, which a busy shared machine inflates less
than wall time.

    python -m bench pixelcnn                      # 25 CPU-seconds each
    GENLAB_BENCH_SECONDS=60 python -m bench pixelcnn
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from genlib.data import load_dataset
from genlib.metrics import evaluate
from genlib.models import build
from genlib.pretrained import RECIPES
from genlib.train import TrainingRun

RECIPE_NAMES = ("pixelcnn-digits", "gated-pixelcnn-digits")
SECONDS = float(os.environ.get("GENLAB_BENCH_SECONDS", "25"))  # CPU seconds of training per model
CHUNK = 10  # steps per turn
N_SAMPLES = 64


def make_run(name: str, data) -> TrainingRun:
    r = RECIPES[name]
    model = build(r["model"], data.shape, seed=r["seed"], **r["config"])
    return TrainingRun(model, data, steps=10**6, batch_size=r["batch_size"], lr=r["lr"], seed=r["seed"])


def train_equal_time(runs: dict, seconds: float) -> dict:
    """Advance the runs in turn until each has used ``seconds`` of CPU time; returns CPU seconds per run."""
    used = dict.fromkeys(runs, 0.0)
    while min(used.values()) < seconds:
        name = min(used, key=used.get)
        start = time.process_time()
        runs[name].advance(CHUNK)
        used[name] += time.process_time() - start
    return used


def sampling_seconds(model, repeats: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds to draw N_SAMPLES images."""
    wall, cpu = [], []
    for seed in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        model.sample(N_SAMPLES, torch.Generator().manual_seed(seed))
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def measure(seconds: float = SECONDS) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
        runs = {name: make_run(name, train) for name in RECIPE_NAMES}
        used = train_equal_time(runs, seconds)
        out = {}
        for name, run in runs.items():
            wall, cpu = sampling_seconds(run.model)
            out[name] = {"bits_per_dim": evaluate(run.model, test)["bits_per_dim"], "steps": run.step,
                         "cpu_s": used[name], "wall_s": run.seconds, "sample_wall_s": wall, "sample_cpu_s": cpu,
                         "params": run.model.n_parameters()}
        return out
    finally:
        torch.set_num_threads(threads)


def run() -> list[dict]:
    m = measure()
    rows = []
    for name, r in m.items():
        rows.append({"bench": "pixelcnn", "figure": f"{name}: test bits/dim",
                     "value": f"{r['bits_per_dim']:.4f}",
                     "note": f"{r['cpu_s']:.0f} CPU-s ({r['wall_s']:.0f} s wall), {r['steps']} steps, "
                             f"{r['params']} params, 1 thread"})
        rows.append({"bench": "pixelcnn", "figure": f"{name}: {N_SAMPLES} samples",
                     "value": f"{r['sample_wall_s']:.2f} s", "note": f"{r['sample_cpu_s']:.2f} CPU-s, median of 3"})
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
