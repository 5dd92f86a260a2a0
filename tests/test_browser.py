"""The app in the system Chromium: the server starts quickly; live training starts, its curve grows, and
pause stops it. (Every page with one interaction each: tests/test_e2e_pages.py.)"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app, wait_until_paused

pytestmark = pytest.mark.browser


def test_server_starts_quickly(server):
    assert server.startup_s < 20, f"healthy after {server.startup_s:.1f} s"


def _step(page) -> int:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    match = re.search(r"step ([\d,]+) of", text)
    assert match, f"no step count in {text!r}"
    return int(match.group(1).replace(",", ""))


def _pause(page) -> None:
    """Press Pause and wait until the run says it is paused: a test leaves no run training behind it, to hold
    one of the server's training slots after its page is closed."""
    page.get_by_role("button", name=re.compile("Pause")).click()
    wait_until_paused(page)


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
    _pause(page)
    time.sleep(0.5)
    wait_for_app(page)  # a chunk already under way when Pause arrived finishes first
    paused = _step(page)
    time.sleep(1.5)
    assert _step(page) == paused, "a paused run stays where it is"
    assert_no_exception(page, "elbo-paused")
    screenshot(page, "elbo-paused")


_X_AXIS = """() => { const plot = document.querySelector('.st-key-elbo_curve .js-plotly-plot');
  const x = plot._fullData.length ? plot._fullData[0].x : [];
  return [plot.layout.xaxis.range, plot.layout.xaxis.autorange, x.length ? x[x.length - 1] : 0]; }"""


def test_a_zoom_into_a_live_chart_survives_its_updates(server, page):
    """A reader can zoom into a curve while it trains: the chart takes new data, the zoom stays. The zoom is
    made as soon as the chart is on the page, which may be before its first update (the run's first figure
    is empty): the first update keeps it too."""
    page.goto(f"{server.url}/elbo?steps=10000")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Train")).click()
    page.wait_for_selector(".st-key-elbo_curve .js-plotly-plot .nsewdrag", timeout=30000)
    box = page.locator(".st-key-elbo_curve .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.8 * box["height"], steps=8)
    page.mouse.up()
    zoomed, autorange, last_step = page.evaluate(_X_AXIS)
    assert autorange is False, "the drag zoomed in"
    for _ in range(2):  # two updates after the zoom, the first perhaps the chart's first
        page.wait_for_function(f"() => ({_X_AXIS})()[2] > {last_step}", timeout=30000)
        later, _, last_step = page.evaluate(_X_AXIS)
        assert later == zoomed, "the chart was updated and kept the zoom"
    page.locator(".st-key-elbo_curve .nsewdrag").dblclick()  # back to the whole curve, and it stays so
    page.wait_for_function(f"() => ({_X_AXIS})()[2] > {last_step}", timeout=30000)
    _, autorange, _ = page.evaluate(_X_AXIS)
    assert autorange is True, "a double click shows the whole curve again, and updates keep it whole"
    _pause(page)


def test_a_live_chart_in_full_screen_stays_full_screen_as_it_updates(server, page):
    """Streamlit draws a chart from its first figure again when it goes full screen: the latest figure comes
    back at once (the first one of a run is empty), and the chart keeps the screen's size as it updates."""
    page.goto(f"{server.url}/elbo?steps=10000")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Train")).click()
    page.wait_for_selector(".st-key-elbo_curve .js-plotly-plot .nsewdrag", timeout=30000)
    page.wait_for_timeout(1500)
    size = """() => { const plot = document.querySelector('.st-key-elbo_curve .js-plotly-plot');
      const x = plot._fullData[0].x;
      return [plot.layout.width, plot.layout.height, x.length ? x[x.length - 1] : 0]; }"""
    *_, shown = page.evaluate(size)
    assert shown > 0
    page.locator(".st-key-elbo_curve").hover()
    page.locator(".st-key-elbo_curve .modebar-btn[data-title='Fullscreen']").click()
    page.wait_for_function(f"() => ({size})()[1] > 600")
    width, height, last_step = page.evaluate(size)
    assert last_step >= shown, "full screen shows the latest figure, not the run's first (empty) one"
    page.wait_for_timeout(2000)
    later_width, later_height, later_step = page.evaluate(size)
    assert later_step > last_step, "the chart was updated meanwhile"
    assert (later_width, later_height) == (width, height), "at the size of the screen"
    page.keyboard.press("Escape")
    _pause(page)


# Each chart's data, summed: changes whenever the chart is drawn from a model that trained since.
_DIGESTS = """() => {
  const out = {progress: document.querySelector('[data-testid="stProgress"]')?.innerText};
  for (const key of ['elbo_curve', 'terms_curve', 'recons', 'samples']) {
    const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    const flat = a => Array.from(a || [], v => (typeof v === 'object' && v !== null ? flat(v) : [v])).flat();
    const values = plot ? plot._fullData.flatMap(t => flat(t.z || t.y)) : [];  // decoded (data holds base64)
    out[key] = values.length + ':' + values.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  }
  return out;
}"""


# True once the progress bar shows steps trained: the ticks have begun, the page before Train is gone.
_TRAINED = """() => /step [1-9][\\d,]* of/
  .test(document.querySelector('[data-testid="stProgress"]')?.innerText || '')"""
# Marks every chart on the page; then counts the charts and how many of them carry the mark.
_MARK = "() => document.querySelectorAll('.js-plotly-plot').forEach(p => { p.genlabMark = true; })"
_MARKED = """() => { const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return [plots.length, plots.filter(p => p.genlabMark).length]; }"""


def test_every_live_figure_is_redrawn_on_each_tick(server, page):
    """Each tick's figures reach the browser, the last ones drawn too. (Drawn after the chunk, they were
    dropped when the next tick started: the prior samples changed once in about 20 ticks.) The charts are
    updated in place (ui.inplace): the same chart elements throughout, none mounted again, none left over,
    in Streamlit's theme."""
    page.goto(f"{server.url}/elbo?steps=10000")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Train")).click()
    page.wait_for_selector(".st-key-samples .js-plotly-plot", timeout=30000)
    page.wait_for_selector(".st-key-elbo_curve .js-plotly-plot", timeout=30000)
    page.wait_for_function(_TRAINED, timeout=30000)  # past the run that Train started: the page has settled
    page.wait_for_timeout(500)
    page.evaluate(_MARK)
    charts, _ = page.evaluate(_MARKED)
    seen: dict[str, set] = {}
    deadline = time.time() + 6
    while time.time() < deadline:
        for key, value in page.evaluate(_DIGESTS).items():
            seen.setdefault(key, set()).add(value)
        page.wait_for_timeout(50)
    ticks = len(seen["progress"])
    assert ticks >= 5, f"only {ticks} ticks drawn in 6 s"
    for key in ("elbo_curve", "terms_curve", "recons", "samples"):
        assert len(seen[key]) >= ticks - 2, f"{key} drawn {len(seen[key])} times in {ticks} ticks"
    assert page.evaluate(_MARKED) == [charts, charts], "the charts were kept, not mounted again"
    # Updated charts keep Streamlit's theme: its template (fonts, grid colours) and its bold title.
    theme = page.evaluate("""() => ['beta_plot', 'elbo_curve'].map(key => {
      const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
      return [JSON.stringify(plot.layout.template), plot.querySelector('.gtitle').innerHTML.includes('font-weight')];
    })""")
    (beta_template, beta_bold), (elbo_template, elbo_bold) = theme
    assert elbo_template == beta_template and beta_bold and elbo_bold, "an updated chart looks like the others"
    _pause(page)
