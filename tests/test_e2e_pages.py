"""Every catalogued page end to end in Chromium: it renders with no exception box, its main figure is
drawn, and one real interaction (a slider moved with the keyboard, a toggle, a radio, or start and pause
of live training) leaves it without an exception. Screenshots go to test-artifacts/e2e-*.png.

Pages not in INTERACTIONS get the default, "move the first slider", so a new page is covered with no edit.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app
from ui.pages import catalogue

pytestmark = pytest.mark.browser

PLOTLY = ".js-plotly-plot"


def settle(page, timeout_ms: int = 30000) -> None:
    """Let a rerun start, then wait for it to finish."""
    time.sleep(0.6)
    wait_for_app(page, timeout_ms)


def move_first_slider(page) -> str:
    """Focus the first slider (sidebar first) and press the right arrow: one step, one rerun."""
    thumbs = page.locator('[data-testid="stSlider"] input[type="range"]')
    if not thumbs.count():
        return choose_radio(page)
    thumb = thumbs.first
    before = thumb.get_attribute("aria-valuetext")
    at_max = thumb.input_value() == thumb.get_attribute("max")
    thumb.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    settle(page)
    after = page.locator('[data-testid="stSlider"] input[type="range"]').first.get_attribute("aria-valuetext")
    assert after != before, f"the slider did not move ({before} -> {after})"
    return f"slider {before} -> {after}"


def choose_radio(page) -> str:
    """Pick the second option of the first radio group."""
    options = page.locator('[data-testid="stRadio"]').first.locator("label")
    assert options.count() >= 2, "the page has no slider and no radio to interact with"
    options.nth(1).click()
    settle(page)
    return f"radio -> {options.nth(1).inner_text()}"


def flip_toggle(page) -> str:
    """Flip the first toggle (the sidebar's lecture mode where the page has none)."""
    box = page.locator('[data-testid="stCheckbox"]').first
    toggle = box.locator("input").first
    before = toggle.is_checked()
    box.locator("label").first.click()
    settle(page)
    assert toggle.is_checked() != before, "the toggle did not flip"
    return f"toggle {before} -> {not before}"


def train_then_pause(page) -> str:
    """Press Train, wait for the progress bar to move, press Pause."""
    page.get_by_role("button", name=re.compile(r"^\W*(play_arrow)?\s*(Train|Resume)")).first.click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=30000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
        ".some(e => /step [1-9][\\d,]* of/.test(e.innerText))", timeout=30000)
    page.get_by_role("button", name=re.compile("Pause")).first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
        ".some(e => /paused|done/.test(e.innerText))",
        timeout=30000)
    return "train + pause"


def open_a_class(page) -> str:
    """The Class board's lobby: open a class; the board of the new class replaces the lobby."""
    title = page.locator(".st-key-board-open-title input").first
    title.fill("Lecture 1")
    title.press("Enter")
    settle(page)
    page.locator(".st-key-board-open button").first.click()
    page.wait_for_function("() => /Lecture 1 · class [A-Z2-9]{6}/.test(document.body.innerText)", timeout=30000)
    return "class opened"


# page stem -> (interaction, whether the page draws a plotly figure before any interaction)
INTERACTIONS = {
    "00_home": (flip_toggle, False),
    "05_tours": (flip_toggle, False),
    "10_elbo": (train_then_pause, True),
    "60_pixelcnn": (choose_radio, True),
    "85_class_board": (open_a_class, False),
}
DEFAULT = (move_first_slider, True)


@pytest.mark.parametrize("info", catalogue(), ids=lambda i: i.path.stem)
def test_page_renders_its_figure_and_survives_one_interaction(server, page, info):
    name = info.path.stem
    interact, has_figure = INTERACTIONS.get(name, DEFAULT)
    page.goto(server.url if info.is_home else f"{server.url}/{info.url_path}")
    wait_for_app(page)
    page.wait_for_selector("h1")
    if has_figure:
        page.wait_for_selector(PLOTLY, state="attached")
    assert_no_exception(page, f"e2e-{name}")
    screenshot(page, f"e2e-{name}")
    interact(page)
    assert_no_exception(page, f"e2e-{name}-after")
    # New settings may leave no pretrained model to show: then the page says so (Press Train ...).
    if has_figure:
        page.wait_for_function(f"() => document.querySelector('{PLOTLY}')"
                               " || document.querySelector('[data-testid=\"stAlert\"]')")
    assert_no_exception(page, f"e2e-{name}-after")
    screenshot(page, f"e2e-{name}-after")


def test_home_draws_its_figure_without_plotly_and_the_browser_fetches_plotly_behind_it(server, page):
    """Home's figure is SVG (ui.svg): it draws no plotly chart, yet the browser loads Streamlit's plotly
    module in its idle time (ui.prefetch), then the other modules pages need (widgets, math, the table, the
    code block), so the pages clicked next do not wait for them."""
    page.goto(server.url)
    wait_for_app(page)
    page.wait_for_selector(".st-key-home_beta svg")
    assert page.locator(".st-key-home_beta svg polyline").count() == 3  # the three schedules
    assert page.locator(PLOTLY).count() == 0
    for stem in ("PlotlyChart", "DataFrame", "StreamlitSyntaxHighlighter"):  # the first, a later and the last
        page.wait_for_function("(stem) => performance.getEntriesByType('resource')"
                               ".some(e => e.name.split('/').pop().startsWith(stem + '.'))", arg=stem, timeout=30000)
    assert_no_exception(page, "e2e-home-prefetch")
