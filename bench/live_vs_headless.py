"""Live training in the app against headless ``fit`` (the UI's overhead), and the app's start-up.

Starts ``streamlit run app.py`` on loopback, opens the ELBO & β page in the system Chromium, presses
Train and reads the step counter over a window; then pauses it and runs headless training (``TrainingRun``,
as ``fit`` runs it) on the same model, data and settings in this process for a window as long, resumes,
and so on for ROUNDS rounds: a shared machine's speed drifts by tens of percent within a minute, and
neighbouring windows see the same. The ratio is the median over rounds of live / headless steps per second.
Each round also trains headless on one torch thread, as each live session does (``ui.live``): live against
that separates the UI's own overhead from the second thread that headless training has and live does not.
Also times cold start (process start -> health endpoint "ok" -> home page painted) and the ELBO page's
first paint as a visitor gets there: from the loaded home page, a click on its "ELBO & β" card (the app
switches pages without reloading the browser). Opening the ELBO page by a link in a fresh browser is timed
too: that browser must first load plotly.js (about 3.5 MB of JavaScript), which the home page's figure
otherwise loads while the visitor reads it. Needs Chromium and Playwright (as the browser tests do).

Recording (the timeline of ``ui.live``: weight snapshots, a replay slider) is measured by a second server
started with GENLAB_TIMELINE_MB=0, which records nothing: each round has a live window on each server, so
"live / headless with recording" and "without" come from neighbouring windows of the same rounds.

    python -m bench live_vs_headless
"""

from __future__ import annotations

import re
import statistics
import time

import torch

from genlib.data import load_dataset
from genlib.models import build
from genlib.train import TrainingRun
from tests.browser import CHROMIUM_FLAGS, AppServer, chromium_executable

WINDOW_S = 4.0  # seconds per live window and per headless window
ROUNDS = 4
CONFIG = {"latent_dim": 8, "hidden": (256, 256), "likelihood": "bernoulli", "levels": 17}


def _step(page) -> int:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    return int(re.search(r"step ([\d,]+) of", text).group(1).replace(",", ""))


def _headless_run() -> TrainingRun:
    data = load_dataset("digits", "train", seed=0)
    run = TrainingRun(build("vae", data.shape, seed=0, **CONFIG), data, steps=10**6, batch_size=128, lr=1e-3)
    run.advance(20)
    return run


def _headless_rate(run: TrainingRun, window_s: float) -> float:
    start, first = time.perf_counter(), run.step
    while time.perf_counter() - start < window_s:
        run.advance(50)
    return (run.step - first) / (time.perf_counter() - start)


def _one_thread_rate(run: TrainingRun, window_s: float) -> float:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _headless_rate(run, window_s)
    finally:
        torch.set_num_threads(threads)


def _live_rate(page, window_s: float) -> float:
    first, t = _step(page), time.perf_counter()
    time.sleep(window_s)
    return (_step(page) - first) / (time.perf_counter() - t)


def _start_training(page, url: str) -> None:
    page.goto(f"{url}/elbo?steps=10000")
    page.wait_for_selector(".st-key-beta_plot .js-plotly-plot")
    page.get_by_role("button", name=re.compile("Train")).click()
    page.wait_for_selector('[data-testid="stProgress"]')
    time.sleep(2.0)  # let the chunk size settle


def _pause(page) -> None:
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.wait_for_selector('[data-testid="stProgress"]:has-text("paused")')
    time.sleep(0.5)  # the page's last redraw


def _resume(page) -> None:
    page.get_by_role("button", name=re.compile("Resume")).click()
    page.wait_for_selector('[data-testid="stProgress"]:has-text("training")')
    time.sleep(1.0)


def measure(window_s: float = WINDOW_S, rounds: int = ROUNDS) -> dict:
    from playwright.sync_api import sync_playwright

    if chromium_executable() is None:
        raise RuntimeError("needs the system Chromium (apt-get install -y chromium)")
    headless_run = _headless_run()
    started = time.perf_counter()
    with AppServer() as server, AppServer(env={"GENLAB_TIMELINE_MB": "0"}) as plain, sync_playwright() as p:
        healthy = server.startup_s
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.wait_for_selector("h1")
        home_paint = time.perf_counter() - started
        page.wait_for_selector(".st-key-home_beta svg")  # the home page is loaded (its figure is SVG, ui.svg)
        page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached")
        t = time.perf_counter()
        page.get_by_role("link", name=re.compile("ELBO")).first.click()
        page.wait_for_selector(".st-key-beta_plot .js-plotly-plot")
        page.get_by_role("button", name=re.compile("Train")).wait_for()
        elbo_paint = time.perf_counter() - t
        fresh = browser.new_context(viewport={"width": 1400, "height": 1000})  # no cache: a shared link
        t = time.perf_counter()
        fresh_page = fresh.new_page()
        fresh_page.goto(f"{server.url}/elbo")
        fresh_page.wait_for_selector(".st-key-beta_plot .js-plotly-plot")
        fresh_page.get_by_role("button", name=re.compile("Train")).wait_for()
        elbo_link_paint = time.perf_counter() - t
        fresh.close()
        _start_training(page, server.url)
        _pause(page)
        plain_page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _start_training(plain_page, plain.url)
        _pause(plain_page)
        live, unrecorded, headless, headless_1 = [], [], [], []
        for r in range(rounds):
            order = ((page, live), (plain_page, unrecorded))
            for tab, rates in order if r % 2 == 0 else order[::-1]:  # neither always goes first
                _resume(tab)
                rates.append(_live_rate(tab, window_s))
                _pause(tab)
            headless.append(_headless_rate(headless_run, window_s))
            headless_1.append(_one_thread_rate(headless_run, window_s))
        browser.close()
    ratios = sorted(a / b for a, b in zip(live, headless, strict=True))
    ratios_1 = sorted(a / b for a, b in zip(live, headless_1, strict=True))
    threads = sorted(a / b for a, b in zip(headless_1, headless, strict=True))
    plain_ratios = sorted(a / b for a, b in zip(unrecorded, headless, strict=True))
    return {"unrecorded": sum(unrecorded) / rounds, "ratio_plain": statistics.median(plain_ratios),
            "ratios_plain": plain_ratios,"healthy_s": healthy, "home_paint_s": home_paint, "elbo_paint_s": elbo_paint,
            "elbo_link_paint_s": elbo_link_paint, "live": sum(live) / rounds, "headless": sum(headless) / rounds,
            "ratio": statistics.median(ratios), "ratios": ratios, "ratio_1": statistics.median(ratios_1),
            "ratios_1": ratios_1, "threads": statistics.median(threads)}


def run() -> list[dict]:
    m = measure()
    return [
        {"bench": "app", "figure": "cold start: server healthy", "value": f"{m['healthy_s']:.1f} s",
         "note": "streamlit run app.py -> /_stcore/health ok"},
        {"bench": "app", "figure": "cold start: home page painted", "value": f"{m['home_paint_s']:.1f} s",
         "note": "from process start, in headless Chromium (target <= 4 s)"},
        {"bench": "app", "figure": "ELBO page first paint", "value": f"{m['elbo_paint_s']:.1f} s",
         "note": "click on the home page's card -> β plot and Train button drawn (target <= 2 s)"},
        {"bench": "app", "figure": "ELBO page by a link, fresh browser", "value": f"{m['elbo_link_paint_s']:.1f} s",
         "note": "new browser context (empty cache): loads the app and plotly.js first"},
        {"bench": "live_vs_headless", "figure": "live training in the app", "value": f"{m['live']:.0f} steps/s",
         "note": f"ELBO page, digits VAE 8 / 256-256, {ROUNDS} windows of {WINDOW_S:.0f} s"},
        {"bench": "live_vs_headless", "figure": "headless TrainingRun", "value": f"{m['headless']:.0f} steps/s",
         "note": "same model and settings, this process, a window after each live one"},
        {"bench": "live_vs_headless", "figure": "live / headless", "value": f"{m['ratio']:.2f}x",
         "note": "recording the timeline (the default): median over rounds ("
                 + ", ".join(f"{r:.2f}" for r in m["ratios"]) + "); target >= 0.70x"},
        {"bench": "live_vs_headless", "figure": "live / headless, not recording",
         "value": f"{m['ratio_plain']:.2f}x",
         "note": "GENLAB_TIMELINE_MB=0, the same rounds: median (" + ", ".join(f"{r:.2f}" for r in m["ratios_plain"])
                 + "); recording: the line above"},
        {"bench": "live_vs_headless", "figure": "live / headless on one thread", "value": f"{m['ratio_1']:.2f}x",
         "note": "the UI's own overhead: median over rounds (" + ", ".join(f"{r:.2f}" for r in m["ratios_1"])
                 + f"); one thread / two, headless: {m['threads']:.2f}x"},
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
