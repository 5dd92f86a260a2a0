"""A shipped tour in Chromium, every stop walked with Next: the stop's page and title, its highlighted
element outlined, no exception and no setting refused; a stop that trains is seen training, then paused.
Also the ← / → keys, ?embed=true and ?hide=."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app, wait_until_paused
from ui import tours

pytestmark = pytest.mark.browser

PANEL = ".st-key-tour-panel"


def _settle(page) -> None:
    time.sleep(0.8)
    wait_for_app(page, 60000)


def _trains_then_pause(page, live: str) -> None:
    """A stop with ``train = true``: its run trains by itself (the progress bar counts steps past 0), then the
    page's Pause stops it, as the stop's narration tells the lecturer to. Left training, every later wait for
    the page to finish running would wait on the training's ticks (800 steps, ~1 min on 2 cores)."""
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
                           ".some(e => /step [1-9][\\d,]* of .*training/.test(e.innerText))", timeout=60000)
    page.locator(f".st-key-{live}-pause button:visible").first.click()
    wait_until_paused(page, 60000)


def _at_stop(page, tour, n: int) -> None:
    """Wait until the panel shows stop n of ``tour`` and its page has finished running (a stop that trains:
    once it has trained and been paused)."""
    page.wait_for_function("([sel, text]) => { const p = document.querySelector(sel);"
                           " return p && p.innerText.includes(text); }",
                           arg=[PANEL, f"stop {n} of {len(tour.stops)}"], timeout=60000)
    stop = tour.stops[n - 1]
    if stop.train:
        _trains_then_pause(page, tours.page_facts()[stop.page].live)
    _settle(page)
    page.wait_for_function("([sel, text]) => document.querySelector(sel).innerText.includes(text)",
                           arg=[PANEL, tour.stops[n - 1].title], timeout=30000)


# One tour walked in the browser: it crosses two pages and has highlights, questions and a stop that trains.
# Every stop of every shipped tour renders with its settings, highlight and question in AppTest
# (tests/test_tours.py::test_every_stop_renders_server_side); the ← / → test below reveals a pixelcnn answer.
WALKED = ("collapse-and-annealing",)


def test_walked_tour_has_what_a_walk_should_see():
    stops = [s for name in WALKED for s in tours.load(name).stops]
    assert len({s.page for s in stops}) >= 2 and any(s.train for s in stops)
    assert any(s.question for s in stops) and any(s.highlight for s in stops)


@pytest.mark.parametrize("name", WALKED)
def test_walk_every_stop_with_next(server, page, name):
    tour = tours.load(name)
    page.goto(f"{server.url}/?tour={name}&stop=1")  # opened on the home page: the tour takes it to stop 1
    for n, stop in enumerate(tour.stops, start=1):
        _at_stop(page, tour, n)
        assert re.search(rf"/{stop.page}\?", page.url) or (stop.page == "" and "/?" in page.url), page.url
        assert f"stop={n}" in page.url and f"tour={name}" in page.url
        assert_no_exception(page, f"tour-{name}-{n}")
        refused = page.locator('[data-testid="stAlertContentWarning"]', has_text="Ignored from the link")
        assert refused.count() == 0, f"stop {n}: {refused.first.inner_text()}"
        if stop.highlight:
            page.wait_for_selector(f".st-key-{stop.highlight}", timeout=60000)
            _settle(page)
            outline = page.evaluate("(c) => { const e = document.querySelector('.' + c);"
                                    " return e ? getComputedStyle(e).outlineStyle : null; }",
                                    f"st-key-{stop.highlight}")
            assert outline == "solid", f"stop {n}: {stop.highlight} is not outlined ({outline})"
        for key in stop.settings:  # the stop's settings are in its shareable URL
            assert f"{key}=" in page.url, f"stop {n}: {key} missing from {page.url}"
        if n == 1:
            screenshot(page, f"tour-{name}-1")
        if stop.question:
            page.locator(".st-key-tour-next button").click()  # the first Next reveals the answer
            page.wait_for_function("([sel, text]) => document.querySelector(sel).innerText.includes(text)",
                                   arg=[PANEL, "Answer"], timeout=30000)
        if n < len(tour.stops):
            page.locator(".st-key-tour-next button").click()
    assert page.locator(".st-key-tour-next button").inner_text().strip().endswith("End")


def test_arrow_keys_move_between_stops(server, page):
    tour = tours.load("pixelcnn-masks")
    page.goto(f"{server.url}/pixelcnn?tour=pixelcnn-masks&stop=3")
    _at_stop(page, tour, 3)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowLeft")
    _at_stop(page, tour, 2)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")  # stop 2 asks a question: → reveals its answer first
    page.wait_for_function("([sel, text]) => document.querySelector(sel).innerText.includes(text)",
                           arg=[PANEL, "Answer"], timeout=30000)
    _settle(page)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    _at_stop(page, tour, 3)


def test_a_bad_tour_link_gets_a_sentence(server, page):
    page.goto(f"{server.url}/elbo?tour=no-such-tour")
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60000)
    assert "there is no tour 'no-such-tour'" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    page.goto(f"{server.url}/elbo?tour=elbo-and-beta&stop=99")
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60000)
    assert "stops 1 to 7, not 99" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert_no_exception(page, "tour-bad-link")


def test_embed_hides_the_chrome_and_hide_hides_chosen_controls(server, page):
    page.goto(f"{server.url}/elbo?embed=true&hide=latent,steps&beta=4")
    wait_for_app(page, 60000)
    page.wait_for_selector(".st-key-kl_dims", timeout=60000)
    _settle(page)
    page.wait_for_function("() => [...document.querySelectorAll('style')].some(s => s.innerText.includes("
                           "'.st-key-latent'))", timeout=30000)
    visible = page.evaluate("""() => ({
      sidebar: !!document.querySelector('[data-testid="stSidebar"]')
               && getComputedStyle(document.querySelector('[data-testid="stSidebar"]')).display !== 'none',
      latent: !!document.querySelector('.st-key-latent')
              && getComputedStyle(document.querySelector('.st-key-latent')).display !== 'none',
      beta: !!document.querySelector('.st-key-beta')})""")
    assert visible == {"sidebar": False, "latent": False, "beta": True}
    assert page.get_by_text("beta-vae-digits").count() >= 1, "the link's values still reach the page"
    screenshot(page, "tour-embed")


def test_save_this_view_as_a_stop_writes_a_tour_that_opens(server, page, tmp_path):
    page.goto(f"{server.url}/elbo?beta=4")
    wait_for_app(page, 60000)
    page.wait_for_selector(".st-key-kl_dims", timeout=60000)
    _settle(page)
    page.get_by_text("Share this view").click()
    page.get_by_role("button", name=re.compile("Save this view as a stop")).click()
    _settle(page)
    download = page.get_by_role("button", name=re.compile(r"Download the tour \(1 stop"))
    download.wait_for(timeout=30000)
    with page.expect_download() as info:
        download.click()
    path = tmp_path / "mine.toml"
    info.value.save_as(path)
    tour = tours.parse(path)
    assert tour.stops[0].page == "elbo" and tour.stops[0].settings.get("beta") in ("4.0", 4.0, "4")
