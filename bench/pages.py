"""Each page's first paint in Chromium and the server's peak memory.

One ``streamlit run app.py`` on loopback and the system Chromium (Playwright). First paint: from
``page.goto`` to the page's first figure drawn (the title for pages without one) with the script run
finished, in a fresh browser context (a new session): the process's first visit to the page (its
cached data and pretrained models load) and a second session's (shared caches warm). Peak RSS:
the server's VmRSS (/proc/<pid>/status) sampled every 0.1 s across all the visits.
Also the cold start: process launch to a healthy server.
"""

from __future__ import annotations

import threading
import time

BENCH = "pages"


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc (psutil is not a dependency)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _first_paint(browser, url: str, figure: bool) -> tuple[float, float]:
    """Seconds from goto to the browser's load event (the app shell) and to the first paint."""
    from tests.browser import wait_for_app

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60000)
    start = time.perf_counter()
    page.goto(url)
    shell = time.perf_counter() - start
    page.wait_for_selector(".js-plotly-plot .main-svg" if figure else "h1")
    wait_for_app(page, 60000)
    seconds = time.perf_counter() - start
    context.close()
    return shell, seconds


def run() -> list[dict]:
    from playwright.sync_api import sync_playwright

    from tests.browser import AppServer, chromium_executable, launch
    from ui.pages import catalogue

    if chromium_executable() is None:
        return [{"bench": BENCH, "figure": "first paint", "value": "skipped", "note": "no system Chromium"}]
    rows, peak = [], [0.0]
    with AppServer({"OMP_NUM_THREADS": "1"}) as server, sync_playwright() as p:
        rows.append({"bench": BENCH, "figure": "cold start to healthy", "value": f"{server.startup_s:.2f} s",
                     "note": "process launch to /_stcore/health ok"})
        halt = threading.Event()

        def sample():
            while not halt.is_set():
                peak[0] = max(peak[0], rss_mb(server.proc.pid))
                halt.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        browser = launch(p)
        try:
            for info in catalogue():
                figure = not info.is_home
                url = server.url if info.is_home else f"{server.url}/{info.url_path}"
                shell, cold = _first_paint(browser, url, figure)  # the process's first visit: caches fill
                _, warm = _first_paint(browser, url, figure)  # a new session, shared caches warm
                target = "first figure" if figure else "title"
                rows.append({"bench": BENCH, "figure": f"first paint: {info.title}",
                             "value": f"{cold:.2f} s / {warm:.2f} s",
                             "note": f"goto -> {target}, run finished: first visit / next session "
                                     f"(app shell loaded after {shell:.2f} s)"})
        finally:
            browser.close()
            halt.set()
            sampler.join(2)
    rows.append({"bench": BENCH, "figure": "server peak RSS", "value": f"{peak[0]:.0f} MB",
                 "note": "VmRSS sampled every 0.1 s while every page opened once"})
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
