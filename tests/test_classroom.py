"""The class board's storage (classroom/): rights, refusals, limits, races, restarts and migrations.

Every test that takes `new_url` runs on a SQLite file and, when GENLAB_TEST_DATABASE_URL names a PostgreSQL
database, again on a schema of its own there (skipped without it; a failure when GENLAB_REQUIRE_DATABASE=1).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import classroom.board
from classroom import Board, BoardError, database_url
from classroom.keys import CODE_ALPHABET

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("GENLAB_TEST_DATABASE_URL", "").strip()
PG_REQUIRED = os.environ.get("GENLAB_REQUIRE_DATABASE") == "1"
RUN = dict(author="Ann", page="ELBO & β", settings={"beta": 4.0, "hidden": [64]}, seed=0, metrics={"elbo": -91.5})


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request, tmp_path):
    """new_url() -> the URL of an empty database: a SQLite file, or a fresh schema on GENLAB_TEST_DATABASE_URL."""
    if request.param == "sqlite":
        paths = iter(tmp_path / f"board{i}.sqlite" for i in range(100))
        yield lambda: f"sqlite:///{next(paths)}"
        return
    if not PG_URL:
        reason = (
            "GENLAB_TEST_DATABASE_URL is not set: name a PostgreSQL database to run the board's tests on it too,"
            " e.g. postgresql+psycopg://postgres@127.0.0.1:55432/genlab_test (.ci/run starts one)"
        )
        if PG_REQUIRED:
            pytest.fail(f"PostgreSQL tests are required (GENLAB_REQUIRE_DATABASE=1) but {reason}")
        pytest.skip(reason)
    admin = sa.create_engine(PG_URL)
    schemas = []

    def make() -> str:
        schemas.append(f"test_{uuid.uuid4().hex[:16]}")
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schemas[-1]}"')
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schemas[-1]}"})
        return url.render_as_string(hide_password=False)

    yield make
    with admin.begin() as conn:
        for s in schemas:
            conn.exec_driver_sql(f'DROP SCHEMA "{s}" CASCADE')
    admin.dispose()


@pytest.fixture
def board(new_url):
    b = Board(new_url())
    yield b
    b.dispose()


@pytest.fixture
def sqlite_board(tmp_path):
    b = Board(f"sqlite:///{tmp_path}/board.sqlite")
    yield b
    b.dispose()


def refused(match: str):
    """pytest.raises(BoardError) whose message contains `match` (a sentence: it ends with a full stop)."""
    return pytest.raises(BoardError, match=rf"{match}.*\.$")


# ------------------------------------------------------------------ classes, codes, keys


def test_open_class_gives_a_code_and_a_lecturer_key(board):
    code, key = board.open_class("  Generative   models, week 3 ")
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    assert len(key) >= 32
    info = board.info(code)
    assert (info.code, info.title, info.closed, info.n_posts) == (code, "Generative models, week 3", False, 0)
    assert info.created.tzinfo == UTC and abs(datetime.now(UTC) - info.created) < timedelta(minutes=1)
    assert board.is_lecturer(code, key)
    assert not board.is_lecturer(code, "not-the-key") and not board.is_lecturer(code, None)
    assert not board.is_lecturer(code, "")
    other, other_key = board.open_class("Another class")
    assert other != code and not board.is_lecturer(code, other_key) and not board.is_lecturer(other, key)


def test_codes_are_normalised_and_checked(board):
    code, key = board.open_class("Class")
    assert board.info(f"  {code.lower()}\n").code == code
    assert board.is_lecturer(code.lower(), key)
    for bad in ["", "K7PQ2", "K7PQ2MM", "K7PQ2O", "K7PQ21", "K7 Q2M", None, 123456]:
        with pytest.raises(BoardError, match=r"^A class code has 6 letters and digits, such as K7PQ2M\.$"):
            board.info(bad)
        assert not board.is_lecturer(bad, key)
    unknown = next(c for c in ("K7PQ2M", "K7PQ2N") if c != code)
    with pytest.raises(BoardError, match=rf"^No class has the code {unknown}\.$"):
        board.info(unknown.lower())
    with refused(f"No class has the code {unknown}"):
        board.post(unknown, session="s", **RUN)


def test_passphrase_gives_another_browser_a_key(board):
    code, key = board.open_class("Class", passphrase="correct horse")
    key2 = board.lecturer_key(f" {code.lower()} ", "correct horse")
    assert key2 != key and board.is_lecturer(code, key2) and board.is_lecturer(code, key)
    with refused("not the passphrase"):
        board.lecturer_key(code, "wrong horse")
    with refused("not the passphrase"):
        board.lecturer_key(code, None)
    plain, _ = board.open_class("No passphrase")
    with refused("without a passphrase"):
        board.lecturer_key(plain, "correct horse")
    for bad in ["abc", "x" * 129, "tab\there"]:
        with refused("passphrase"):
            board.open_class("Class", passphrase=bad)


def test_passphrase_is_stored_slowly_hashed(sqlite_board):
    code, key = sqlite_board.open_class("Class", passphrase="correct horse")
    with sqlite_board._engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT passphrase_hash FROM classes").scalar()
        key_hashes = conn.exec_driver_sql("SELECT key_hash FROM lecturer_keys").scalars().all()
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert key not in key_hashes and len(key_hashes) == 1


# ------------------------------------------------------------------ posts


def test_post_and_read_back(board):
    code, key = board.open_class("Class")
    first = board.post(
        code,
        author="  Ann   Lee ",
        session="session-a",
        page="ELBO & β",
        settings={"beta": 4.0, "hidden": (64, 32), "schedule": "cyclical", "warmup": None, "free_bits": False},
        seed=np.int64(7),
        metrics={"elbo": np.float32(-91.25), "kl": 3, "active_units": None, "steps": 500},
    )
    second = board.post(code, session="session-b", **{**RUN, "author": "<b>Bob</b>"})
    assert second > first
    a, b = board.posts(f" {code.lower()}")
    assert (a.id, a.code, a.author, a.page, a.seed) == (first, code, "Ann Lee", "ELBO & β", 7)
    assert a.settings == {"beta": 4.0, "hidden": [64, 32], "schedule": "cyclical", "warmup": None, "free_bits": False}
    assert a.metrics == {"elbo": -91.25, "kl": 3, "active_units": None, "steps": 500}
    assert a.created.tzinfo == UTC and not a.hidden
    assert b.author == "<b>Bob</b>"  # stored raw: escaping is the page's job
    assert a.by("session-a") and not a.by("session-b") and not a.by("") and not a.by(None)
    assert "session-a" not in repr(a)
    assert board.info(code).n_posts == 2


def test_version_moves_with_every_change_and_only_then(board):
    code, key = board.open_class("Class")
    seen = [board.version(code)]

    def changed():
        seen.append(board.version(code))
        assert seen[-1] != seen[-2]

    pid = board.post(code, session="s", **RUN)
    changed()
    board.posts(code), board.info(code), board.is_lecturer(code, key)
    assert board.version(code) == seen[-1]
    board.hide(code, pid, key)
    changed()
    board.hide(code, pid, key, hidden=False)
    changed()
    board.remove(code, pid, session="s")
    changed()
    board.close(code, key)
    changed()
    other, _ = board.open_class("Other")
    board.post(other, session="s", **RUN)
    assert board.version(code) == seen[-1]


def test_only_the_lecturer_hides(board):
    code, key = board.open_class("Class")
    pid = board.post(code, session="s", **RUN)
    keep = board.post(code, session="t", **RUN)
    for wrong in [None, "", "guess"]:
        with refused(f"Only the lecturer of class {code} can do that"):
            board.hide(code, pid, wrong)
    board.hide(code, pid, key)
    assert [p.id for p in board.posts(code)] == [keep]
    assert [(p.id, p.hidden) for p in board.posts(code, include_hidden=True)] == [(pid, True), (keep, False)]
    assert board.info(code).n_posts == 2
    board.hide(code, pid, key, hidden=False)
    assert [p.id for p in board.posts(code)] == [pid, keep]
    with refused(f"Class {code} has no post 99999"):
        board.hide(code, 99999, key)
    other, other_key = board.open_class("Other")
    with refused(f"Only the lecturer of class {code}"):
        board.hide(code, pid, other_key)
    with refused(f"Class {other} has no post {pid}"):
        board.hide(other, pid, other_key)  # a post of another class


def test_remove_own_posts_or_any_as_lecturer(board):
    code, key = board.open_class("Class")
    mine = board.post(code, session="me", **RUN)
    theirs = board.post(code, session="them", **RUN)
    for session in ["them", None, ""]:
        with refused("You can remove only your own posts"):
            board.remove(code, mine, session=session)
    with refused("You can remove only your own posts"):
        board.remove(code, mine, lecturer_key="guess")
    board.remove(code, mine, session="me")
    assert [p.id for p in board.posts(code, include_hidden=True)] == [theirs]
    board.hide(code, theirs, key)
    board.remove(code, theirs, lecturer_key=key)
    assert board.posts(code, include_hidden=True) == [] and board.info(code).n_posts == 0
    with refused(f"Class {code} has no post {mine}"):
        board.remove(code, mine, session="me")
    assert board.post(code, session="me", **RUN) > theirs  # a removed post's id is not handed out again
    with refused("A post is named by its number"):
        board.remove(code, "1", lecturer_key=key)


def test_closed_class_refuses_posts_and_still_shows(board):
    code, key = board.open_class("Class")
    pid = board.post(code, session="s", **RUN)
    with refused(f"Only the lecturer of class {code}"):
        board.close(code, "guess")
    board.close(code, key)
    assert board.info(code).closed
    with refused(f"Class {code} is closed"):
        board.post(code, session="s", **RUN)
    assert [p.id for p in board.posts(code)] == [pid]
    board.remove(code, pid, session="s")  # students may still take their own posts down


BAD_FIELDS = [
    ("author", "", "Please enter a name"),
    ("author", "   ", "Please enter a name"),
    ("author", "x" * 41, "at most 40 characters"),
    ("author", "Ann\nLee", "control characters"),
    ("author", "Ann\tLee", "control characters"),
    ("author", "\x1b[31mAnn", "control characters"),
    ("author", "Ann\u202eeeL", "control characters"),
    ("author", 7, "The name must be text"),
    ("page", "", "page name must be 1 to 40 printable"),
    ("page", "p" * 41, "page name must be 1 to 40 printable"),
    ("page", "ELBO\x00", "page name must be 1 to 40 printable"),
    ("page", None, "page name must be 1 to 40 printable"),
    ("session", "", "browser session has no id"),
    ("session", None, "browser session has no id"),
    ("settings", [("beta", 1)], "settings must be a table"),
    ("settings", {1: "x"}, "Each setting needs a name"),
    ("settings", {"": "x"}, "Each setting needs a name"),
    ("settings", {"beta": float("nan")}, "The setting 'beta' must be text, a finite number"),
    ("settings", {"beta": math.inf}, "The setting 'beta' must be text, a finite number"),
    ("settings", {"net": {"hidden": 64}}, "The setting 'net' must be"),
    ("settings", {"grid": [[1, 2]]}, "The setting 'grid' must be"),
    ("settings", {"note": "a\nb"}, "The setting 'note' must be"),
    ("settings", {"note": "x" * 5000}, "too long to post"),
    ("seed", 1.5, "The seed must be a whole number"),
    ("seed", True, "The seed must be a whole number"),
    ("seed", "3", "The seed must be a whole number"),
    ("seed", 2**64, "The seed must be a whole number"),
    ("metrics", [1.0], "results must be a table"),
    ("metrics", {"loss": 1.0}, "does not know the result 'loss'"),
    ("metrics", {"elbo": float("-inf")}, "The result elbo must be a finite number"),
    ("metrics", {"kl": float("nan")}, "The result kl must be a finite number"),
    ("metrics", {"kl": "1.0"}, "The result kl must be a finite number"),
    ("metrics", {"steps": True}, "The result steps must be a finite number"),
]


@pytest.mark.parametrize("field, value, message", BAD_FIELDS)
def test_bad_fields_are_refused_with_a_sentence(sqlite_board, field, value, message):
    code, _ = sqlite_board.open_class("Class")
    fields = {**RUN, "session": "s", field: value}
    with pytest.raises(BoardError, match=r"\.$") as e:
        sqlite_board.post(code, **fields)
    assert message in str(e.value) and str(e.value)[0].isupper()
    assert sqlite_board.posts(code) == []


def test_bad_titles_are_refused(sqlite_board):
    for bad, message in [("", "Please enter a class title"), ("t" * 81, "at most 80"), ("a\rb", "control")]:
        with refused(message):
            sqlite_board.open_class(bad)


def test_limits_per_session_and_per_class(board, monkeypatch):
    monkeypatch.setattr(classroom.board, "MAX_POSTS_PER_SESSION", 3)
    monkeypatch.setattr(classroom.board, "MAX_POSTS_PER_CLASS", 5)
    code, key = board.open_class("Class")
    mine = [board.post(code, session="me", **RUN) for _ in range(3)]
    with refused("You have posted 3 runs to this class"):
        board.post(code, session="me", **RUN)
    other, _ = board.open_class("Other")
    board.post(other, session="me", **RUN)  # the limit is per class
    board.remove(code, mine[0], session="me")
    board.post(code, session="me", **RUN)
    board.post(code, session="you", **RUN)
    board.hide(code, board.post(code, session="they", **RUN), key)  # hidden posts count
    with refused(f"The board of class {code} is full \\(5 posts\\)"):
        board.post(code, session="new", **RUN)
    assert board.info(code).n_posts == 5


# ------------------------------------------------------------------ races


def test_threads_posting_at_once_lose_nothing_and_keep_the_limit(board):
    code, _ = board.open_class("Class")
    n_shared, n_own = 30, 12  # 30 posts from one session against its limit of 20, 12 from sessions of their own
    start = threading.Barrier(n_shared + n_own)
    ids, refusals, errors = [], [], []

    def post(session):
        start.wait()
        try:
            ids.append(board.post(code, session=session, **RUN))
        except BoardError as e:
            refusals.append(str(e))
        except Exception as e:  # noqa: BLE001 - a lock timeout or a lost update would land here
            errors.append(repr(e))

    sessions = ["shared"] * n_shared + [f"own-{i}" for i in range(n_own)]
    threads = [threading.Thread(target=post, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(refusals) == n_shared - 20 and all("You have posted 20 runs" in r for r in refusals)
    stored = board.posts(code)
    assert sorted(p.id for p in stored) == sorted(ids) and len(set(ids)) == 20 + n_own
    assert sum(p.by("shared") for p in stored) == 20


def test_boards_starting_at_once_on_a_fresh_database_migrate_once(new_url):
    url = new_url()
    boards = [Board(url) for _ in range(6)]
    start, codes, errors = threading.Barrier(len(boards)), [], []

    def first_use(b):
        start.wait()
        try:
            codes.append(b.open_class("Class"))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=first_use, args=(b,)) for b in boards]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(codes) == 6 and all(boards[0].info(c).title == "Class" for c, _ in codes)
    for b in boards:
        b.dispose()


def _post_from_process(url, code, fresh_url, start, results):
    """In a spawned process: open a class on a fresh database at once with the others (concurrent
    migration), then post 10 runs from a shared session and 5 from this process's own."""
    import os

    try:
        start.wait()
        Board(fresh_url).open_class(f"Opened by {os.getpid()}")
        board = Board(url)
        start.wait()
        ids, refused = [], 0
        for session in ["shared"] * 10 + [f"own-{os.getpid()}"] * 5:
            try:
                ids.append(board.post(code, session=session, **RUN))
            except BoardError:
                refused += 1
        results.put((ids, refused))
    except Exception as e:  # noqa: BLE001 - reported to the test instead of leaving it waiting
        start.abort()
        results.put(repr(e))


def test_processes_posting_at_once_lose_nothing_and_keep_the_limit(new_url):
    url, fresh_url = new_url(), new_url()
    board = Board(url)
    code, _ = board.open_class("Class")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_post_from_process, args=(url, code, fresh_url, start, results)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(isinstance(g, tuple) for g in got), got
    ids = [i for pid_ids, _ in got for i in pid_ids]
    assert sum(r for _, r in got) == 30 - 20
    stored = board.posts(code)
    assert len(ids) == len(set(ids)) == 20 + 15 and sorted(p.id for p in stored) == sorted(ids)
    assert sum(p.by("shared") for p in stored) == 20
    with Board(fresh_url)._engine.connect() as conn:  # three processes migrated one fresh database at once
        assert conn.scalar(sa.text("SELECT count(*) FROM classes")) == 3
    board.dispose()


# ------------------------------------------------------------------ restarts and migrations


def test_a_fresh_process_reads_what_another_wrote(new_url):
    url = new_url()
    board = Board(url)
    code, key = board.open_class("Class", passphrase="secret words")
    pid = board.post(code, session="s", **RUN)
    board.hide(code, board.post(code, session="t", **RUN), key)
    board.dispose()
    script = (
        "import json, sys; from classroom import Board\n"
        "b = Board(sys.argv[1]); c = sys.argv[2]\n"
        "p = b.posts(c)[0]\n"
        "print(json.dumps([b.info(c).title, p.id, p.author, p.settings, p.metrics, p.by('s'),"
        " len(b.posts(c, include_hidden=True)), b.is_lecturer(c, sys.argv[3]),"
        " b.is_lecturer(c, b.lecturer_key(c, 'secret words'))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, url, code, key], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["Class", pid, "Ann", RUN["settings"], RUN["metrics"], True, 2, True, True]


def test_migrations_reach_head_round_trip_and_match_the_tables(new_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from classroom.engine import alembic_config
    from classroom.schema import metadata

    url = new_url()
    cfg = alembic_config(url)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    board = Board(url)
    code, _ = board.open_class("Class")  # first use: upgrade to head

    def state():
        with board._engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return ctx.get_current_revision(), compare_metadata(ctx, metadata), sa.inspect(conn).get_table_names()

    revision, diff, tables = state()
    assert revision == head and diff == [] and {"classes", "lecturer_keys", "posts"} <= set(tables)
    board.dispose()
    command.downgrade(cfg, "base")
    revision, diff, tables = state()
    assert revision is None and not {"classes", "lecturer_keys", "posts"} & set(tables) and diff != []
    command.upgrade(cfg, "head")
    assert state()[:2] == (head, [])
    command.upgrade(cfg, "head")  # idempotent
    with refused(f"No class has the code {code}"):  # the downgrade dropped the data with the tables
        board.info(code)


def test_alembic_cli_with_the_packaged_ini(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.sqlite"
    env = {**os.environ, "GENLAB_DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", "classroom/alembic.ini"]
    for args in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        out = subprocess.run(alembic + args, cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    out = subprocess.run(alembic + ["current"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "0001 (head)" in out.stdout
    code, _ = Board(url).open_class("Class")
    assert Board(url).info(code).title == "Class"


# ------------------------------------------------------------------ where the board lives


def test_database_url(monkeypatch, tmp_path):
    assert database_url().startswith("sqlite:///") and str(Path.home() / ".local") not in database_url()  # conftest
    monkeypatch.setenv("GENLAB_DATABASE_URL", "postgresql+psycopg://u@db/genlab")
    assert database_url() == "postgresql+psycopg://u@db/genlab"
    monkeypatch.delenv("GENLAB_DATABASE_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert database_url() == f"sqlite:///{tmp_path}/data/genlab/classroom.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert database_url() == "sqlite:///" + str(Path.home() / ".local/share/genlab/classroom.sqlite")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, _ = Board().open_class("Class")  # the folder is made on first use
    assert (tmp_path / "data/genlab/classroom.sqlite").is_file() and Board().info(code).title == "Class"
