"""Step, the keys and the replay slider on every live page in Chromium: → takes a step, Step ×10 ten more,
moving the replay slider to step 0 redraws the figures with the model of step 0 and puts a cursor on the
curves, space trains and pauses, r resets. Screenshots go to test-artifacts/replay-*.png."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app
from tests.test_step_replay import LIVE_PAGES, URL

pytestmark = pytest.mark.browser

# chart key -> a digest of its traces' data, for every chart on the page
_SIGNATURES = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map((plot, i) => {
  const owner = plot.closest('[class*="st-key-"]');
  const key = owner ? [...owner.classList].find(c => c.startsWith('st-key-')) : 'chart-' + i;
  const text = JSON.stringify((plot.data || []).map(t => [t.x, t.y, t.z, t.source]));
  let h = 0;
  for (let j = 0; j < text.length; j++) h = (h * 31 + text.charCodeAt(j)) | 0;
  return [key, h];
}))"""
_CURSOR_AT_0 = """() => [...document.querySelectorAll('.js-plotly-plot')].some(plot =>
  (plot.layout.shapes || []).some(s => s.type === 'line' && s.x0 === 0 && s.x1 === 0))"""


NO_STEP_AXIS = {"35_posterior_collapse"}  # its figures are a rate–distortion plane and bars: no step axis


def _settle(page) -> None:
    time.sleep(0.6)
    wait_for_app(page, 60000)


def _wait_progress(page, pattern: str) -> None:
    page.wait_for_function(
        "(p) => [...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
        ".some(e => new RegExp(p).test(e.innerText))",
        arg=pattern, timeout=60000)


def _ready(page, key: str) -> None:
    """Wait for the page's live controls and its key listener (the first run has drawn them)."""
    wait_for_app(page, 60000)
    page.wait_for_selector(f".st-key-{key}-step button", timeout=60000)
    page.wait_for_function("(k) => window.genlabLiveKey === k", arg=key, timeout=30000)
    wait_for_app(page, 60000)


def _press(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # the page, not a widget
    page.keyboard.press(key)


@pytest.mark.parametrize("stem", [p.removesuffix(".py") for p in LIVE_PAGES])
def test_step_and_scrub_in_the_browser(server, page, stem):
    query = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in URL.get(f"{stem}.py", {}).items())
    page.goto(f"{server.url}/{stem.split('_', 1)[1]}" + (f"?{query}" if query else ""))
    _ready(page, LIVE_PAGES[f"{stem}.py"])
    _press(page, "ArrowRight")  # → : one step
    _wait_progress(page, r"step 1 of")
    page.get_by_role("button", name=re.compile("Step ×10")).click()
    _wait_progress(page, r"step 11 of")
    _settle(page)
    latest = page.evaluate(_SIGNATURES)
    replay = page.locator('[data-testid="stSlider"]', has_text="Replay")
    thumb = replay.locator('[role="slider"], input[type="range"]').first
    thumb.focus()
    page.keyboard.press("Home")  # the slider to step 0: the model before training
    _settle(page)
    if stem not in NO_STEP_AXIS:
        page.wait_for_function(_CURSOR_AT_0, timeout=30000)
    earlier = page.evaluate(_SIGNATURES)
    changed = [k for k in earlier if k in latest and earlier[k] != latest[k]]
    assert changed, f"no figure changed when replaying step 0 ({sorted(latest)})"
    assert_no_exception(page, f"replay-{stem}")
    screenshot(page, f"replay-{stem}")


def test_space_trains_and_pauses_and_r_resets(server, page):
    page.goto(f"{server.url}/elbo?steps=10000")
    _ready(page, "elbo")
    assert page.get_by_text("space").count() >= 1, "the keys are explained on the page"
    _press(page, " ")
    _wait_progress(page, r"training")
    _wait_progress(page, r"step [1-9][\d,]* of")
    _press(page, " ")
    _wait_progress(page, r"paused")
    _settle(page)
    paused = page.locator('[data-testid="stProgress"]').first.inner_text()
    field = page.locator('[data-testid="stNumberInput"] input').first  # keys typed into a field are not shortcuts
    field.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("r")
    time.sleep(1.5)
    assert page.locator('[data-testid="stProgress"]').first.inner_text() == paused
    _press(page, "r")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stProgress\"]')", timeout=30000)
    assert_no_exception(page, "keys")


def test_the_aae_manual_steps_in_the_browser(server, page):
    page.goto(f"{server.url}/adversarial_autoencoder")
    _ready(page, "aae")
    for name in ("Step D", "Step encoder", "Step D"):
        page.get_by_role("button", name=name, exact=True).click()
        _settle(page)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => "
                           "(p.data || []).some(t => t.name === \"encoder's gradient\"))", timeout=30000)
    assert page.get_by_text(re.compile("Last: discriminator step")).count() == 1
    assert_no_exception(page, "aae-manual")
    screenshot(page, "replay-aae-manual")


def test_slow_motion_dissects_each_step_in_the_browser(server, page):
    page.goto(f"{server.url}/elbo?steps=10000")
    _ready(page, "elbo")
    page.get_by_text("Slow motion", exact=True).click()
    _settle(page)
    _press(page, " ")
    _wait_progress(page, r"step [2-9] of")
    page.wait_for_selector(".genlab-chain.genlab-animate .genlab-stage", timeout=30000)  # the stages light up
    stages = page.locator(".genlab-chain .genlab-stage").count()
    assert stages >= 8, f"{stages} stages in the dissected step"
    _press(page, " ")
    _wait_progress(page, r"paused")
    assert_no_exception(page, "slow-motion")
    screenshot(page, "replay-slow-motion")
