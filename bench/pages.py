"""Each page's first paint in Chromium and the server's peak memory.

One ``streamlit run app.py`` on loopback and the system Chromium (Playwright). First paint: until the
page's first figure is drawn (the title for pages without one) and its script run has finished, two ways:

- click: a visitor on the home page clicks through the sidebar, page after page, in one session (the app
  switches pages without reloading the browser), each page at once after the last. These are the process's
  first visits to each page: its cached data and pretrained models load then. Then the same on a second fresh
  server, by a visitor who reads home for ``READ_HOME_S`` first, as a lecturer opening the app would (the
  browser loads its chart and widget code meanwhile: ``ui.prefetch``).
- link: the page's URL opened in a fresh browser context (a new session with an empty browser cache, as a
  shared link opens on another machine): it loads the app's JavaScript and plotly.js (about 3.5 MB) first.

Peak RSS: the server's VmRSS (/proc/<pid>/status) sampled every 0.1 s across all the visits.
Also the cold start: process launch to a healthy server.
"""

from __future__ import annotations

import re
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


HOME_FIGURE = ".st-key-home_beta svg"  # the home page draws its figure as SVG (ui.svg), not with plotly.js


def _first_paint(browser, url: str, drawn: str) -> tuple[float, float]:
    """Seconds from goto to the browser's load event (the app shell) and to the first paint."""
    from tests.browser import wait_for_app

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60000)
    start = time.perf_counter()
    page.goto(url)
    shell = time.perf_counter() - start
    page.wait_for_selector(drawn)
    wait_for_app(page, 60000)
    seconds = time.perf_counter() - start
    context.close()
    return shell, seconds


def _clicked_paint(page, title: str, drawn: str) -> float:
    """Seconds from a click on the sidebar's link to ``title`` to the new page drawn, its run finished."""
    from tests.browser import wait_for_app

    before = page.locator("h1").first.inner_text()
    start = time.perf_counter()
    link = page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first
    if not link.is_visible():  # the sidebar shows ten pages and a "View 5 more" button
        page.get_by_text(re.compile(r"^View \d+ more$")).first.click()
    link.click()
    page.wait_for_function("(before) => { const h = document.querySelector('h1'); "
                           "return h && h.innerText !== before; }", arg=before)
    wait_for_app(page, 60000)
    page.wait_for_selector(drawn)
    return time.perf_counter() - start


NO_FIGURE = {"tours", "class_board"}  # the list of lectures; the board's lobby (no class joined yet)


def _drawn(info) -> str:
    """What marks ``info``'s page as drawn: its first figure, or its title where it has none."""
    if info.is_home:
        return HOME_FIGURE
    return "h1" if info.url_path in NO_FIGURE else ".js-plotly-plot .main-svg"


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
            clicked, work = _click_through(browser, server.url)
            for info in catalogue():
                url = server.url if info.is_home else f"{server.url}/{info.url_path}"
                shell, link = _first_paint(browser, url, _drawn(info))
                target = "title" if _drawn(info) == "h1" else "first figure"
                how = "goto in a new browser" if info.is_home else "click in the sidebar"
                rows.append({"bench": BENCH, "figure": f"first paint: {info.title}",
                             "value": f"{clicked[info.title]:.2f} s / {link:.2f} s",
                             "note": f"{how} / link in a fresh browser -> {target}, run finished "
                                     f"(app shell after {shell:.2f} s)"})
        finally:
            browser.close()
            halt.set()
            sampler.join(2)
    rows.append({"bench": BENCH, "figure": "server peak RSS", "value": f"{peak[0]:.0f} MB",
                 "note": "VmRSS sampled every 0.1 s while every page opened once"})
    with AppServer({"OMP_NUM_THREADS": "1"}) as server, sync_playwright() as p:  # a second fresh server
        browser = launch(p)
        try:
            read, read_work = _click_through(browser, server.url, read_home_s=READ_HOME_S)
        finally:
            browser.close()
    rows.append({"bench": BENCH, "figure": "browser work, pages clicked at once",
                 "value": f"{work['script']:.2f} s script / {work['tasks']:.2f} s tasks",
                 "note": "the renderer's main thread over the clicks after home (Chromium's Performance metrics)"})
    slowest = max((t, title) for title, t in read.items() if title != catalogue()[0].title)
    rows.append({"bench": BENCH, "figure": f"pages clicked after {READ_HOME_S:.0f} s on home",
                 "value": f"slowest {slowest[0]:.2f} s ({slowest[1]})",
                 "note": "; ".join(f"{title} {t:.2f}" for title, t in read.items())})
    rows.append({"bench": BENCH, "figure": f"browser work, pages clicked after {READ_HOME_S:.0f} s on home",
                 "value": f"{read_work['script']:.2f} s script / {read_work['tasks']:.2f} s tasks",
                 "note": "the same counters over the same clicks"})
    return rows


READ_HOME_S = 5.0  # the second visitor reads home this long (a lecturer opening the app) before clicking


def _click_through(browser, url: str, read_home_s: float = 0.0) -> tuple[dict[str, float], dict[str, float]]:
    """A visitor opens home and clicks through the sidebar, page after page, each at once after the last
    has drawn (after ``read_home_s`` on home): page title -> seconds (home: from goto), and the browser's
    work over the clicks (``_browser_seconds``)."""
    from tests.browser import wait_for_app
    from ui.pages import catalogue

    visitor = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    visitor.set_default_timeout(60000)
    start = time.perf_counter()
    visitor.goto(url)
    visitor.wait_for_selector(HOME_FIGURE)
    wait_for_app(visitor, 60000)
    clicked = {catalogue()[0].title: time.perf_counter() - start}
    visitor.wait_for_timeout(read_home_s * 1000)  # the browser's own clock: its idle work goes on meanwhile
    cdp = visitor.context.new_cdp_session(visitor)
    cdp.send("Performance.enable")
    before = _browser_seconds(cdp)
    for info in catalogue()[1:]:  # the process's first visit to each page
        clicked[info.title] = _clicked_paint(visitor, info.title, _drawn(info))
    after = _browser_seconds(cdp)
    visitor.context.close()
    return clicked, {key: after[key] - before[key] for key in after}


def _browser_seconds(cdp) -> dict[str, float]:
    """The page's renderer's seconds so far: running JavaScript (script) and every task of its main thread
    (tasks), from Chromium's own counters: steadier than wall time on a machine whose speed drifts."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"script": metrics["ScriptDuration"], "tasks": metrics["TaskDuration"]}


if __name__ == "__main__":
    from bench import table

    print(table(run()))
