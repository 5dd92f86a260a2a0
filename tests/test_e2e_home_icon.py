"""The home page's title icon in the system Chromium, which has no emoji font here: a Material Symbols glyph from
Streamlit's own icon font, drawn with a width, not a missing-glyph box or an empty square."""

from __future__ import annotations

import pytest

from tests.browser import assert_no_exception, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def test_the_title_icon_is_a_material_symbol_that_renders(server, page):
    page.goto(server.url)
    wait_for_app(page)
    assert_no_exception(page, "home")
    title = page.locator("h1", has_text="genlab").first
    icon = title.locator('span[role="img"][aria-label="science icon"]')
    assert icon.count() == 1, title.evaluate("e => e.outerHTML")[:800]
    assert icon.inner_text().strip() == "science"  # a ligature of the icon font, not an emoji codepoint
    page.wait_for_function("document.fonts.status === 'loaded'")
    family = icon.evaluate("e => getComputedStyle(e).fontFamily")
    assert "Material Symbols" in family, family
    loaded = page.evaluate("[...document.fonts].some(f => f.family.includes('Material Symbols') && "
                           "f.status === 'loaded')")
    box = icon.bounding_box()
    screenshot(page, "home-title-icon")
    assert loaded, "the icon font did not load"
    assert box and 10 < box["width"] < 80, box  # one glyph wide: the ligature was drawn, not the word 'science'
