"""The annealing lab's default line-up on digits: final KL, reconstruction, ELBO, active units and MI of each
strategy, and what the lab's held-out evaluation costs in training throughput.

Two lock-step trainers of the same four runs (same models, seed and batches) advance in alternating chunks on
one thread (which goes first flips every round), so both see the same machine load: one evaluates every
``eval_every`` steps (as the page does), the other only at its start and end. Figures:

- ``eval_overhead``: seconds spent evaluating / seconds spent training, as ``Lockstep.eval_overhead`` reports it;
- ``throughput_ratio``: lock steps per CPU second with the evaluation / without it (the cost measured end to
  end; on a loaded 2-core machine it moves by a few % from run to run);
- per strategy: the final held-out numbers the lab's table shows (256 test images) and, for reference,
  ``genlib.metrics.evaluate`` on the whole test split (359 images, IWAE with K = 50).

    python -m bench annealing                 # the lab's default: 2000 steps per run
    GENLAB_BENCH_STEPS=500 python -m bench annealing

Measured (2026-11-24, 2 shared CPU cores, torch 2.13 CPU, one thread; held-out 256 test images, nats per image):

    strategy                  KL    recon   ELBO    AU  MI
    β = 1 (plain VAE)         5.68  12.60   -18.27  8   4.49
    monotonic, R = 0.25       6.04  12.10   -18.14  8   4.51
    cyclical, M = 4, R = 0.5  6.34  11.74   -18.08  8   4.68
    free bits, λ = 0.5        6.37  12.32   -18.69  8   4.53
    eval_overhead 3.7 %; throughput_ratio 0.957 (14.5 vs 13.9 CPU s); 67 s in all.
"""

from __future__ import annotations

import os
import time

import torch

from genlib import annealing
from genlib.data import load_dataset
from genlib.lockstep import EVAL_EVERY, Lockstep
from genlib.metrics import evaluate
from genlib.models import build

STEPS = int(os.environ.get("GENLAB_BENCH_STEPS", annealing.LAB_STEPS))
CHUNK = 50  # lock steps per turn


def lockstep(train, test, steps: int, eval_every: int) -> Lockstep:
    lineup = annealing.lineup(annealing.DEFAULT_LINEUP)
    models = {s.label: build("vae", train.shape, seed=0, **annealing.lab_config(s, steps)) for s in lineup}
    return Lockstep(models, train, test, steps=steps, seed=0, eval_every=eval_every)


def measure(steps: int = STEPS) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
        timed = {"with": lockstep(train, test, steps, EVAL_EVERY), "without": lockstep(train, test, steps, 10**9)}
        seconds = dict.fromkeys(timed, 0.0)
        order = list(timed)
        while not all(lock.done for lock in timed.values()):
            for name in order:  # the order flips every round: going first or second must not matter
                start = time.process_time()  # CPU time: a busy shared machine inflates it less than wall time
                timed[name].advance(CHUNK)
                seconds[name] += time.process_time() - start
            order.reverse()
        lab = timed["with"]
        full = {name: evaluate(run.model, test) for name, run in lab.runs.items()}
        return {"final": lab.final(), "full": full, "eval_overhead": lab.eval_overhead,
                "throughput_ratio": seconds["without"] / seconds["with"], "seconds": seconds, "steps": steps,
                "heldout": len(lab.heldout)}
    finally:
        torch.set_num_threads(threads)


def run() -> list[dict]:
    m = measure()
    rows = []
    for name, r in m["final"].items():
        f = m["full"][name]
        rows.append({"bench": "annealing", "figure": name,
                     "value": f"KL {r['kl']:.2f}  recon {r['recon']:.2f}  ELBO {r['elbo']:.2f}  "
                              f"AU {r['active_units']}  MI {r['mutual_information']:.2f}",
                     "note": f"held out ({m['heldout']} test images), nats per image, after {m['steps']} steps; "
                             f"whole test split: ELBO {f['elbo']:.2f}, IWAE NLL {f['nll_iwae']:.2f}, "
                             f"AU {f['active_units']}, MI {f['mutual_information']:.2f}"})
    rows.append({"bench": "annealing", "figure": "eval_overhead", "value": f"{m['eval_overhead']:.1%}",
                 "note": f"evaluation seconds / training seconds, every {EVAL_EVERY} steps (budget 15 %)"})
    rows.append({"bench": "annealing", "figure": "throughput_ratio", "value": f"{m['throughput_ratio']:.3f}",
                 "note": f"lock steps per CPU second with evaluation / without, side by side "
                         f"({m['seconds']['with']:.1f} CPU s vs {m['seconds']['without']:.1f} CPU s)"})
    return rows


if __name__ == "__main__":
    import bench

    print(bench.table(run()))
