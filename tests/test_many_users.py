"""Ten users at once: one server on loopback, one Chromium, ten browser contexts on the ELBO page.

Each session opens its own settings (latent dimensions 2..11, seed 0..9) and presses Train. The cap on
concurrent trainings (the app's default, one per CPU core: 2 here) lets that many train live for ~10 s while
the others are told the app is busy. Throughout (while the ten sessions open the page at once, train, and
are read back) the health endpoint answers within 1 s (polled from a process of its own); the live
reruns' p95 interval stays <= 2 s, and the server's RSS (/proc/<pid>/status) stays bounded. At the
end each session still shows its own settings and, for the trainers, a model with its own latent size.

Playwright's sync API is not thread-safe: the ten pages are driven round-robin from this thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bench.board_load import PROBE
from bench.pages import rss_mb
from tests.browser import ARTIFACTS, AppServer, assert_no_exception, launch, require_browser, screenshot, wait_for_app

pytestmark = pytest.mark.browser

N_USERS = 10
CAP = int(os.environ.get("GENLAB_MANY_USERS_CAP", str(os.cpu_count() or 2)))  # the app's default cap
TRAIN_S = 10.0
HEALTH_LIMIT_S, RERUN_P95_LIMIT_S, RSS_LIMIT_MB = 1.0, 2.0, 3000
# Measured on 2 cores, where the server, ten browser contexts (at a lower priority: see
# _lower_priority_of_our_browser) and this test share the CPU, slowest health answers (loading / training /
# checking): 0.59 / 0.22 / 0.21 s, 0.50 / 0.28 / 0.00 s, 0.56 / 0.55 / 0.00 s, 0.69 / 0.24 / 0.50 s; with no
# source-file watcher (.streamlit/config.toml), on an AMD EPYC: 0.46 / 0.20 / 0.00 s, 0.20 / 0.06 / 0.01 s,
# 0.20 / 0.28 / 0.00 s (1.2-2.2 s while loading with the watcher). (1.9-3.3 s while loading before
# Streamlit's gc.collect(2) after every script run was switched off.)
BUSY = "The app is busy"


# The health probe runs in a process of its own (bench.board_load.PROBE): in this test's process, Playwright's
# driver competes for the GIL and would add its own delays to what is meant to measure the server.


class HealthPoller(threading.Thread):
    """Polls /_stcore/health every 0.25 s from a child process, and the server's RSS from this thread."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.rss, self.phases = server, [], [(time.time(), "loading")]
        self.halt = threading.Event()
        self.out = ARTIFACTS / "many-users-health.txt"
        self.probe = None

    @property
    def phase(self) -> str:
        return self.phases[-1][1]

    @phase.setter
    def phase(self, name: str) -> None:  # set by the test: loading, training, checking
        self.phases.append((time.time(), name))

    def _phase_at(self, t: float) -> str:
        return [name for start, name in self.phases if start <= t][-1] if t >= self.phases[0][0] else "loading"

    def _polls(self) -> list[tuple[str, float, str]]:
        rows = [line.split() for line in self.out.read_text().splitlines() if line.count(" ") == 2]
        return [(self._phase_at(float(t)), float(s), status) for t, s, status in rows]

    @property
    def latencies(self) -> list[tuple[str, float]]:
        return [(phase, s) for phase, s, _ in self._polls()]

    @property
    def failures(self) -> list[str]:
        return [f"{phase}: {status} after {s:.1f} s" for phase, s, status in self._polls() if status != "ok"]

    def slowest(self, phase: str) -> float:
        return max((s for ph, s in self.latencies if ph == phase), default=float("nan"))

    def run(self):
        ARTIFACTS.mkdir(exist_ok=True)
        self.probe = subprocess.Popen([sys.executable, "-c", PROBE, f"{self.server.url}/_stcore/health", str(self.out)])
        while not self.halt.is_set():
            self.rss.append(rss_mb(self.server.proc.pid))
            self.halt.wait(0.25)
        self.probe.terminate()
        self.probe.wait(5)


def _progress(page) -> str | None:
    bars = page.locator('[data-testid="stProgress"]')
    return bars.first.inner_text() if bars.count() else None


def _step(text: str | None) -> int | None:
    match = re.search(r"step ([\d,]+) of", text or "")
    return int(match.group(1).replace(",", "")) if match else None


def _slider_value(page, label: str) -> str:
    return page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]').first.get_attribute(
        "aria-valuetext")


def _kl_bars(page) -> int | None:
    """Bars in this page's "KL per latent dimension" chart (None when it is not drawn)."""
    return page.evaluate("""() => {
        for (const el of document.querySelectorAll('.js-plotly-plot')) {
            const title = el.layout && el.layout.title && (el.layout.title.text || el.layout.title);
            if (String(title).includes('KL per latent dimension')) return el.data[0].x.length;
        }
        return null; }""")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime + stime, and cutime + cstime: a child's time moves there when it ends (the sum never drops)
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _other_workers_cpu() -> float:
    """CPU seconds so far of the other pytest-xdist workers (our parent's other children) and everything
    they started (a CLI test's processes)."""
    parents = {int(p.name): _parent(int(p.name)) for p in Path("/proc").glob("[0-9]*")}
    tree = {pid for pid, parent in parents.items() if parent == os.getppid() and pid != os.getpid()}
    while grown := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= grown
    return sum(_cpu_seconds(pid) for pid in tree)


def _wait_for_the_other_workers(timeout_s: float = 300.0) -> None:
    """Under pytest-xdist, wait (at most ``timeout_s``) until the other workers are idle: this test measures
    the server's answers on a machine it has to itself, as it was calibrated. With the unit tests' worker
    beside it (at idle priority, tests/conftest.py) the health answers while loading took 0.75 s (0.20-0.46 s
    alone). Linux only (/proc); elsewhere, and outside xdist, it returns at once."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not Path("/proc/self/stat").exists():
        return
    deadline, before = time.time() + timeout_s, _other_workers_cpu()
    while time.time() < deadline:
        time.sleep(1.0)
        now = _other_workers_cpu()
        if now - before < 0.05:
            return
        before = now


def _lower_priority_of_our_browser(niceness: int = 10) -> None:
    """Ten users' browsers run on ten machines in a class, not on the server's two cores. Here they share
    them, and each new context's renderer parsing Streamlit's scripts starved the server of CPU: health
    answers took 1.1-1.7 s in about half the runs while pages opened, whichever code was served (measured
    on 2 cores of an Intel Xeon, 2026-11-25). At niceness 10 the browser still gets every idle cycle, and
    the server's own worst answer is what is measured: 0.50-0.69 s while loading, 0.22-0.55 s while
    training (4 runs).
    Renderers started later are forked from these processes and inherit it. Linux only (/proc)."""
    me = os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        pid, ancestor = int(proc.name), int(proc.name)
        for _ in range(16):  # our own descendants only: walk up a few parents
            ancestor = _parent(ancestor)
            if ancestor in (0, 1, me):
                break
        try:
            if ancestor == me and "chrom" in (proc / "comm").read_text():
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError:
            pass


def test_ten_sessions_train_at_once_isolated_healthy_and_capped():
    require_browser()
    _wait_for_the_other_workers()
    from playwright.sync_api import sync_playwright

    env = {"GENLAB_MAX_TRAINING": str(CAP), "OMP_NUM_THREADS": "1"}
    with AppServer(env) as server, sync_playwright() as p:
        poller = HealthPoller(server)
        poller.start()
        browser = launch(p)
        _lower_priority_of_our_browser()
        pages = []
        try:
            for i in range(N_USERS):  # each user: a context of its own (own cookies, own session)
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.set_default_timeout(60000)
                page.goto(f"{server.url}/elbo?latent={2 + i}&seed={i}&steps=10000")
                pages.append(page)
            for page in pages:
                wait_for_app(page, 60000)
                page.wait_for_selector('[data-testid="stSlider"]')

            trainers, busy = [], []
            for i, page in enumerate(pages):  # one at a time, so the first CAP get the slots
                page.get_by_role("button", name=re.compile("Train")).first.click()
                page.wait_for_function(
                    "() => document.querySelector('[data-testid=\"stProgress\"]')"
                    f" || document.body.innerText.includes('{BUSY}')", timeout=60000)
                (busy if page.get_by_text(BUSY).count() else trainers).append(i)
            assert len(trainers) == CAP and len(busy) == N_USERS - CAP, (trainers, busy)

            poller.phase = "training"
            updates = {i: [] for i in trainers}  # (time, step) whenever a trainer's progress changed
            start = time.time()
            while time.time() - start < TRAIN_S:
                for i in trainers:
                    step = _step(_progress(pages[i]))
                    if step is not None and (not updates[i] or updates[i][-1][1] != step):
                        updates[i].append((time.time(), step))
                time.sleep(0.05)
            for i in busy:  # the busy sessions never started a run of their own
                assert _progress(pages[i]) is None, f"user {i} was told busy but shows a run"
            for i in trainers:
                screenshot(pages[i], f"many-users-{i}-training")
                pages[i].get_by_role("button", name=re.compile("Pause")).first.click()

            poller.phase = "checking"
            for i, page in enumerate(pages):
                wait_for_app(page, 60000)
                assert_no_exception(page, f"many-users-{i}")
                assert _slider_value(page, "Latent dimensions D") == str(2 + i), f"user {i} lost its latent dim"
                assert page.locator('[data-testid="stNumberInput"] input').first.input_value() == str(i)
                if i in trainers:  # its own model: as many KL bars as its own latent dimensions
                    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                                           "e => String(e.layout?.title?.text).includes('KL per latent'))")
                    assert _kl_bars(page) == 2 + i, f"user {i} sees another session's model"
        finally:
            poller.halt.set()
            poller.join(5)
            browser.close()

    gaps = np.concatenate([np.diff([t for t, _ in u]) for u in updates.values() if len(u) > 1])
    steps = {i: u[-1][1] for i, u in updates.items() if u}
    report = (f"health max (loading / training / checking) {poller.slowest('loading'):.2f} / "
              f"{poller.slowest('training'):.2f} / {poller.slowest('checking'):.2f} s over "
              f"{len(poller.latencies)} polls, failures {poller.failures[:3]}; live rerun interval "
              f"p50 {np.percentile(gaps, 50):.2f} s, p95 {np.percentile(gaps, 95):.2f} s (n={len(gaps)}); "
              f"RSS peak {max(poller.rss):.0f} MB (start {poller.rss[0]:.0f} MB); steps trained {steps}")
    print(report)
    (ARTIFACTS / "many-users.txt").write_text(report + "\n")
    assert not poller.failures, report
    assert max(s for _, s in poller.latencies) < HEALTH_LIMIT_S, report
    assert all(s > 0 for s in steps.values()) and len(steps) == CAP, report
    assert np.percentile(gaps, 95) <= RERUN_P95_LIMIT_S, report
    assert max(poller.rss) < RSS_LIMIT_MB, report
