"""The app in the system Chromium: every page renders without an exception box; live training starts,
its curve grows, and pause stops it."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import AppServer, assert_no_exception, launch, require_browser, screenshot, wait_for_app
from ui.pages import catalogue

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    require_browser()
    with AppServer() as s:
        yield s


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30000)
    yield p
    context.close()


def test_server_starts_quickly(server):
    assert server.startup_s < 20, f"healthy after {server.startup_s:.1f} s"


@pytest.mark.parametrize("info", catalogue(), ids=lambda i: i.path.stem)
def test_every_page_renders_without_an_exception(server, page, info):
    url = server.url if info.is_home else f"{server.url}/{info.url_path}"
    page.goto(url)
    wait_for_app(page)
    page.wait_for_selector("h1", timeout=30000)
    time.sleep(0.5)
    assert_no_exception(page, info.path.stem)
    screenshot(page, info.path.stem)


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
        "() => [...document.querySelectorAll('[data-testid=\"stProgress\"]')].some(e => e.innerText.includes('paused'))",
        timeout=30000,
    )
    paused = _step(page)
    time.sleep(1.5)
    assert _step(page) == paused, "a paused run stays where it is"
    assert_no_exception(page, "elbo-paused")
    screenshot(page, "elbo-paused")
