"""Time to quality: the test ELBO that `genlib` training reaches after 1, 2 and 5 seconds on this machine.

The digits MLP VAE of the overhead bench (latent 8, hidden 256-256, Bernoulli on binarised digits,
batch 128, lr 1e-3, seed 0) trains in a ``TrainingRun``; at each mark of training time (time inside
``advance``, evaluation excluded) it is evaluated on the digits test split: ELBO and the IWAE bound
(K = 50), in nats per image. For scale: the untrained model's test ELBO is shown at 0 s.

    python -m bench time_to_quality
"""

from __future__ import annotations

import torch

from genlib.data import load_dataset
from genlib.metrics import evaluate
from genlib.models import build
from genlib.train import TrainingRun

CONFIG = {"latent_dim": 8, "hidden": (256, 256), "likelihood": "bernoulli"}
MARKS = (1.0, 2.0, 5.0)  # seconds of training
CHUNK = 10  # steps per advance: the run stops within a few ms of each mark


def measure(marks=MARKS) -> list[dict]:
    train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
    model = build("vae", train.shape, seed=0, **CONFIG)
    run = TrainingRun(model, train, steps=10**7, batch_size=128, lr=1e-3, seed=0)
    points = [{"seconds": 0.0, "steps": 0, **evaluate(model, test)}]
    for mark in marks:
        while run.seconds < mark and not run.done:
            run.advance(CHUNK)
        points.append({"seconds": run.seconds, "steps": run.step, **evaluate(model, test)})
    return points


def run() -> list[dict]:
    rows = []
    for p in measure():
        rows.append({
            "bench": "time_to_quality", "figure": f"test ELBO after {p['seconds']:.1f} s",
            "value": f"{p['elbo']:.2f} nats/image",
            "note": f"{p['steps']} steps; IWAE-50 NLL {p['nll_iwae']:.2f}; {torch.get_num_threads()} torch threads",
        })
    rows[0]["figure"] = "test ELBO untrained"
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
