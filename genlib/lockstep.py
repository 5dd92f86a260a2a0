"""Several training runs in lock step, with a metric history on a fixed held-out batch.

:class:`Lockstep` trains one :class:`~genlib.train.TrainingRun` per named model round-robin: every run
gets the same data, seed, batch order and step budget, so their curves differ only by what their
models differ in (for the annealing lab, the β schedule). It is itself "run-like" (``advance(n)``,
``done``, ``stopped``, ``step``, ``steps``): one lock step advances every run by one training step.

Runs whose models share an architecture (the lab's always do) train as one batched computation
(``genlib.batched``: weights stacked along a run axis, one loss summed over the runs, one Adam step over
the stacked tensors), with the same numbers as each run trained alone; other runs train one after
another. Between lock steps each ``runs[name]`` is an ordinary ``TrainingRun`` holding its own weights,
optimiser state and records.

Every ``eval_every`` steps each run is evaluated with :func:`genlib.metrics.evaluate` on the same
held-out batch (one importance sample: the IWAE bound is not needed here), which gives the quantities
a training record cannot: active units, the mutual information I(x; z) and the KL of each latent
dimension, measured on data the run never trained on. The time spent evaluating is kept apart from the
time spent training, and ``eval_overhead`` is their ratio (the lab's budget is 15 %).
"""

from __future__ import annotations

import copy
import time

from genlib import batched
from genlib.metrics import evaluate
from genlib.train import TrainingRun

EVAL_EVERY = 50  # training steps between two evaluations of each run
EVAL_BUDGET = 0.15  # the lab's budget for eval_overhead (bench/annealing.py measures it)
EVAL_EXAMPLES = 256  # size of the fixed held-out batch (the MI estimate is at most log of it)
HISTORY_KEYS = ("elbo", "recon", "kl", "kl_per_dim", "active_units", "mutual_information")


class Lockstep:
    """Train ``models`` (name -> model) side by side on ``dataset``; evaluate them on ``heldout``."""

    def __init__(self, models: dict, dataset, heldout, *, steps: int, batch_size: int = 128, lr: float = 1e-3,
                 seed: int = 0, eval_every: int = EVAL_EVERY, eval_examples: int = EVAL_EXAMPLES,
                 device=None, batch: bool = True, evaluate: bool = True):
        if not models:
            raise ValueError("Lockstep needs at least one model")
        if int(eval_every) != eval_every or eval_every < 1:
            raise ValueError(f"eval_every must be a positive integer, got {eval_every}")
        self.runs = {name: TrainingRun(model, dataset, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                       device=device) for name, model in models.items()}
        self.heldout = heldout.subset(min(int(eval_examples), len(heldout)))
        self.eval_every = int(eval_every)
        self.seed = int(seed)
        self.steps = int(steps)
        self.batch = bool(batch)  # train runs of one architecture as one computation (genlib.batched)
        self.evals: dict[str, list[dict]] = {name: [] for name in self.runs}  # name -> evaluation records
        self.eval_seconds = 0.0
        self.train_seconds = 0.0  # time spent training (runs trained as one count once)
        if evaluate:  # False where the evaluations come from elsewhere (genlib.shipped.replay's shipped ones)
            self._evaluate_all()  # step 0: where every run starts

    # ---------------------------------------------------------------- run-like interface

    @property
    def step(self) -> int:
        """Steps every run still training has taken (a run that stopped early stays behind)."""
        going = [r.step for r in self.runs.values() if not r.stopped]
        return min(going) if going else max(r.step for r in self.runs.values())

    @property
    def done(self) -> bool:
        return all(r.done for r in self.runs.values())

    @property
    def stopped(self) -> str | None:
        """Why a run stopped early (non-finite loss), else None. The other runs carry on."""
        reasons = [f"{name}: {r.stopped}" for name, r in self.runs.items() if r.stopped]
        return " ".join(reasons) or None

    def advance(self, n_steps: int) -> list[dict]:
        """Up to ``n_steps`` lock steps; returns one record per lock step: ``{"step", "runs": {name: record}}``."""
        records: list[dict] = []
        remaining = int(n_steps)
        while remaining > 0 and not self.done:
            # train up to the next evaluation point, every run in turn, then evaluate
            start = self.step
            chunk = min(remaining, self.eval_every - start % self.eval_every, self.steps - start)
            per_run = self._train(chunk)
            for i in range(chunk):  # a run that stopped early has fewer records: it drops out of the later ones
                records.append({"step": start + i + 1,
                                "runs": {name: recs[i] for name, recs in per_run.items() if i < len(recs)}})
            remaining -= chunk
            if self.step % self.eval_every == 0 or self.done:
                self._evaluate_all()
        return records

    def _train(self, chunk: int) -> dict[str, list[dict]]:
        """Every run up to ``chunk`` steps: each group of one architecture as one stack, the rest in turn."""
        start = time.perf_counter()
        groups = batched.groups(self.runs) if self.batch else [[name] for name in self.runs]
        per_run = {}
        for names in groups:
            if len(names) == 1:
                per_run[names[0]] = self.runs[names[0]].advance(chunk)
            else:
                records = batched.StackedRuns([self.runs[n] for n in names]).advance(chunk)
                per_run.update(zip(names, records, strict=True))
        self.train_seconds += time.perf_counter() - start
        return {name: per_run[name] for name in self.runs}

    def extend(self, n_steps: int) -> None:
        """Let the finished lab train ``n_steps`` more lock steps (a presenter's Step past the end)."""
        for run in self.runs.values():
            run.extend(n_steps)
        self.steps = max(self.steps, self.step + int(n_steps))

    def view_at(self, step: int, states: dict):
        """The lab as it stood at ``step`` (``genlib.timeline``): each run's view with ``states[name]``, and
        the evaluations up to that step."""
        view = copy.copy(self)
        view.runs = {name: run.view_at(step, {"model": states[name]}) for name, run in self.runs.items()}
        view.evals = {name: [e for e in evals if e["step"] <= step] for name, evals in self.evals.items()}
        return view

    # ---------------------------------------------------------------- the metric history

    def _evaluate_all(self) -> None:
        start = time.perf_counter()
        for name, run in self.runs.items():
            if self.evals[name] and self.evals[name][-1]["step"] == run.step:
                continue
            metrics = evaluate(run.model, self.heldout, k=1, max_examples=None, batch_size=len(self.heldout),
                               seed=self.seed)
            self.evals[name].append({"step": run.step, **{k: metrics[k] for k in HISTORY_KEYS}})
        self.eval_seconds += time.perf_counter() - start

    @property
    def eval_overhead(self) -> float:
        """Seconds spent evaluating per second spent training (0.05 = 5 % on top of training)."""
        return self.eval_seconds / self.train_seconds if self.train_seconds > 0 else 0.0

    def curve(self, name: str, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a training-record key at every step: beta, loss, recon, kl, elbo (batch means)."""
        history = self.runs[name].history
        return [r["step"] for r in history], [r[key] for r in history]

    def heldout_curve(self, name: str, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a held-out key, every ``eval_every`` steps: elbo, recon, kl, active_units,
        mutual_information."""
        evals = self.evals[name]
        return [e["step"] for e in evals], [e[key] for e in evals]

    def kl_per_dim_history(self, name: str) -> tuple[list[int], list[list[float]]]:
        """(steps, D x T values): the held-out KL of each latent dimension at each evaluation."""
        evals = self.evals[name]
        steps = [e["step"] for e in evals]
        return steps, [list(col) for col in zip(*(e["kl_per_dim"] for e in evals), strict=True)]

    def final(self) -> dict[str, dict]:
        """The last held-out evaluation of each run (nats per example), plus its step."""
        return {name: dict(evals[-1]) for name, evals in self.evals.items()}

    def trajectory(self, name: str) -> tuple[list[float], list[float]]:
        """The run's path in the rate-distortion plane on the held-out batch: (KL, reconstruction)."""
        evals = self.evals[name]
        return [e["kl"] for e in evals], [e["recon"] for e in evals]
