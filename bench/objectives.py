"""The objectives page's live training: its VAE and β-VAE (one architecture) trained as one stack by
``ui.live`` (``genlib.batched``), against every run trained alone, as the page trained them before.

The page's default line-up (VAE, β-VAE 4, InfoVAE, MMD-VAE, AAE; latent 2, MLP 128-128, digits, batch 128,
each run probed every 10 steps on 256 test images, each recording its timeline). The two contenders advance
in turn, ``CHUNK`` steps per run per turn, the order swapping every round, on one torch thread (as a live
session trains); each turn is timed in CPU seconds. The figure is the median over rounds of the time alone
over the time stacked, for the whole line-up and for its two stacked runs alone.

    python -m bench.objectives       # about a minute
"""

from __future__ import annotations

import statistics
import time

import torch

from genlib.data import load_dataset
from genlib.models import build
from genlib.priors import ProbedRun
from genlib.timeline import Timeline
from genlib.train import TrainingRun
from ui import live

MMD = {"kernel": "imq", "bandwidth": 1.0}
LINEUP = {"VAE": ("vae", {}), "β-VAE": ("vae", {"beta_schedule": {"kind": "constant", "beta": 4.0}}),
          "InfoVAE": ("info-vae", {"alpha": 0.5, "lambda_": 10.0, **MMD}),
          "MMD-VAE": ("mmd-vae", {"lambda_": 10.0, **MMD}), "AAE": ("aae", {})}
CHUNK = 50  # steps per run per turn
ROUNDS = 8


def _state(names, train, probe_x, steps: int) -> live.LiveState:
    runs = {name: ProbedRun(TrainingRun(build(LINEUP[name][0], train.shape, seed=0, latent_dim=2, hidden=(128, 128),
                                              **LINEUP[name][1]), train, steps=steps, seed=0), probe_x, **MMD, seed=0)
            for name in names}
    return live.LiveState(runs=runs, timelines={name: Timeline(run) for name, run in runs.items()})


def _stacked(s: live.LiveState) -> None:
    s.seconds_per_step = 1.0  # a tick of CHUNK steps per run
    live._advance(s, budget_s=CHUNK * len(s.runs))


def _alone(s: live.LiveState) -> None:
    for name, run in s.runs.items():
        live._train(s, name, run, CHUNK)


def speed(names=tuple(LINEUP), rounds: int = ROUNDS) -> list[float]:
    """Per round: CPU seconds of the runs trained alone / stacked where they stack."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
        steps = (rounds + 1) * CHUNK
        contenders = {"stacked": (_stacked, _state(names, train, test.x[:256], steps)),
                      "alone": (_alone, _state(names, train, test.x[:256], steps))}
        for advance, s in contenders.values():  # warm up: the first turn is not timed
            advance(s)
        seconds = {name: [] for name in contenders}
        order = list(contenders)
        for _ in range(rounds):
            for name in order:
                advance, s = contenders[name]
                start = time.process_time()
                advance(s)
                seconds[name].append(time.process_time() - start)
            order.reverse()
        return [a / b for a, b in zip(seconds["alone"], seconds["stacked"], strict=True)]
    finally:
        torch.set_num_threads(threads)


def run() -> list[dict]:
    rows = []
    for label, names in (("objectives_lineup", tuple(LINEUP)), ("objectives_vae_pair", ("VAE", "β-VAE"))):
        r = speed(names)
        rows.append({"bench": "objectives", "figure": label, "value": f"{statistics.median(r):.2f}x",
                     "note": f"{', '.join(names)}: alone / the VAE and β-VAE stacked, range {min(r):.2f}-"
                             f"{max(r):.2f}x over {len(r)} rounds of {CHUNK} steps per run (1 thread, CPU s)"})
    return rows


if __name__ == "__main__":
    import bench

    print(bench.table(run()))
