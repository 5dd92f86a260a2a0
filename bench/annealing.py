"""The annealing lab's default line-up on digits: how much faster its four runs train as one batched computation,
each strategy's final KL, reconstruction, ELBO, active units and MI, and what the held-out evaluation costs.

Speed (``lockstep_speedup``): the lab's four runs (MLP VAE 8 / 128-128, batch 128) trained by ``Lockstep``,
which stacks runs of one architecture (``genlib.batched``), against the same four ``TrainingRun``s trained one
after another, each in one call per chunk (each a stack of one, as a ``TrainingRun`` trains a plain VAE alone;
``lockstep_speedup_own_step``: each on the model's own step under autograd, ``stack=False``, the lab before
batching; ``stack_of_one_speedup``: the one over the other), and against the alternative the stack was chosen over:
``torch.func.stack_module_state`` + ``vmap`` + ``functional_call`` over the VAE's own forward (``VmapRuns``
below). Where ``genlib.native`` builds, the batched lab's element-wise passes are its compiled loops; a fourth
contender is the same batched lab with them turned off (``tensor ops``). They advance in turn, a chunk of 50
lock steps each, the order rotating every round; each chunk is timed in CPU seconds, and the figure is the
median (and range) over rounds of the one-after-another time over the batched time. Evaluation is off in these.

Quality and evaluation cost: two batched lock-step trainers of the same four runs advance in alternating chunks,
one evaluating every ``eval_every`` steps (as the page does), the other only at its start and end:

- ``eval_overhead``: seconds spent evaluating / seconds spent training, as ``Lockstep.eval_overhead`` reports it;
- ``throughput_ratio``: lock steps per CPU second with the evaluation / without it;
- per strategy: the final held-out numbers the lab's table shows (256 test images) and, for reference,
  ``genlib.metrics.evaluate`` on the whole test split (359 images, IWAE with K = 50).

    python -m bench annealing                      # speed, then the lab's default 2000 steps per run
    GENLAB_BENCH_STEPS=500 python -m bench annealing
    python -m bench.annealing speed                # the speed figures only (about 30 s)

Measured figures and what they mean: bench/NOTES.md.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from genlib import annealing, native
from genlib.data import load_dataset
from genlib.distributions import gaussian_kl
from genlib.lockstep import EVAL_BUDGET, EVAL_EVERY, Lockstep
from genlib.metrics import evaluate
from genlib.models import build
from genlib.nn import adam
from genlib.train import TrainingRun, flush_denormals

STEPS = int(os.environ.get("GENLAB_BENCH_STEPS", annealing.LAB_STEPS))
CHUNK = 50  # lock steps per turn
ROUNDS = 15  # speed: rounds of one chunk of each contender


def lab_models(train, steps: int) -> dict:
    lineup = annealing.lineup(annealing.DEFAULT_LINEUP)
    return {s.label: build("vae", train.shape, seed=0, **annealing.lab_config(s, steps)) for s in lineup}


class OneAfterAnother:
    """The four runs as four ``TrainingRun``s, each advanced in one call per chunk: each a stack of one run
    (``genlib.batched``, as a ``TrainingRun`` trains a plain VAE), or with ``stack=False`` on the model's own
    step under autograd, the lab before batching."""

    def __init__(self, models: dict, train, steps: int, stack: bool = True):
        self.runs = [TrainingRun(m, train, steps=steps, seed=0, stack=stack) for m in models.values()]

    def advance(self, n: int) -> None:
        for run in self.runs:
            run.advance(n)


class TensorOps:
    """The batched lab with ``genlib.native`` turned off: its element-wise passes as torch's operations."""

    def __init__(self, lab: Lockstep):
        self.lab = lab

    def advance(self, n: int) -> None:
        with native.turned_off():
            self.lab.advance(n)


class VmapRuns:
    """The runs through ``torch.func``: weights stacked by ``stack_module_state``, the VAE's own forward under
    ``vmap`` (one ε for every run: ``randomness="same"``), each run's β and free bits as batched inputs, one
    fused Adam over the stacked tensors. The same batches as the runs; not bit for bit their numbers."""

    def __init__(self, models: dict, train, steps: int):
        models = list(models.values())
        self.template = copy.deepcopy(models[0])
        params, _ = stack_module_state(models)
        self.params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        self.optimizer = adam(list(self.params.values()), 1e-3)
        self.schedules = [m.beta for m in models]
        self.lam = torch.tensor([m.config.free_bits for m in models]).view(-1, 1)
        self.batches = TrainingRun(copy.deepcopy(models[0]), train, steps=steps, seed=0)  # the batch stream
        self.step = 0
        self.loss = vmap(self._loss, in_dims=(0, 0, 0, None), randomness="same")

    def _loss(self, params, beta, lam, x):
        t = self.template
        x = t.likelihood.prepare(x)
        x_logits, mu, logvar, _ = functional_call(t, params, (x,))
        kl_per_dim = gaussian_kl(mu, logvar)
        above = (kl_per_dim.mean(0, keepdim=True).detach() > lam) | (lam <= 0)
        reg = beta * torch.where(above, kl_per_dim, lam).sum(-1)
        return (-t.likelihood.log_prob(x_logits, x) + reg).mean()

    def advance(self, n: int) -> None:
        with torch.random.fork_rng(devices=[]), flush_denormals():  # as genlib trains
            torch.set_rng_state(self.batches._noise_state)
            for _ in range(n):
                beta = torch.tensor([b(self.step) for b in self.schedules])
                loss = self.loss(self.params, beta, self.lam, self.batches._next_batch()).sum()
                for p in self.params.values():
                    p.grad = None
                loss.backward()
                self.optimizer.step()
                self.step += 1
            self.batches._noise_state = torch.get_rng_state()


def speed(rounds: int = ROUNDS) -> dict:
    """Seconds per chunk of the batched lab, the runs one after another and the vmap variant, in turn."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
        steps = (rounds + 1) * CHUNK
        contenders = {"batched": Lockstep(lab_models(train, steps), train, test, steps=steps, seed=0,
                                          eval_every=10**9),
                      "one after another": OneAfterAnother(lab_models(train, steps), train, steps),
                      "own step": OneAfterAnother(lab_models(train, steps), train, steps, stack=False),
                      "vmap": VmapRuns(lab_models(train, steps), train, steps)}
        if native.available():
            contenders["tensor ops"] = TensorOps(Lockstep(lab_models(train, steps), train, test, steps=steps, seed=0,
                                                          eval_every=10**9))
        for c in contenders.values():  # warm up: the first chunk is not timed
            c.advance(CHUNK)
        seconds = {name: [] for name in contenders}
        order = list(contenders)
        for _ in range(rounds):
            for name in order:
                start = time.process_time()
                contenders[name].advance(CHUNK)
                seconds[name].append(time.process_time() - start)
            order = order[1:] + order[:1]
        ratios = {name: [a / b for a, b in zip(seconds["one after another"], seconds[name], strict=True)]
                  for name in contenders if name not in ("one after another", "own step")}
        ratios["batched / own step"] = [a / b for a, b in zip(seconds["own step"], seconds["batched"], strict=True)]
        ratios["stack of one / own step"] = [a / b for a, b in zip(seconds["own step"], seconds["one after another"],
                                                                   strict=True)]
        per_step = {name: statistics.median(s) / CHUNK for name, s in seconds.items()}
        return {"ratios": ratios, "per_step": per_step, "rounds": rounds}
    finally:
        torch.set_num_threads(threads)


def speed_rows(m: dict) -> list[dict]:
    rows = []
    compiled = "tensor ops" in m["ratios"]
    labels = {"batched": "lockstep_speedup", "tensor ops": "lockstep_speedup_tensor_ops", "vmap": "vmap_speedup",
              "batched / own step": "lockstep_speedup_own_step", "stack of one / own step": "stack_of_one_speedup"}
    passes = f"{'compiled' if compiled else 'tensor'} element-wise passes"
    what = {"batched": f"four runs one after another (each a stack of one) / batched ({passes}; target >= 2.5x)",
            "tensor ops": "four runs one after another / batched with genlib.native turned off",
            "vmap": "four runs one after another / the torch.func vmap variant",
            "batched / own step": f"four runs one after another on their own step (autograd) / batched ({passes})",
            "stack of one / own step": "four runs on their own step (autograd) / four stacks of one"}
    for name, label in labels.items():
        if name not in m["ratios"]:
            continue
        r = m["ratios"][name]
        rows.append({"bench": "annealing", "figure": label, "value": f"{statistics.median(r):.2f}x",
                     "note": f"{what[name]}, range {min(r):.2f}-{max(r):.2f}x over {m['rounds']} rounds of "
                             f"{CHUNK} lock steps"})
    ms = {k: f"{v * 1e3:.2f}" for k, v in m["per_step"].items()}
    rows.append({"bench": "annealing", "figure": "ms per lock step",
                 "value": f"{ms['batched']} batched",
                 "note": ", ".join(f"{ms[k]} {k}" for k in ms if k != "batched") + "; 1 torch thread, CPU seconds"})
    return rows


def lockstep(train, test, steps: int, eval_every: int) -> Lockstep:
    return Lockstep(lab_models(train, steps), train, test, steps=steps, seed=0, eval_every=eval_every)


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
    rows = speed_rows(speed())
    m = measure()
    for name, r in m["final"].items():
        f = m["full"][name]
        rows.append({"bench": "annealing", "figure": name,
                     "value": f"KL {r['kl']:.2f}  recon {r['recon']:.2f}  ELBO {r['elbo']:.2f}  "
                              f"AU {r['active_units']}  MI {r['mutual_information']:.2f}",
                     "note": f"held out ({m['heldout']} test images), nats per image, after {m['steps']} steps; "
                             f"whole test split: ELBO {f['elbo']:.2f}, IWAE NLL {f['nll_iwae']:.2f}, "
                             f"AU {f['active_units']}, MI {f['mutual_information']:.2f}"})
    rows.append({"bench": "annealing", "figure": "eval_overhead", "value": f"{m['eval_overhead']:.1%}",
                 "note": f"evaluation seconds / training seconds, every {EVAL_EVERY} steps (budget {EVAL_BUDGET:.0%})"})
    rows.append({"bench": "annealing", "figure": "throughput_ratio", "value": f"{m['throughput_ratio']:.3f}",
                 "note": f"lock steps per CPU second with evaluation / without, side by side "
                         f"({m['seconds']['with']:.1f} CPU s vs {m['seconds']['without']:.1f} CPU s)"})
    return rows


if __name__ == "__main__":
    import bench

    print(bench.table(speed_rows(speed()) if sys.argv[1:] == ["speed"] else run()))
