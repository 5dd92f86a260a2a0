"""Live training: Train / Pause / Reset outside a fragment that advances the runs in short chunks.

State lives in ``st.session_state`` (one ``LiveState`` per key). The fragment re-runs a few times a second
while training; each tick calls ``draw(runs)``, then advances every active run round-robin by a chunk sized
so the whole tick's training stays near ``budget_s`` (the browser draws while the server trains). The charts
a training tick draws keep their place on the page and take the new figures (``ui.inplace``); a full run
(Pause, the end, a new setting) draws them anew. No Streamlit call happens inside a chunk and no thread
touches Streamlit. A process-wide cap bounds how many sessions train at once; beyond it a session is told
the app is busy instead of slowing everyone down.

A "run" is anything with ``advance(n) -> list``, ``done``, ``stopped``, ``step`` and ``steps``
(``genlib.train.TrainingRun`` and the lock-step runs of the annealing lab).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import streamlit as st
import torch

from ui import inplace

# Sessions training at once: by default one per CPU core, since more only slows every one of them down.
MAX_TRAINING_SESSIONS = int(os.environ.get("GENLAB_MAX_TRAINING", str(os.cpu_count() or 2)))
# A tick draws, then trains for BUDGET_S: ~95 % of a tick's server time trains, ~5 % draws (~0.02 s for the
# ELBO page's four figures; ui.figures builds them without plotly's validation). While training, the charts
# are updated in place (ui.inplace): the browser spends ~0.14 s of main-thread time a tick on the ELBO page,
# 0.26-0.36 of a core, against 0.21 s and 0.52 of a core when Streamlit mounted each changed chart afresh.
# On 2 cores live training keeps 0.68-1.08x of headless speed (python -m bench live_vs_headless, 9 runs of
# paired rounds, 2026-11-25; 0.66-0.82x and 0.63-0.75x on two earlier machines). Its ceiling is one torch
# thread against headless's two (0.72-1.15x on the same machine); against headless on one thread the app
# keeps 0.89-0.98x. Budgets of 0.5-0.6 s measured the same within the machine's noise; training in a worker
# thread while the tick draws gained nothing side by side (the two contend for the GIL). DESIGN.md's chunks
# of ~150 ms cost too much here: a tick has a fixed cost (Streamlit re-running the fragment, drawing, the
# browser asking for the next tick), and with GENLAB_TICK_BUDGET=0.15 live training kept 0.35x and 0.49x of
# headless at 4 Hz (0.44-0.47x of one thread), 0.54x at 8 Hz (0.71x of one thread). So a tick trains 0.4 s,
# and Pause answers within about that.
# Streamlit's collection of all garbage after each script run (0.15 s holding the GIL) is switched off in
# .streamlit/config.toml (runner.postScriptGC). The timer asks for the next tick while one runs, so ticks
# follow each other at once.
TICK_HZ = float(os.environ.get("GENLAB_TICK_HZ", "4"))  # fragment re-runs per second while training (at most)
BUDGET_S = float(os.environ.get("GENLAB_TICK_BUDGET", "0.4"))  # training time per tick, all runs together

# One intra-op thread per training: the server trains several sessions at once and the browser draws on
# the same cores; a second OpenMP thread per op then waits on them (measured on 2 cores, paired: live training
# fell from 0.69x to 0.39x of headless speed; with OMP_WAIT_POLICY=PASSIVE, from 0.64-0.74x to 0.47-0.56x;
# with the charts updated in place, from 0.69-0.72x to 0.55-0.68x).
# GENLAB_TORCH_THREADS overrides it on a bigger machine.
torch.set_num_threads(int(os.environ.get("GENLAB_TORCH_THREADS", "1")))

_lock = threading.Lock()
_training: dict[str, float] = {}  # "session-id/key" -> last tick time, for every run training now
STALE_S = 30.0  # a slot with no tick for this long belongs to a closed tab: it is freed


@dataclass
class LiveState:
    runs: dict | None = None
    signature: Hashable = None
    training: bool = False
    seconds_per_step: float = 0.005  # running estimate for one step of one run, sizes the chunks
    message: str | None = None  # why training could not start or stopped
    charts: inplace.Stretch | None = None  # while training: the charts redrawn in place (ui.inplace)


def _session_id() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx else "bare"
    except Exception:  # noqa: BLE001 - outside a Streamlit run
        return "bare"


def _slot(key: str) -> str:
    return f"{_session_id()}/{key}"


def _acquire(key: str) -> bool:
    with _lock:
        slot, now = _slot(key), time.time()
        for other, last in list(_training.items()):
            if now - last > STALE_S:
                del _training[other]
        if slot not in _training and len(_training) >= MAX_TRAINING_SESSIONS:
            return False
        _training[slot] = now
        return True


def _release(key: str) -> None:
    with _lock:
        _training.pop(_slot(key), None)


def training_count() -> int:
    with _lock:
        return len(_training)


def state(key: str) -> LiveState:
    return st.session_state.setdefault(f"live::{key}", LiveState())


def get_runs(key: str) -> dict | None:
    return state(key).runs


def is_training(key: str) -> bool:
    return state(key).training


def _start(key: str, make_runs: Callable[[], dict]) -> None:
    s = state(key)
    s.message = None
    if not _acquire(key):
        s.message = (f"The app is busy: {MAX_TRAINING_SESSIONS} sessions are training right now. "
                     "Try again in a minute (or look at the pretrained results meanwhile).")
        return
    if s.runs is None or all(r.done for r in s.runs.values()):
        try:
            s.runs = make_runs()
        except (ValueError, TypeError, RuntimeError) as e:
            _release(key)
            s.message = f"Cannot train with these settings: {e}"
            return
    s.training = True


def _pause(key: str) -> None:
    state(key).training = False
    _release(key)


def _reset(key: str) -> None:
    s = state(key)
    s.training, s.runs, s.message = False, None, None
    _release(key)


def live_controls(key: str, make_runs: Callable[[], dict], signature: Hashable = None, *,
                  train_label: str = "Train") -> LiveState:
    """Train / Pause / Reset for the runs under ``key``. New settings (``signature``) reset the runs."""
    s = state(key)
    if s.signature != signature:
        if s.runs and any(r.step for r in s.runs.values()):  # say so when a change throws training away
            st.toast(f"The settings changed, so the run was reset at {progress_text(s.runs)}. "
                     "Press **Train** to train with the new settings.", icon=":material/restart_alt:")
        _reset(key)
        s.signature = signature
    finished = s.runs is not None and all(r.done for r in s.runs.values())
    label = train_label if s.runs is None or finished else "Resume"
    cols = st.columns([1, 1, 1, 3])
    cols[0].button(label, key=f"{key}-train", type="primary", disabled=s.training, on_click=_start,
                   args=(key, make_runs), icon=":material/play_arrow:")
    cols[1].button("Pause", key=f"{key}-pause", disabled=not s.training, on_click=_pause, args=(key,),
                   icon=":material/pause:")
    cols[2].button("Reset", key=f"{key}-reset", disabled=s.runs is None, on_click=_reset, args=(key,),
                   icon=":material/restart_alt:")
    if s.message:
        st.warning(s.message)
    return s


def _advance(s: LiveState, budget_s: float) -> None:
    """One tick: every unfinished run advances by the same chunk, round-robin, within ``budget_s``."""
    active = [r for r in s.runs.values() if not r.done]
    if not active:
        return
    chunk = max(1, int(budget_s / (s.seconds_per_step * len(active))))
    start, steps = time.perf_counter(), 0
    for run in active:
        steps += len(run.advance(chunk))
    if steps:
        measured = (time.perf_counter() - start) / steps
        s.seconds_per_step = 0.5 * s.seconds_per_step + 0.5 * measured


def progress_text(runs: dict) -> str:
    step = min(r.step for r in runs.values())
    total = max(r.steps for r in runs.values())
    return f"step {step:,} of {total:,}"


def live_fragment(key: str, draw: Callable[[dict | None], None], *, hz: float = TICK_HZ,
                  budget_s: float = BUDGET_S) -> None:
    """Draw ``draw(runs)`` in a fragment that, while training, advances the runs after each draw."""
    s = state(key)
    s.charts = None  # a full run draws every chart anew; the ticks that follow update them in place

    @st.fragment(run_every=1.0 / hz if s.training else None)
    def tick():
        s = state(key)
        # Draw first, then train: the browser receives this tick's figures while the chunk trains. The other
        # order loses them. The timer has asked for the next tick by the time a chunk ends, and Streamlit
        # starts it at once, dropping this fragment's deltas that are not yet sent; drawn last, most were not
        # (on the ELBO page the prior samples reached the browser once in 20 ticks).
        if s.runs:
            done = all(r.done for r in s.runs.values())
            fraction = min(r.step / r.steps for r in s.runs.values())
            st.progress(fraction, text=progress_text(s.runs) + (" — done" if done else
                                                                 " — training" if s.training else " — paused"))
        if s.training:  # the charts stay on the page and take this tick's figures (ui.inplace)
            s.charts = s.charts or inplace.Stretch()
        with inplace.tick(s.charts) if s.training else contextlib.nullcontext():
            draw(s.runs)
        if s.training and s.runs:
            _acquire(key)  # refresh this session's slot
            _advance(s, budget_s / training_count())  # sessions training together share the tick budget
            stopped = [f"{name}: {r.stopped}" for name, r in s.runs.items() if r.stopped]
            if stopped:
                s.message = "Training stopped. " + " ".join(stopped)
            if all(r.done for r in s.runs.values()):
                s.training = False
                _release(key)
                st.rerun()  # a full rerun draws the end: the buttons change and the timer stops

    tick()
