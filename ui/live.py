"""Live training: Train / Pause / Reset outside a fragment that advances the runs in short chunks.

State lives in ``st.session_state`` (one ``LiveState`` per key). The fragment re-runs a few times a second
while training; each tick calls ``draw(runs)``, then advances every active run round-robin by a chunk sized
so the whole tick's training stays near ``budget_s`` (the browser draws while the server trains). The charts
a training tick draws keep their place on the page and take the new figures (``ui.inplace``); a full run
(Pause, the end, a new setting) draws them anew. No Streamlit call happens inside a chunk and no thread
touches Streamlit. A process-wide cap bounds how many sessions train at once; beyond it a session is told
the app is busy instead of slowing everyone down.

A "run" is anything with ``advance(n) -> list``, ``done``, ``stopped``, ``step`` and ``steps``
(``genlib.train.TrainingRun`` and the lock-step runs of the annealing lab). A page's runs of one architecture
(the objectives page's VAE and β-VAE: ``TrainingRun``s, bare or probed) train as one stack
(``genlib.batched``), as the lab's do, each keeping its own timeline and probes.

Time is the presenter's: **Step** and **Step ×10** take one or ten optimiser steps (from a fresh, paused or
finished run, which they extend), slow motion takes one step a tick with the step dissected
(``genlib.dissect``), and the keys space (train / pause), → (step) and r (reset) press the buttons. Every
run records its timeline (``genlib.timeline``: its weights every few steps, at most 50 snapshots, within
``TIMELINE_MB`` per session); while paused or finished, the replay slider hands ``draw`` the runs as they
were at the chosen step, and every step-axis chart shows a cursor there (``ui.state.plot``).
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

from genlib import batched, remote
from genlib.dissect import summary
from genlib.timeline import Timeline
from genlib.train import TrainingRun
from ui import board, cursor, downloads, inplace

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

# The weight snapshots of every live page of a session together stay under this many MB (0: record nothing,
# the scrubber is then not offered). Each page's runs share the session's budget equally.
TIMELINE_MB = float(os.environ.get("GENLAB_TIMELINE_MB", "64"))
SLOW_HZ = 1.0  # slow motion: one step a tick, this many ticks a second
STEP_MANY = 10  # the steps of "Step ×10"
SPEEDS = ("Normal", "Slow motion")
KEYS_HELP = "Keys: **space** train / pause · **→** one step · **r** reset"

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
    timelines: dict | None = None  # run name -> genlib.timeline.Timeline, when recording
    dissections: dict | None = None  # run name -> genlib.dissect.summary of the step last taken by Step/slow
    views: tuple | None = None  # (step, {run name -> view}): the runs as they were at the replay step
    settings: dict | None = None  # the page's URL-bound settings, for a post to the class board (ui.board)


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
    if (s.runs is None or all(r.done for r in s.runs.values())) and not _new_runs(s, make_runs):
        _release(key)
        return
    s.training = True


def _new_runs(s: LiveState, make_runs: Callable[[], dict]) -> bool:
    """Fresh runs (and their timelines) for ``s``; False, with the reason in ``s.message``, if they cannot be made."""
    try:
        s.runs = remote.maybe_remote(make_runs())  # on a Ray cluster where GENLAB_RAY_ADDRESS names one
    except (ValueError, TypeError, RuntimeError) as e:
        s.message = f"Cannot train with these settings: {e}"
        return False
    s.timelines = {name: Timeline(run) for name, run in s.runs.items()} if TIMELINE_MB > 0 else None
    s.dissections, s.views = None, None
    _share_budget()
    return True


def _share_budget() -> None:
    """Give every recording live page of this session an equal part of ``TIMELINE_MB``."""
    recording = [v for k, v in st.session_state.items() if str(k).startswith("live::")
                 and isinstance(v, LiveState) and v.timelines]
    for s in recording:
        for timeline in s.timelines.values():
            timeline.budget_bytes = int(TIMELINE_MB * 2**20 / len(recording) / len(s.timelines))
            timeline.thin()  # a paused page's timeline fits its new share now, not at its next record


def _train(s: LiveState, name: str, run, n_steps: int, *, dissect: bool = False) -> int:
    """Advance ``run`` by up to ``n_steps``, in pieces that end where its timeline wants a snapshot; with
    ``dissect``, the last step is dissected (``s.dissections[name]``). Returns the steps taken."""
    timeline = (s.timelines or {}).get(name)
    dissect = dissect and hasattr(run, "dissect_next")
    target, taken = min(run.steps, run.step + n_steps), 0
    if timeline and not dissect and isinstance(run, TrainingRun):  # one piece; the snapshots taken inside it
        taken = len(run.advance(target - run.step, inspect=timeline.inspector()))
        timeline.record()
        return taken
    while run.step < target and not run.done:
        end = min(target, timeline.next_due()) if timeline else target
        if dissect and end == target:
            end -= 1  # the last step is taken dissected, below
        got = len(run.advance(end - run.step)) if end > run.step else 0
        if timeline:
            timeline.record()
        if dissect and run.step == target - 1 and not run.done:
            d = run.dissect_next()
            if d is not None:
                s.dissections = {**(s.dissections or {}), name: summary(d)}
                got += 1
                if timeline:
                    timeline.record()
        taken += got
        if not got:
            break
    return taken


def _pause(key: str) -> None:
    state(key).training = False
    _release(key)


def _reset(key: str) -> None:
    s = state(key)
    s.training, s.runs, s.message = False, None, None
    s.timelines, s.dissections, s.views = None, None, None
    st.session_state.pop(f"{key}-replay", None)
    _release(key)


def _step(key: str, make_runs: Callable[[], dict], n_steps: int) -> None:
    """Step / Step ×10: pause, then take ``n_steps`` steps (a finished run is extended), the last dissected."""
    s = state(key)
    _pause(key)
    s.message = None
    if s.runs is None and not _new_runs(s, make_runs):
        return
    for name, run in s.runs.items():
        if run.done and not run.stopped and hasattr(run, "extend"):
            run.extend(n_steps)
        _train(s, name, run, n_steps, dissect=True)
    st.session_state.pop(f"{key}-replay", None)  # the replay slider follows to the new latest step
    _note_stopped(s)


def by_hand(key: str, make_runs: Callable[[], dict], change: Callable[[dict], None]) -> None:
    """Pause, then ``change(runs)`` (a presenter's manual step that changes weights without a training step,
    such as one discriminator step of the AAE); the timelines keep the changed weights at the current step."""
    s = state(key)
    _pause(key)
    s.message = None
    if s.runs is None and not _new_runs(s, make_runs):
        return
    try:
        remote.by_hand(s.runs, change)  # change(s.runs), and a run trained on Ray takes the changed weights
    except (ValueError, RuntimeError) as e:  # a non-finite loss, say: a sentence, not a traceback
        s.message = f"That step could not be taken: {e}"
    for timeline in (s.timelines or {}).values():
        timeline.record(replace=True)
    s.views = None
    st.session_state.pop(f"{key}-replay", None)


def _note_stopped(s: LiveState) -> None:
    stopped = [f"{name}: {r.stopped}" for name, r in s.runs.items() if r.stopped]
    if stopped:
        s.message = "Training stopped. " + " ".join(stopped)


def slow_motion(key: str) -> bool:
    return st.session_state.get(f"{key}-speed") == SPEEDS[1]


def last_dissection(key: str, name: str | None = None) -> dict | None:
    """The ``genlib.dissect.summary`` of the step the presenter last took with Step or in slow motion (of
    run ``name``, else the first run that has one), or None."""
    d = state(key).dissections or {}
    return d.get(name) if name is not None else next(iter(d.values()), None)


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
    s.settings = board.page_settings()  # the sidebar's settings are drawn by now; a fragment run cannot see them
    if st.session_state.pop(f"tour-train::{key}", False) and not s.training:  # a tour's stop trains for you
        _start(key, make_runs)
    finished = s.runs is not None and all(r.done for r in s.runs.values())
    label = train_label if s.runs is None or finished else "Resume"
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(label, key=f"{key}-train", type="primary", disabled=s.training, on_click=_start,
                  args=(key, make_runs), icon=":material/play_arrow:")
        st.button("Pause", key=f"{key}-pause", disabled=not s.training, on_click=_pause, args=(key,),
                  icon=":material/pause:")
        st.button("Step", key=f"{key}-step", on_click=_step, args=(key, make_runs, 1),
                  icon=":material/skip_next:", help="One optimiser step (pauses training), dissected")
        st.button(f"Step ×{STEP_MANY}", key=f"{key}-step10", on_click=_step, args=(key, make_runs, STEP_MANY),
                  icon=":material/fast_forward:", help=f"{STEP_MANY} optimiser steps (pauses training)")
        st.button("Reset", key=f"{key}-reset", disabled=s.runs is None, on_click=_reset, args=(key,),
                  icon=":material/restart_alt:")
        st.segmented_control("Speed", SPEEDS, default=SPEEDS[0], key=f"{key}-speed", label_visibility="collapsed",
                             help="Slow motion: one step a second, each one dissected")
    keys(key)
    if s.message:
        st.warning(s.message)
    return s


_KEYS_JS = """<script>
(() => {
  const w = window, doc = document;
  w.genlabLiveKey = %s;
  if (w.genlabKeysInstalled) return;
  w.genlabKeysInstalled = true;
  const button = (name) => [...doc.querySelectorAll(`.st-key-${w.genlabLiveKey}-${name} button`)]
    .find((b) => b.offsetParent !== null);  // the one drawn (a horizontal row also keeps a hidden copy)
  const usable = (b) => b && !b.disabled;
  doc.addEventListener("keydown", (e) => {
    if (!w.genlabLiveKey || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    if (t && t.closest && t.closest('[role="slider"]')) return;  // arrows move a focused slider
    let target = null;
    if (e.key === " ") target = [button("pause"), button("train")].find(usable);
    else if (e.key === "ArrowRight") target = button("step");
    else if (e.key === "r" || e.key === "R") target = button("reset");
    if (!usable(target)) return;
    e.preventDefault();
    target.click();
  });
})();
</script>"""


def keys(key: str) -> None:
    """space / → / r press this page's Train-or-Pause, Step and Reset buttons (ignored while typing).

    Written here rather than taken from streamlit-shortcuts 1.2.2: its listener cannot give one key to
    two buttons (space is Train or Pause, whichever is enabled), fires while typing in a text box, and
    uses ``components.v1.html``, deprecated in our Streamlit."""
    import json

    st.html(_KEYS_JS % json.dumps(inplace.class_name(key)[len("st-key-"):]), unsafe_allow_javascript=True)
    st.caption(KEYS_HELP)


def _advance(s: LiveState, budget_s: float, *, slow: bool = False) -> None:
    """One tick: every unfinished run advances by the same chunk, round-robin, within ``budget_s`` (in slow
    motion, by one dissected step), and its timeline records."""
    active = [(name, r) for name, r in s.runs.items() if not r.done]
    if not active:
        return
    chunk = 1 if slow else max(1, int(budget_s / (s.seconds_per_step * len(active))))
    start, steps = time.perf_counter(), 0
    for names in [[name] for name, _ in active] if slow else _groups(dict(active)):
        if len(names) == 1:
            steps += _train(s, names[0], s.runs[names[0]], chunk, dissect=slow)
        else:
            steps += _train_stacked(s, names, chunk)
    if slow:
        return
    if steps:
        measured = (time.perf_counter() - start) / steps
        s.seconds_per_step = 0.5 * s.seconds_per_step + 0.5 * measured


def _inner(run) -> TrainingRun | None:
    """The ``TrainingRun`` that trains a page's run: the run itself, or the one inside a ``ProbedRun``;
    None for anything else (a ``Lockstep``, which stacks its own runs, or a run on a Ray cluster)."""
    inner = getattr(run, "run", run)
    return inner if isinstance(inner, TrainingRun) and (inner is run or hasattr(run, "probe_if_due")) else None


def _groups(runs: dict) -> list[list[str]]:
    """The names of ``runs`` in groups that train as one stack (``genlib.batched.groups``: models of one
    architecture, such as the objectives page's VAE and β-VAE), and the rest one name per group."""
    inner = {name: _inner(run) for name, run in runs.items()}
    stackable = {name: r for name, r in inner.items() if r is not None}
    grouped = batched.groups(stackable) if len(stackable) > 1 else [[name] for name in stackable]
    return grouped + [[name] for name, r in inner.items() if r is None]


def _train_stacked(s: LiveState, names: list[str], n_steps: int) -> int:
    """``_train`` for runs that train as one stack: up to ``n_steps`` steps each, in pieces that end where
    one of their timelines wants a snapshot, every timeline recording (and every probe due) after each.
    Returns the steps taken, summed over the runs."""
    runs = [s.runs[name] for name in names]
    inner = [_inner(run) for run in runs]
    timelines = [t for t in ((s.timelines or {}).get(name) for name in names) if t is not None]
    lead = inner[0]
    target, taken = min(lead.steps, lead.step + n_steps), 0
    while lead.step < target and not lead.done:
        end = min([target] + [t.next_due() for t in timelines])
        got = [len(records) for records in batched.StackedRuns(inner).advance(end - lead.step)]
        for t in timelines:
            t.record()
        for run, n in zip(runs, got, strict=True):
            if n and hasattr(run, "probe_if_due"):  # a ProbedRun, whose advance would have probed
                run.probe_if_due()
        taken += sum(got)
        if not any(got):
            break
    return taken


def progress_text(runs: dict) -> str:
    step = min(r.step for r in runs.values())
    total = max(r.steps for r in runs.values())
    return f"step {step:,} of {total:,}"


def _replay_step(key: str, s: LiveState) -> int | None:
    """The replay slider (while paused or finished, with more than one snapshot): the step chosen, or None
    at the latest step."""
    if s.training or not s.runs or not s.timelines:
        return None
    steps = sorted(set().union(*(t.steps() for t in s.timelines.values())))
    if len(steps) < 2:
        return None
    widget = f"{key}-replay"
    if st.session_state.get(widget) not in steps:
        st.session_state[widget] = steps[-1]
    chosen = st.select_slider("Replay: the model at step", steps, key=widget,
                              help="Every figure below shows the model as it was at this step; the curves "
                                   "end there, with a cursor. Move to the right end to come back.")
    return None if chosen == steps[-1] else chosen


def _views(s: LiveState, step: int) -> dict:
    """The runs as they were at ``step`` (each at its nearest snapshot), kept for as long as the step stays."""
    if s.views is None or s.views[0] != step:
        s.views = (step, {name: s.timelines[name].view(s.timelines[name].nearest(step))
                          for name in s.runs})
    return s.views[1]


def live_fragment(key: str, draw: Callable[[dict | None], None], *, hz: float = TICK_HZ,
                  budget_s: float = BUDGET_S) -> None:
    """Draw ``draw(runs)`` in a fragment that, while training, advances the runs after each draw."""
    s = state(key)
    s.charts = None  # a full run draws every chart anew; the ticks that follow update them in place
    slow = slow_motion(key)

    @st.fragment(run_every=(1.0 / (SLOW_HZ if slow else hz)) if s.training else None)
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
        replay = _replay_step(key, s)
        runs = s.runs if replay is None else _views(s, replay)
        total = max((r.steps for r in s.runs.values()), default=0) if s.runs else 0
        with cursor.at(replay, total), inplace.tick(s.charts) if s.training else contextlib.nullcontext():
            draw(runs)
        if s.runs and not s.training:  # the model shown (at the replayed step, while replaying) and its records
            downloads.run_downloads(key, runs)
            board.post_panel(key, runs, s.settings or {})
        if s.training and s.runs:
            _acquire(key)  # refresh this session's slot
            _advance(s, budget_s / training_count(), slow=slow)  # sessions training at once share the budget
            _note_stopped(s)
            if all(r.done for r in s.runs.values()):
                s.training = False
                _release(key)
                st.rerun()  # a full rerun draws the end: the buttons change and the timer stops

    tick()


def dissection_panel(key: str, unit: str = "nats", name: str | None = None) -> None:
    """The last dissected step of this page's run ``name`` (the first that has one): the chain from x to
    the update, lit up stage by stage in slow motion (``ui.figures_dissect``)."""
    from ui.figures_dissect import dissection_html

    d = last_dissection(key, name)
    with st.expander("One step, dissected", expanded=d is not None, icon=":material/biotech:"):
        if d is None:
            st.caption("Press **Step** (or →), or train in **Slow motion**, to take a step apart: the batch, the "
                       "encoder's μ and σ, the noise ε, the code z, the reconstruction, each term of the loss, the "
                       "norm of each term's gradient in every module, and the size of the update per layer.")
            return
        behind = "" if not state(key).training or slow_motion(key) else " (training on: Step or slow motion shows "
        st.caption(f"Step {d['step']:,}{behind}{'the newest)' if behind else ''}. The gradient of the loss is the "
                   "sum of its terms' gradients; a term that does not reach a module (the KL and the decoder) "
                   "sends it 0. Tables show the first examples of the batch.")
        st.html(dissection_html(d, unit=unit, animate=slow_motion(key)))


@contextlib.contextmanager
def replay_shipped(key: str, replay, label: str = "Replay the pretrained runs: step"):
    """A slider over a shipped timeline (``ui.state.cached_replay``); yields the lab as it was at the chosen
    step, with the step-axis charts drawn inside given a cursor there (none at the last step)."""
    lab, timeline = replay
    steps = timeline.steps()
    chosen = st.select_slider(label, steps, value=steps[-1], key=f"{key}-shipped",
                              help="Shipped with the pretrained models: their weights at these steps, the records "
                                   "of every step and the held-out evaluations. Press Train to train anew.")
    cache = st.session_state.setdefault(f"{key}-shipped-view", {})
    if chosen not in cache:
        cache.clear()
        cache[chosen] = timeline.view(chosen)
    with cursor.at(None if chosen == steps[-1] else chosen, lab.steps):
        yield cache[chosen]
