"""Downloads of a live page's runs: each trained model as a .safetensors checkpoint (``genlib.checkpoints``: what
``genlib.checkpoints.load``, ``python -m genlib evaluate`` and the Your data page read) and its step records as .csv.

``run_downloads(key, runs)`` draws the buttons for a page's runs (name -> a ``genlib.train.TrainingRun``, a
``genlib.priors.ProbedRun``, or a ``genlib.lockstep.Lockstep``, whose runs each get their own). It is cheap on
every rerun: the bytes are made only when a button is clicked (Streamlit calls ``data`` then, on a thread of its
own) and kept for that run at that step, so a second click at the same step costs nothing.
"""

from __future__ import annotations

import csv
import io
import threading
import weakref

import streamlit as st

from genlib import checkpoints
from genlib.data import NAMES

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # run -> {(kind, step): bytes}
_lock = threading.Lock()


def run_downloads(key: str, runs: dict | None) -> None:
    """Download buttons (model .safetensors, records .csv) for every run of ``runs`` that has trained."""
    trained = [(name, run) for name, run in models_of_runs(runs or {}) if run.step > 0]
    if not trained:
        return
    with st.expander("Download the trained model and its records", icon=":material/download:"):
        for name, run in trained:
            stem = _file_stem(key, name, run)
            with st.container(horizontal=True, vertical_alignment="center"):
                st.caption(f"**{name}** at step {run.step:,}")
                st.download_button("Model (.safetensors)", data=lambda r=run: checkpoint_bytes(r),
                                   file_name=f"{stem}.safetensors", mime="application/octet-stream",
                                   key=f"{key}-download-model-{name}", on_click="ignore", icon=":material/download:",
                                   help="Load it with genlib.checkpoints.load, `python -m genlib evaluate`, "
                                        "or on the Your data page")
                st.download_button("Records (.csv)", data=lambda r=run: records_bytes(r), file_name=f"{stem}.csv",
                                   mime="text/csv", key=f"{key}-download-records-{name}", on_click="ignore",
                                   icon=":material/table:", help="One row per training step, nats per example")


def checkpoint_bytes(run) -> bytes:
    """``run``'s model as a checkpoint, with the data it trained on (a built-in set's name) and its seed."""
    def make():
        base = getattr(run, "run", run)  # a ProbedRun wraps its TrainingRun
        data = getattr(getattr(base, "dataset", None), "name", None)
        extra = {"step": int(run.step)}
        if hasattr(base, "seed"):
            extra["data_seed"] = int(base.seed)  # the pages draw their split with the run's seed
        return checkpoints.to_bytes(run.model, data=data if data in NAMES else None, extra=extra)
    return _cached(run, "model", make)


def records_bytes(run) -> bytes:
    return _cached(run, "records", lambda: records_csv(run.history).encode())


def records_csv(history: list[dict]) -> str:
    """Step records as CSV: one row per record, one column per key in the order keys first appear; a list
    (``kl_per_dim``) becomes one column per entry, ``kl_per_dim[0]``, ``kl_per_dim[1]``, ..."""
    rows = [_flat_record(record) for record in history]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _flat_record(record: dict) -> dict:
    row = {}
    for key, value in record.items():
        if isinstance(value, list | tuple):
            row.update({f"{key}[{i}]": v for i, v in enumerate(value)})
        else:
            row[key] = value
    return row


def models_of_runs(runs: dict):
    """(name, run) for every run with a model: a lock-step group's runs each under "group / name"."""
    for name, run in runs.items():
        inner = getattr(run, "runs", None)
        if isinstance(inner, dict):
            for sub, member in inner.items():
                yield (sub if len(runs) == 1 else f"{name} / {sub}"), member
        elif hasattr(run, "model"):
            yield name, run


def _file_stem(key: str, name: str, run) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{key}-{name}").strip("-")
    return f"{safe}-step{run.step}"


def _cached(run, kind: str, make) -> bytes:
    """make(), kept for ``run`` at its present step (a run that trains on gets new bytes)."""
    step = run.step
    with _lock:
        hit = _cache.get(run, {}).get((kind, step))
    if hit is not None:
        return hit
    made = make()
    with _lock:
        _cache.setdefault(run, {})
        _cache[run] = {k: v for k, v in _cache[run].items() if k[1] == step}  # the run's older bytes go
        _cache[run][(kind, step)] = made
    return made
