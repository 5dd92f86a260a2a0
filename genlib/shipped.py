"""Timelines shipped in the zoo: how a pretrained run got where it is, to scrub offline.

For the recipes of the Annealing lab and Posterior collapse pages, ``genlib.pretrained.build`` trains
through :func:`record_recipe`: the run's weights at the steps a :class:`~genlib.timeline.Timeline` keeps
(at most 50, evenly thinned), its record of every step, and at each kept step the held-out evaluation the
pages' lock step makes (:func:`genlib.lockstep.Lockstep` on the first 256 test images, one importance
sample). ``pretrained/<name>.timeline.safetensors`` holds it: the weights as float16 (half the bytes;
their pictures are the float32 model's to the eye, and the metrics stored beside them were measured on
the float32 weights), the records and evaluations in the header's JSON. Its sha256 is in the manifest.

:func:`replay` reads several of them back as one finished :class:`~genlib.lockstep.Lockstep` and the
timeline of its snapshots, so a page shows a pretrained line-up at any shipped step with the same code
that draws a live one.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from genlib.lockstep import EVAL_EXAMPLES, HISTORY_KEYS, Lockstep
from genlib.metrics import evaluate
from genlib.timeline import Timeline
from genlib.train import TrainingRun

META_KEY = "genlab-timeline"
SNAPSHOT_DTYPE = torch.float16


class ShippedTimelineError(LookupError):
    pass


def path_of(name: str, root: Path) -> Path:
    return Path(root) / f"{name}.timeline.safetensors"


def heldout_of(test_set):
    """The held-out batch the lab evaluates on (the same as ``Lockstep``'s)."""
    return test_set.subset(min(EVAL_EXAMPLES, len(test_set)))


def _evaluation(model, heldout, seed: int) -> dict:
    metrics = evaluate(model, heldout, k=1, max_examples=None, batch_size=len(heldout), seed=seed)
    return {key: metrics[key] for key in HISTORY_KEYS}


def record_recipe(model, data, test_set, *, steps: int, batch_size: int, lr: float, seed: int, progress=None):
    """Train ``model`` as ``fit`` would (bit for bit), keeping its timeline. Returns (snapshots: step ->
    state dict, history: the records, evals: one per kept step)."""
    run = TrainingRun(model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device="cpu")
    timeline = Timeline(run)
    heldout = heldout_of(test_set)
    evals = {0: _evaluation(model, heldout, seed)}
    while not run.done:
        records = run.advance(timeline.next_due() - run.step)
        timeline.record()
        evals[run.step] = _evaluation(model, heldout, seed)
        if progress is not None:
            for record in records:
                progress(record)
    if run.stopped:
        raise RuntimeError(run.stopped)
    kept = timeline.steps()
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in run.history]
    return timeline.snapshots, history, [{"step": s, **evals[s]} for s in kept]


def save(path: Path, snapshots: dict, history: list[dict], evals: list[dict]) -> Path:
    """Write a timeline atomically (float16 weights, records and evaluations in the header)."""
    tensors = {}
    for step, states in snapshots.items():
        for name, state in states.items():
            for key, value in state.items():
                value = value.detach().cpu()
                tensors[f"{step}/{name}/{key}"] = (value.to(SNAPSHOT_DTYPE) if value.is_floating_point()
                                                   else value).contiguous()
    meta = {"steps": sorted(snapshots), "history": history, "evals": evals, "dtype": str(SNAPSHOT_DTYPE)}
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta)})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path) -> tuple[dict, list[dict], list[dict]]:
    """(snapshots: step -> {"model": float32 state dict}, history, evals) of a shipped timeline."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[META_KEY])
    tensors = load_file(str(path))
    snapshots: dict[int, dict] = {step: {} for step in meta["steps"]}
    for key, value in tensors.items():
        step, name, param = key.split("/", 2)
        state = snapshots[int(step)].setdefault(name, {})
        state[param] = value.float() if value.is_floating_point() else value
    return snapshots, meta["history"], meta["evals"]


class Recorded:
    """A finished run read back from a shipped timeline: run-like (``step``, ``steps``, ``done``, ``model``,
    ``history``) and ``view_at`` for the timeline. It cannot train."""

    def __init__(self, model, history: list[dict], steps: int):
        self.model, self.history, self.steps, self.step = model, history, int(steps), int(steps)
        self.stopped, self.seconds = None, 0.0

    @property
    def done(self) -> bool:
        return True

    def advance(self, n_steps: int) -> list[dict]:
        return []

    def view_at(self, step: int, states: dict):
        view = copy.copy(self)
        view.model = copy.deepcopy(self.model)
        view.model.load_state_dict(states["model"])
        view.step = int(step)
        view.history = [r for r in self.history if r["step"] <= step]
        return view


def replay(models: dict, timelines: dict, test_set, *, eval_every: int, seed: int = 0) -> tuple[Lockstep, Timeline]:
    """A finished lab of pretrained ``models`` (name -> model) from their shipped ``timelines`` (name ->
    what ``load`` returns), and a timeline over the steps they share: ``timeline.view(k)`` is the lab at k.

    The lab is a ``Lockstep`` that never trains: its runs are :class:`Recorded`, its evaluations the shipped
    ones."""
    steps = {name: max(snapshots) for name, (snapshots, _, _) in timelines.items()}
    # a real Lockstep (so every part of its interface is there), never trained: its runs are then replaced
    # by the recorded ones and its evaluations by the shipped ones
    lab = Lockstep(models, test_set, test_set, steps=max(steps.values()), seed=seed, eval_every=eval_every,
                   evaluate=False)
    lab.runs = {name: Recorded(models[name], timelines[name][1], steps[name]) for name in models}
    lab.evals = {name: list(timelines[name][2]) for name in models}
    shared = set.intersection(*(set(snapshots) for snapshots, _, _ in timelines.values()))
    snapshots = {step: {name: timelines[name][0][step]["model"] for name in models} for step in sorted(shared)}
    return lab, Timeline.of(lab, snapshots)
