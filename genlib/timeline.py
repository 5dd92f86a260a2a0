"""A run's timeline: its weights at chosen steps, thinned as the run grows, and the run as it was at any of them.

A run already keeps its records of every step (``history``); a :class:`Timeline` adds copies of its
models' weights. Snapshots are taken at the multiples of an interval that starts at 1 and doubles
whenever the count would pass ``max_snapshots``, dropping every other one, so a run of any length keeps
at most that many, spread evenly over it, plus the latest (where the run is paused or ended). The byte
budget lowers the count further for large models. ``view(step)`` is the run as it stood at a recorded
step: its models carry that step's weights and its history ends there, the same numbers as a fresh run
stopped at that step.

It works on any run-like object whose models ``models_of`` finds: a ``TrainingRun`` (its ``model``) or a
``Lockstep`` (its runs' models); the run makes its own view (``view_at(step, states)``).
"""

from __future__ import annotations

import torch

MAX_SNAPSHOTS = 50


def models_of(run) -> dict:
    """name -> model of every model the run trains."""
    if hasattr(run, "runs"):
        return {name: r.model for name, r in run.runs.items()}
    return {"model": run.model}


def _state(model) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _nbytes(states: dict) -> int:
    return sum(t.numel() * t.element_size() for state in states.values() for t in state.values())


class Timeline:
    """Weight snapshots of ``run`` at evenly thinned steps, within ``max_snapshots`` and ``budget_bytes``."""

    def __init__(self, run, *, max_snapshots: int = MAX_SNAPSHOTS, budget_bytes: int | None = None):
        if max_snapshots < 2:
            raise ValueError(f"a timeline keeps at least 2 snapshots (the start and the latest), got {max_snapshots}")
        self.run = run
        self.max_snapshots = int(max_snapshots)
        self.budget_bytes = budget_bytes
        self.interval = 1  # snapshots are kept at the multiples of this step count (and the latest step)
        self.snapshots: dict[int, dict] = {}  # step -> model name -> state dict
        self.record()

    @classmethod
    def of(cls, run, snapshots: dict) -> Timeline:
        """A timeline of ``run`` made of snapshots recorded elsewhere (step -> model name -> state dict),
        such as the ones shipped in the zoo (``genlib.shipped``)."""
        timeline = cls.__new__(cls)
        timeline.run, timeline.max_snapshots, timeline.budget_bytes = run, max(2, len(snapshots)), None
        timeline.interval, timeline.snapshots = 1, dict(snapshots)
        return timeline

    @property
    def capacity(self) -> int:
        """How many snapshots fit: ``max_snapshots``, or fewer where the byte budget says so (at least 2)."""
        if self.budget_bytes is None or not self.snapshots:
            return self.max_snapshots
        each = _nbytes(next(iter(self.snapshots.values()))) or 1
        return max(2, min(self.max_snapshots, int(self.budget_bytes // each)))

    @property
    def nbytes(self) -> int:
        return sum(_nbytes(states) for states in self.snapshots.values())

    def steps(self) -> list[int]:
        return sorted(self.snapshots)

    def next_due(self) -> int:
        """The next step at which a snapshot is due: train up to it, then ``record``."""
        return (self.run.step // self.interval + 1) * self.interval

    def record(self, *, replace: bool = False) -> None:
        """Keep the run's weights at its current step (call after each piece of training); ``replace`` keeps
        them even where that step has a snapshot (after weights changed by hand without a step)."""
        step = self.run.step
        for later in [kept for kept in self.snapshots if kept > step]:
            del self.snapshots[later]  # kept inside a chunk that the run undid (a non-finite loss)
        self._keep(step, replace=replace)

    def inspector(self):
        """A ``TrainingRun.advance(n, inspect=...)`` hook that keeps the snapshots due inside the chunk, so a
        tick trains in one piece instead of stopping at every snapshot step. Before step ``s + 1`` the
        model holds the weights of step ``s``."""
        def inspect(_batch, step: int) -> None:
            if step % self.interval == 0 and step not in self.snapshots:
                self._keep(step)
        return inspect

    def _keep(self, step: int, *, replace: bool = False) -> None:
        latest = max(self.snapshots, default=None)
        if latest is not None and latest % self.interval and latest < step:
            del self.snapshots[latest]  # the previous "latest" was only kept as the place the run had reached
        if replace or step not in self.snapshots:
            self.snapshots[step] = {name: _state(model) for name, model in models_of(self.run).items()}
        self.thin()

    def thin(self) -> None:
        """Double the interval until the snapshots fit ``capacity`` (after the budget was lowered, say)."""
        latest = max(self.snapshots)
        while len(self.snapshots) > self.capacity:
            self.interval *= 2
            for kept in list(self.snapshots):
                if kept % self.interval and kept != latest:
                    del self.snapshots[kept]

    def nearest(self, step: int) -> int:
        """The recorded step closest to ``step`` (the earlier one on a tie)."""
        return min(self.snapshots, key=lambda kept: (abs(kept - step), kept))

    def view(self, step: int):
        """The run as it was at recorded ``step``: copies of its models with that step's weights, and its
        records up to that step. The run itself is untouched; the view is for looking, not training."""
        if step not in self.snapshots:
            raise KeyError(f"no snapshot at step {step}; recorded steps: {self.steps()}")
        if step == self.run.step:
            return self.run
        return self.run.view_at(step, self.snapshots[step])
