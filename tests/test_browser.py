"""The app in the system Chromium: the server starts quickly; live training starts, its curve grows, and
pause stops it. (Every page with one interaction each: tests/test_e2e_pages.py.)"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def test_server_starts_quickly(server):
    assert server.startup_s < 20, f"healthy after {server.startup_s:.1f} s"


def _step(page) -> int:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    match = re.search(r"step ([\d,]+) of", text)
    assert match, f"no step count in {text!r}"
    return int(match.group(1).replace(",", ""))


def test_live_training_starts_grows_and_pauses(server, page):
    page.goto(f"{server.url}/elbo?steps=10000")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Train")).click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=30000)
    first = _step(page)
    deadline = time.time() + 30
    while _step(page) <= first and time.time() < deadline:
        time.sleep(0.3)
    grown = _step(page)
    assert grown > first, "the run advances live"
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].length >= 4")
    assert_no_exception(page, "elbo-training")
    screenshot(page, "elbo-training")
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
        ".some(e => e.innerText.includes('paused'))",
        timeout=30000,
    )
    time.sleep(0.5)
    wait_for_app(page)  # a chunk already under way when Pause arrived finishes first
    paused = _step(page)
    time.sleep(1.5)
    assert _step(page) == paused, "a paused run stays where it is"
    assert_no_exception(page, "elbo-paused")
    screenshot(page, "elbo-paused")
