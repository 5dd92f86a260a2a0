"""A class opens the link at once on a fresh server: six browser tabs' first visits overlap, no page shows an
exception, and every page has come through app.py (its sidebar is there). Before ui/coldstart.py, two of five
showed "partially initialized module 'pandas'" here (the sessions' threads imported the app's packages at the
same moment), and a deep link's first run could be given to its page alone, without app.py."""

from __future__ import annotations

import time

import pytest

from tests.browser import AppServer, launch, require_browser, screenshot, wait_for_app

pytestmark = pytest.mark.browser
PATHS = ("", "elbo", "latent_space", "elbo", "annealing_lab", "class_board")


def test_first_visits_at_once_on_a_fresh_server():
    require_browser()
    from playwright.sync_api import sync_playwright

    with AppServer({"OMP_NUM_THREADS": "1"}) as server, sync_playwright() as p:
        browser = launch(p)
        try:
            tabs = [browser.new_context().new_page() for _ in PATHS]
            for path, tab in zip(PATHS, tabs, strict=True):  # no waiting between: the first runs overlap
                tab.goto(f"{server.url}/{path}", wait_until="commit")
            for path, tab in zip(PATHS, tabs, strict=True):
                wait_for_app(tab, 90000)
                time.sleep(0.5)
                errors = tab.locator('[data-testid="stException"]').all_inner_texts()
                if errors:
                    screenshot(tab, f"cold-start-{path or 'home'}")
                assert not errors, f"/{path}: {errors[0][:300]}"
                tab.get_by_text("Lecture mode").first.wait_for(timeout=30000)  # app.py's sidebar
        finally:
            browser.close()
