"""Live training on a Ray cluster: a run trained by a remote worker, mirrored where the page draws it.

A live page holds "runs" (``genlib.train.TrainingRun``, a ``genlib.lockstep.Lockstep`` of them, a
``genlib.priors.ProbedRun``...). :class:`RemoteRun` ships one run to a Ray actor, which holds the real run
and trains it, and keeps the local object as a mirror: after each remote ``advance``, ``extend`` or
``dissect_next`` it copies into the mirror what a page reads, and only that (``_changes``):

- the weights of every model (``state_dict``), in the run and in its members (a Lockstep's ``runs``, a
  ProbedRun's ``run``);
- the records added since the last copy to the lists that only grow (``history``, a ProbedRun's
  ``probes``, a Lockstep's ``evals``);
- the counters: ``step``, ``steps``, ``stopped``, ``seconds``, ``eval_seconds``, ``train_seconds``.

The dataset travels once, with the run; a chunk sends back its weights and records (684 kB for the ELBO
page's default VAE). Everything else (``model``, ``view_at``, ``dataset``, ``seed``...) is read from the
mirror. ``advance`` waits for the remote chunk (``ray.get``): the server's CPUs stay free while a worker
trains, and the page polls the run as it polls a local one. The actor trains the same run with the same
code, so the records and weights are bit-for-bit those of the run trained in process, given the same
torch build, CPU kind and thread count (the actor uses ``num_cpus`` threads; the tests compare one with
one). A run whose worker died, or that waited ``CALL_TIMEOUT_S`` for one, stops with a sentence in
``stopped`` and keeps the last weights it had. A presenter's change by hand goes through :func:`by_hand`.
On a shared 2-core machine with a local Ray, that VAE trained at 0.84x the steps per second of the run in
process (chunks of 30 steps): the price of the round trip, paid for a server whose CPUs stay free.

:func:`maybe_remote` is the one switch: with ``GENLAB_RAY_ADDRESS`` set (read here only) it connects once
per process and wraps each run; otherwise, or where Ray is missing or cannot be reached (logged), it
returns the runs unchanged. Ray is imported only then: ``pip install -r requirements-ray.txt``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import threading
import time
from pathlib import Path

import torch

ADDRESS_VARIABLE = "GENLAB_RAY_ADDRESS"  # e.g. ray://ray-head:10001 (Ray Client), or "auto" on a cluster node
CALL_TIMEOUT_S = 120.0  # longest wait for one chunk (its first includes starting the worker); then the run stops
RETRY_S = 60.0  # after a failed connection, train in process this long before trying the cluster again

MODELS = ("model",)  # modules: their weights are copied
RECORDS = ("history", "probes")  # lists that only grow: the records added are copied
RECORDS_BY_NAME = ("evals",)  # name -> such a list (a Lockstep's held-out evaluations)
VALUES = ("step", "steps", "stopped", "seconds", "eval_seconds", "train_seconds")

log = logging.getLogger(__name__)
_lock = threading.Lock()  # Streamlit runs each session in a thread of its own: connect once
_connected = False  # connected in this process
_failed_at: float | None = None  # time.monotonic() of the last failed try


# ----------------------------------------------------------------------------- what a page reads


def _parts(run, path=()):
    """(path, object) of the run and of each run inside it: a ProbedRun's ``run``, a Lockstep's ``runs``."""
    yield path, run
    own = vars(run)
    if "run" in own:
        yield from _parts(own["run"], (*path, "run"))
    for name, member in own.get("runs", {}).items():
        yield from _parts(member, (*path, "runs", name))


def _changes(run, counts: dict) -> dict:
    """What a page reads of ``run`` (see the module docstring), with only the records added since ``counts``
    (path -> records already copied; updated). Instance attributes only: a Lockstep's ``step`` and
    ``stopped`` are properties that the mirror computes from its runs."""
    changes = {}
    for path, part in _parts(run):
        own = vars(part)
        change = {key: own[key] for key in VALUES if key in own}
        change.update({key: own[key].state_dict() for key in MODELS if key in own})
        lists = {(key,): own[key] for key in RECORDS if key in own}
        lists.update({(key, name): records for key in RECORDS_BY_NAME if key in own
                      for name, records in own[key].items()})
        for where, records in lists.items():
            start = counts.get(path + where, 0)
            counts[path + where] = len(records)
            change[where] = records[start:]
        changes[path] = change
    return changes


def _apply(run, changes: dict) -> None:
    """Copy ``changes`` (from ``_changes`` on the actor's run) into the mirror ``run``."""
    parts = dict(_parts(run))
    for path, change in changes.items():
        part = parts[path]
        for key, value in change.items():
            if isinstance(key, tuple):  # new records: ("history",) or ("evals", name)
                records = getattr(part, key[0])
                (records if len(key) == 1 else records[key[1]]).extend(value)
            elif key in MODELS:
                getattr(part, key).load_state_dict(value)
            else:
                setattr(part, key, value)


def _training_state(run) -> dict:
    """path -> the weights and optimiser states of each part that trains (for ``by_hand``)."""
    return {path: {"model": part.model.state_dict(), "optimizers": [o.state_dict() for o in part.optimizers]}
            for path, part in _parts(run) if _trains(part)}


def _trains(part) -> bool:
    """Whether ``part`` holds optimisers of its own: a ``TrainingRun``, not a Lockstep or a ProbedRun around
    runs."""
    from genlib.train import TrainingRun

    return isinstance(part, TrainingRun)


def _load_training_state(run, state: dict) -> None:
    parts = dict(_parts(run))
    for path, saved in state.items():
        parts[path].model.load_state_dict(saved["model"])
        for optimizer, optimizer_state in zip(parts[path].optimizers, saved["optimizers"], strict=True):
            optimizer.load_state_dict(optimizer_state)


class _Holder:
    """The Ray actor: holds the real run and answers each call with its result and the run's changes."""

    def __init__(self, run, threads: int):
        torch.set_num_threads(threads)
        self.run = run
        self.counts: dict = {}
        _changes(run, self.counts)  # the mirror has these records already

    def call(self, method: str, *args):
        result = getattr(self.run, method)(*args)
        return result, _changes(self.run, self.counts)

    def training_state(self) -> dict:
        return _training_state(self.run)

    def load_training_state(self, state: dict) -> None:
        _load_training_state(self.run, state)


# ----------------------------------------------------------------------------- the remote run


def _ray():
    import ray

    return ray


@functools.cache
def _holder_class():
    return _ray().remote(_Holder)


class RemoteRun:
    """``run`` trained by a Ray actor; this object is its mirror for the page (see the module docstring).

    ``extend`` and ``dissect_next`` go to the actor where the run has them (``hasattr`` tells the truth, as
    the live pages ask it); any other attribute is the mirror's."""

    def __init__(self, run, *, num_cpus: int = 1, timeout_s: float = CALL_TIMEOUT_S):
        self.run = run  # the mirror
        self.timeout_s = float(timeout_s)
        self.lost: str | None = None  # why the actor is gone, once it is
        holder = _holder_class().options(num_cpus=num_cpus, max_restarts=0)
        self._actor = holder.remote(run, max(1, int(num_cpus)))

    def __getattr__(self, name):
        if name in ("run", "_actor") or name.startswith("__"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        if name in ("extend", "dissect_next") and hasattr(self.run, name):
            return lambda *args: self._call(name, *args)
        return getattr(self.run, name)

    @property
    def stopped(self) -> str | None:
        return self.lost or self.run.stopped

    @property
    def done(self) -> bool:
        return self.lost is not None or self.run.done

    def advance(self, n_steps: int) -> list[dict]:
        return self._call("advance", int(n_steps)) or []

    def _call(self, method: str, *args):
        if self.lost:
            return None
        ray = _ray()
        try:
            result, changes = ray.get(self._actor.call.remote(method, *args), timeout=self.timeout_s)
        except ray.exceptions.RayActorError as e:
            self._lose(f"the Ray worker that trained it is gone ({type(e).__name__})")
            return None
        except ray.exceptions.GetTimeoutError:
            self._lose(f"the Ray cluster gave it no worker, or no answer, for {self.timeout_s:.0f} s")
            return None
        except ConnectionError:  # Ray Client lost the cluster
            self._lose("the connection to the Ray cluster was lost")
            return None
        _apply(self.run, changes)
        return result

    def _lose(self, why: str) -> None:
        self.lost = (f"stopped at step {self.run.step}: {why}. The weights shown are those of step "
                     f"{self.run.step}; Reset to train again.")
        log.warning("remote run %s", self.lost)
        with contextlib.suppress(Exception):  # it may be gone already; a late answer would find no one waiting
            _ray().kill(self._actor)

    def pull(self) -> None:
        """Bring the actor's weights and optimiser states into the mirror (before changing it by hand)."""
        if not self.lost:
            _load_training_state(self.run, _ray().get(self._actor.training_state.remote(), timeout=self.timeout_s))

    def push(self) -> None:
        """Send the mirror's weights and optimiser states to the actor (after changing them by hand)."""
        if not self.lost:
            _ray().get(self._actor.load_training_state.remote(_training_state(self.run)), timeout=self.timeout_s)


def by_hand(runs: dict, change) -> None:
    """``change(runs)`` on the mirrors of the remote runs as on local runs (a presenter's manual step, such as
    the AAE's discriminator step): the actors' weights and optimiser states are brought in first and sent
    back after, so the run trains on from the changed weights. Local runs are simply changed."""
    remote = [run for run in runs.values() if isinstance(run, RemoteRun)]
    for run in remote:
        run.pull()
    try:
        change(runs)
    finally:
        for run in remote:
            run.push()


# ----------------------------------------------------------------------------- the switch


def runtime_env() -> dict:
    """Ship genlib to the cluster with the job (Ray uploads it once, by content): the workers need only the
    packages of requirements.txt (the deploy image has them) and a matching Python and Ray."""
    return {"py_modules": [str(Path(__file__).parent)], "excludes": ["__pycache__"]}


def _connect(address: str) -> bool:
    """Connect to the cluster once per process. False (logged) where Ray is missing or the cluster cannot be
    reached; a failed try is not repeated for ``RETRY_S`` (the head may still be starting)."""
    global _connected, _failed_at
    with _lock:
        if _connected:
            return True
        if _failed_at is not None and time.monotonic() - _failed_at < RETRY_S:
            return False
        try:
            ray = _ray()
            if not ray.is_initialized():
                ray.init(address=address, ignore_reinit_error=True, runtime_env=runtime_env(),
                         logging_level=logging.WARNING)
            _connected = True
        except ImportError:
            log.warning("%s is set, but ray is not installed (pip install -r requirements-ray.txt): "
                        "training in this process", ADDRESS_VARIABLE)
        except (ConnectionError, RuntimeError, TimeoutError, ValueError) as e:
            log.warning("cannot reach the Ray cluster at %s (%s): training in this process", address, e)
        if not _connected:
            _failed_at = time.monotonic()
        return _connected


def _on_cpu(run) -> bool:
    from genlib.timeline import models_of

    return all(p.device.type == "cpu" for model in models_of(run).values() for p in model.parameters())


def maybe_remote(runs: dict) -> dict:
    """``runs`` (name -> run), each trained on the Ray cluster at ``GENLAB_RAY_ADDRESS`` when that is set
    and reachable; otherwise ``runs`` itself. Runs on a GPU stay here (this server has one, then), and so
    does a run that cannot be shipped (logged)."""
    address = os.environ.get(ADDRESS_VARIABLE, "").strip()
    if not address or not _connect(address):
        return runs
    wrapped = {}
    for name, run in runs.items():
        wrapped[name] = run
        if _on_cpu(run):
            try:
                wrapped[name] = RemoteRun(run)
            # something in the run does not pickle, or the cluster went away since the connection
            except (TypeError, ValueError, pickle.PicklingError, ConnectionError) as e:
                log.warning("run %r cannot be shipped to Ray (%s): training it in this process", name, e)
    return wrapped
