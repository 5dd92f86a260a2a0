"""The Class board page and posting a run from the live pages, under AppTest, on the test session's SQLite board
(tests/conftest.py points GENLAB_DATABASE_URL at a temporary file)."""

from __future__ import annotations

import json
import math

import pytest
from apptest import open_page
from test_step_replay import LIVE_PAGES, URL

from classroom import Board
from ui import board


def _board() -> Board:
    return board.store()


def _open(title="Lecture 7") -> tuple[str, str]:
    return _board().open_class(title)


def _post(code, author="Ada", session="s-ada", beta=1.0, kl=5.0, recon=25.0, page="ELBO & β"):
    return _board().post(code, author=author, session=session, page=page, settings={"beta": beta, "latent_dim": 2},
                         seed=0, metrics={"elbo": -(kl + recon), "recon": recon, "kl": kl, "active_units": 2,
                                          "mutual_information": 1.0, "steps": 100})


def _texts(at) -> str:
    return " ".join(str(getattr(e, "value", "")) for e in [*at.markdown, *at.caption, *at.subheader, *at.info,
                                                          *at.warning, *at.error, *at.success])


def _joined(code: str, **params):
    at = open_page("85_class_board.py", **params)
    at.session_state["board::code"] = code
    return at


def test_a_lecturer_opens_a_class_and_students_join_by_its_code():
    at = open_page("85_class_board.py").run()
    assert not at.exception
    at.text_input(key="board-open-title").set_value("Lecture 7: the ELBO")
    at.text_input(key="board-open-pass").set_value("let me in")
    at.button(key="board-open").click().run()
    assert not at.exception, at.exception
    code = at.session_state["board::code"]
    assert len(code) == 6 and code in " ".join(c.value for c in at.code), "the join link carries the code"
    assert "Lecture 7: the ELBO" in _texts(at) and "No runs posted yet" in _texts(at)
    assert board.store().is_lecturer(code, at.session_state["board::keys"][code])

    student = open_page("85_class_board.py").run()
    student.text_input(key="board-join-code").set_value(f"  {code.lower()} ")
    student.button(key="board-join").click().run()
    assert not student.exception and student.session_state["board::code"] == code

    # the lecturer on another browser, with the passphrase
    other = _joined(code).run()
    other.text_input(key="board-claim-pass").set_value("not it")
    other.button(key="board-claim").click().run()
    assert other.error and "board::keys" not in other.session_state
    other.text_input(key="board-claim-pass").set_value("let me in")
    other.button(key="board-claim").click().run()
    assert board.store().is_lecturer(code, other.session_state["board::keys"][code])


@pytest.mark.parametrize("typed, says", [("K7", "6 letters"), ("QQQQQQ", "No class")])
def test_a_bad_code_is_a_sentence(typed, says):
    at = open_page("85_class_board.py").run()
    at.text_input(key="board-join-code").set_value(typed)
    at.button(key="board-join").click().run()
    assert not at.exception
    assert says in at.error[0].value and "board::code" not in at.session_state


def test_a_link_with_the_class_code_joins_it_on_any_page():
    code, _ = _open()
    at = open_page("app.py", **{"class": code}).run()
    assert not at.exception and at.session_state["board::code"] == code
    alone = open_page("85_class_board.py", **{"class": code}).run()  # the page run without app.py
    assert not alone.exception and alone.session_state["board::code"] == code
    bad = open_page("app.py", **{"class": "nope!"}).run()
    assert not bad.exception and "board::code" not in bad.session_state
    assert any("6 letters" in t.proto.body for t in bad.get("toast"))


def test_the_board_draws_every_post_and_compares_two():
    code, _ = _open()
    first = _post(code, "Ada", "s-ada", beta=1.0, kl=5.0)
    second = _post(code, "<b>Bob</b>", "s-bob", beta=4.0, kl=2.0, recon=31.0)
    at = _joined(code).run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    assert list(table["name"]) == ["Ada", "<b>Bob</b>"], "names are shown as typed (a table does not render markup)"
    charts = {c.proto.id.split("-", 2)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    rd = next(spec for key, spec in charts.items() if key.endswith("board-rd"))
    points = sorted(zip(rd["data"][0]["x"], rd["data"][0]["y"], strict=True))
    assert points == [(2.0, 31.0), (5.0, 25.0)]
    hovers = " ".join(rd["data"][0]["text"])
    assert "&lt;b&gt;Bob&lt;/b&gt;" in hovers and "<b>Bob</b>" not in hovers, "plotly would render the markup"
    against = next(spec for key, spec in charts.items() if key.endswith("board-against-chart"))
    assert sorted(against["data"][0]["x"]) == [1.0, 4.0] and "beta" in against["layout"]["xaxis"]["title"]["text"]
    at.multiselect(key="board-pair").set_value([f"#{first} Ada (ELBO & β)", f"#{second} <b>Bob</b> (ELBO & β)"]).run()
    compared = at.dataframe[0].value
    assert compared.loc["beta", "differs"] == "≠" and compared.loc["seed", "differs"] == ""


def test_students_remove_their_own_posts_and_the_lecturer_manages_the_board():
    code, key = _open()
    ada = _post(code, "Ada", "s-ada")
    _post(code, "Bob", "s-bob")
    student = _joined(code)
    student.session_state["board::session"] = "s-ada"
    student.run()
    assert [o for o in student.selectbox(key="board-post-pick").options] == [f"#{ada} Ada (ELBO & β)"]
    student.button(key="board-remove").click().run()
    assert not student.exception and [p.author for p in _board().posts(code)] == ["Bob"]

    lecturer = _joined(code)
    lecturer.session_state["board::keys"] = {code: key}
    lecturer.run()
    lecturer.button(key="board-hide").click().run()
    assert [p.hidden for p in _board().posts(code, include_hidden=True)] == [True]
    assert lecturer.dataframe[-1].value["hidden"].tolist() == [True], "the lecturer still sees a hidden post"
    assert _joined(code).run().info, "students do not see it"
    lecturer.button(key="board-close").click().run()
    assert _board().info(code).closed and "closed" in _texts(lecturer)


def test_a_run_is_posted_from_the_elbo_page():
    code, _ = _open()
    at = open_page("10_elbo.py", beta="4")
    at.session_state["board::code"] = code
    at.run()
    assert "elbo-board-post" not in [b.key for b in at.button]
    at.button(key="elbo-step10").click().run()
    at.text_input(key="elbo-board-name").set_value("Ada")
    at.button(key="elbo-board-post").click().run()
    assert not at.exception, at.exception
    assert at.success and "Posted as #" in at.success[0].value
    (post,) = _board().posts(code)
    assert post.author == "Ada" and post.settings["beta"] == 4 and post.metrics["steps"] == 10
    for name in ("elbo", "recon", "kl", "mutual_information"):
        assert math.isfinite(post.metrics[name]), name
    assert post.metrics["elbo"] == pytest.approx(-(post.metrics["recon"] + post.metrics["kl"]), rel=1e-5)


@pytest.mark.parametrize("page", [p for p in LIVE_PAGES if p != "10_elbo.py"])
def test_every_live_page_can_post(page):
    code, _ = _open()
    key = LIVE_PAGES[page]
    at = open_page(page, **URL.get(page, {}))
    at.session_state["board::code"] = code
    at.run()
    at.button(key=f"{key}-step").click().run()
    at.text_input(key=f"{key}-board-name").set_value("Ada")
    at.button(key=f"{key}-board-post").click().run()
    assert not at.exception, at.exception
    assert at.success, [w.value for w in at.warning]
    (post,) = _board().posts(code)
    assert post.metrics["steps"] == 1 and math.isfinite(post.metrics["elbo"])


def test_a_refused_post_is_a_sentence():
    code, key = _open()
    _board().close(code, key)
    at = open_page("10_elbo.py")
    at.session_state["board::code"] = code
    at.run()
    at.button(key="elbo-step").click().run()
    at.text_input(key="elbo-board-name").set_value("Ada")
    at.button(key="elbo-board-post").click().run()
    assert not at.exception and at.warning and "closed" in at.warning[-1].value
    at.text_input(key="elbo-board-name").set_value("   ")
    at.button(key="elbo-board-post").click().run()
    assert not at.exception and at.warning


def test_a_database_out_of_reach_is_a_sentence(monkeypatch):
    down = Board("postgresql+psycopg://genlab@127.0.0.1:1/genlab")  # nothing listens on port 1
    monkeypatch.setattr(board, "store", lambda: down)
    at = _joined("K7PQ2M").run()
    assert not at.exception, at.exception
    assert "cannot be used right now" in _texts(at)
    at = open_page("85_class_board.py").run()
    at.text_input(key="board-open-title").set_value("Lecture 7")
    at.button(key="board-open").click().run()
    assert not at.exception and "cannot be used right now" in at.error[0].value


def test_the_redraw_interval_shares_the_process_budget_among_the_sessions_watching(monkeypatch):
    from ui import board_panels

    clock = [100.0]
    monkeypatch.setattr(board_panels.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(board_panels, "_watching", {})
    assert board_panels.redraw_interval("a") == board_panels.POLL_S, "a few watchers: every poll"
    for i in range(99):
        board_panels.redraw_interval(f"s{i}")
    assert board_panels.redraw_interval("a") == pytest.approx(100 / board_panels.REDRAWS_PER_S)
    clock[0] += board_panels.WATCHING_S + 1  # the others closed their tabs: only "a" looks on
    assert board_panels.redraw_interval("a") == board_panels.POLL_S
