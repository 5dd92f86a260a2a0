"""The class board in Chromium: a lecturer opens a class, three students (browser contexts of their own) join
by a link, train, and post at once; the lecturer's board shows every post without a reload; the server is
restarted and the board still holds them. Screenshots go to test-artifacts/board-*.png."""

from __future__ import annotations

import re

import pytest

from classroom import Board
from tests.browser import AppServer, assert_no_exception, launch, require_browser, screenshot, wait_for_app

pytestmark = pytest.mark.browser
STUDENTS = ("Ada", "Bob", "Cy")


def _click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()


def _type(page, key: str, text: str) -> None:
    field = page.locator(f".st-key-{key} input").first
    field.fill(text)
    field.press("Enter")
    wait_for_app(page, 60000)


def _wait_text(page, pattern: str, timeout_ms: int = 60000) -> None:
    page.wait_for_function("(p) => new RegExp(p).test(document.body.innerText)", arg=pattern, timeout=timeout_ms)


def test_a_room_posts_at_once_and_the_board_survives_a_restart(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'board.sqlite'}"
    env = {"GENLAB_DATABASE_URL": url, "GENLAB_MAX_TRAINING": "4"}
    with sync_playwright() as p:
        browser = launch(p)
        try:
            with AppServer(env) as server:
                lecturer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                lecturer.goto(f"{server.url}/class_board")
                wait_for_app(lecturer, 60000)
                _type(lecturer, "board-open-title", "Lecture 7")
                _click(lecturer, "board-open")
                _wait_text(lecturer, r"Lecture 7 · class [A-Z2-9]{6}")
                code = re.search(r"class ([A-Z2-9]{6})", lecturer.inner_text("body")).group(1)
                _wait_text(lecturer, "No runs posted yet")

                students = [browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
                            for _ in STUDENTS]
                for page in students:  # join by the link the lecturer shows, on a live page
                    page.goto(f"{server.url}/elbo?class={code}&latent=2")
                for page in students:
                    wait_for_app(page, 90000)
                    page.wait_for_selector(".st-key-elbo-step10 button", timeout=60000)
                    _click(page, "elbo-step10")
                for name, page in zip(STUDENTS, students, strict=True):
                    _wait_text(page, "step 10 of")
                    page.get_by_text("Post to the class board").first.click()
                    _type(page, "elbo-board-name", name)
                for page in students:  # all at once: nobody waits for another's post
                    _click(page, "elbo-board-post")
                for page in students:
                    _wait_text(page, r"Posted as #\d+")
                    assert_no_exception(page, "board-student")
                screenshot(students[0], "board-student")

                _wait_text(lecturer, f"{len(STUDENTS)} runs posted", 30000)  # no reload: the board polls
                assert_no_exception(lecturer, "board-lecturer")
                lecturer.wait_for_selector(".st-key-board-rd .js-plotly-plot", timeout=30000)
                assert lecturer.evaluate("() => document.querySelector('.st-key-board-rd .js-plotly-plot')"
                                         ".data.reduce((n, t) => n + t.x.length, 0)") == len(STUDENTS)
                screenshot(lecturer, "board-lecturer")
            posts = Board(url).posts(code)
            assert sorted(p.author for p in posts) == sorted(STUDENTS)
            assert {p.settings["latent"] for p in posts} == {2} and all(p.metrics["steps"] == 10 for p in posts)

            with AppServer(env) as restarted:  # a new process on the same database
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(f"{restarted.url}/class_board?class={code}")
                wait_for_app(page, 60000)
                _wait_text(page, f"Lecture 7 · class {code}")
                _wait_text(page, f"{len(STUDENTS)} runs posted")
                assert_no_exception(page, "board-restarted")
                screenshot(page, "board-restarted")
        finally:
            browser.close()
