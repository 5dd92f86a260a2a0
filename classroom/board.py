"""The class board: a lecturer opens a class and gets a six-character code to show the room; students post
their runs (settings, seed, results) to that code; everyone reads the board; the lecturer hides, removes
and closes. Posting is limited per browser session and per class; the checks and the insert are one
transaction that takes the class's write lock first, so concurrent posts never lose each other or pass a limit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from classroom import keys, validate
from classroom.config import database_url
from classroom.engine import make_engine, upgrade_to_head
from classroom.schema import classes, lecturer_keys, posts
from classroom.validate import BoardError

MAX_POSTS_PER_SESSION = 20  # posts one browser session may hold in one class
MAX_POSTS_PER_CLASS = 500  # posts one class may hold (hidden ones count; removed ones do not)
MAX_TITLE_CHARS = 80
MAX_AUTHOR_CHARS = 40

__all__ = ["MAX_POSTS_PER_CLASS", "MAX_POSTS_PER_SESSION", "Board", "BoardError", "ClassInfo", "Post"]


@dataclass(frozen=True)
class ClassInfo:
    code: str
    title: str
    created: datetime  # UTC
    closed: bool
    n_posts: int  # visible and hidden posts; removed ones are gone


@dataclass(frozen=True)
class Post:
    id: int
    code: str
    author: str
    page: str
    settings: dict
    seed: int
    metrics: dict
    created: datetime  # UTC
    hidden: bool
    _session_hash: str = field(default="", repr=False, compare=False)

    def by(self, session: str | None) -> bool:
        """True when the browser session `session` posted this."""
        return isinstance(session, str) and bool(session) and keys.same_digest(session, self._session_hash)


def _now() -> datetime:
    return datetime.now(UTC)


class Board:
    """The board in the database at `url` (None: database_url()). Cheap to make; the schema is brought to
    Alembic's head on first use. Safe to share between threads: one per process is typical."""

    def __init__(self, url: str | None = None):
        self.url = url or database_url()
        self._engine = make_engine(self.url)
        self._writer = self._engine.execution_options(begin="IMMEDIATE")
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def dispose(self) -> None:
        """Close the pooled connections (a Board still works afterwards: it reconnects)."""
        self._engine.dispose()

    # ------------------------------------------------------------------ lecturer

    def open_class(self, title: str, passphrase: str | None = None) -> tuple[str, str]:
        """A new class -> (code, lecturer_key). The key is stored only as a digest: keep it in the lecturer's
        session. With a passphrase (4..128 characters) `lecturer_key` gives another browser a key."""
        title = validate.name(title, "class title", MAX_TITLE_CHARS)
        pp_hash = keys.hash_passphrase(validate.passphrase(passphrase)) if passphrase else None
        key = keys.new_lecturer_key()
        for _ in range(50):  # 32**6 ~ 1e9 codes: a collision is rare, two in a row rarer still
            code = keys.new_code()
            try:
                with self._write() as conn:
                    class_id = conn.execute(
                        sa.insert(classes).values(
                            code=code, title=title, created=_now(), closed=False, passphrase_hash=pp_hash, version=0
                        )
                    ).inserted_primary_key[0]
                    self._add_key(conn, class_id, key)
                return code, key
            except sa.exc.IntegrityError:
                continue
        raise BoardError("Could not find a free class code; please try again.")

    def lecturer_key(self, code: str, passphrase: str) -> str:
        """A new lecturer key for the class, given its passphrase."""
        code = validate.class_code(code)
        with self._read() as conn:
            row = self._class(conn, code)
        if row.passphrase_hash is None:
            raise BoardError(f"Class {code} was opened without a passphrase, so its lecturer key cannot be recovered.")
        if not isinstance(passphrase, str) or not keys.check_passphrase(passphrase, row.passphrase_hash):
            raise BoardError(f"That is not the passphrase of class {code}.")
        key = keys.new_lecturer_key()
        with self._write() as conn:
            self._add_key(conn, row.id, key)
        return key

    def is_lecturer(self, code: str, lecturer_key: str | None) -> bool:
        if not isinstance(lecturer_key, str) or not lecturer_key:
            return False
        try:
            code = validate.class_code(code)
        except BoardError:
            return False
        with self._read() as conn:
            return self._holds_key(conn, code, lecturer_key)

    def hide(self, code: str, post_id: int, lecturer_key: str | None, hidden: bool = True) -> None:
        """Hide a post from the students' board (the lecturer still sees it), or show it again."""
        code = validate.class_code(code)
        with self._write() as conn:
            row = self._class(conn, code, lock=True)
            self._require_lecturer(conn, code, lecturer_key)
            done = conn.execute(
                sa.update(posts)
                .where(posts.c.id == _post_id(post_id), posts.c.class_id == row.id)
                .values(hidden=bool(hidden))
            )
            if done.rowcount == 0:
                raise BoardError(f"Class {code} has no post {post_id}.")
            self._bump(conn, row.id)

    def close(self, code: str, lecturer_key: str | None) -> None:
        """A closed class takes no more posts; its board still shows."""
        code = validate.class_code(code)
        with self._write() as conn:
            row = self._class(conn, code, lock=True)
            self._require_lecturer(conn, code, lecturer_key)
            conn.execute(sa.update(classes).where(classes.c.id == row.id).values(closed=True))
            self._bump(conn, row.id)

    # ------------------------------------------------------------------ everyone

    def info(self, code: str) -> ClassInfo:
        code = validate.class_code(code)
        with self._read() as conn:
            row = self._class(conn, code)
            n = conn.scalar(sa.select(sa.func.count()).select_from(posts).where(posts.c.class_id == row.id))
        return ClassInfo(code=code, title=row.title, created=row.created, closed=row.closed, n_posts=n)

    def post(self, code: str, *, author: str, session: str, page: str, settings: dict, seed: int, metrics: dict) -> int:
        """Post a run to the class; returns the new post's id. BoardError says why a post is refused."""
        code = validate.class_code(code)
        values = dict(
            author=validate.name(author, "name", MAX_AUTHOR_CHARS),
            session_hash=keys.digest(validate.session(session)),
            page=validate.page(page),
            settings=validate.settings(settings),
            seed=validate.seed(seed),
            metrics=validate.metrics(metrics),
            hidden=False,
        )
        with self._write() as conn:
            row = self._class(conn, code, lock=True)  # from here on no other post to this class can interleave
            if row.closed:
                raise BoardError(f"Class {code} is closed: it takes no more posts.")
            count = sa.select(sa.func.count()).select_from(posts).where(posts.c.class_id == row.id)
            if conn.scalar(count) >= MAX_POSTS_PER_CLASS:
                raise BoardError(f"The board of class {code} is full ({MAX_POSTS_PER_CLASS} posts).")
            if conn.scalar(count.where(posts.c.session_hash == values["session_hash"])) >= MAX_POSTS_PER_SESSION:
                raise BoardError(
                    f"You have posted {MAX_POSTS_PER_SESSION} runs to this class, the most one browser may post;"
                    " remove one of yours to post another."
                )
            post_id = conn.execute(
                sa.insert(posts).values(class_id=row.id, created=_now(), **values)
            ).inserted_primary_key[0]
            self._bump(conn, row.id)
        return post_id

    def posts(self, code: str, *, include_hidden: bool = False) -> list[Post]:
        """The class's posts, oldest first; hidden ones only with include_hidden (the lecturer's view)."""
        code = validate.class_code(code)
        with self._read() as conn:
            row = self._class(conn, code)
            q = sa.select(posts).where(posts.c.class_id == row.id).order_by(posts.c.id)
            if not include_hidden:
                q = q.where(posts.c.hidden.is_(False))
            rows = conn.execute(q).all()
        return [
            Post(
                id=r.id, code=code, author=r.author, page=r.page, settings=r.settings, seed=r.seed,
                metrics=r.metrics, created=r.created, hidden=r.hidden, _session_hash=r.session_hash,
            )
            for r in rows
        ]  # fmt: skip

    def version(self, code: str) -> int:
        """A number that changes whenever the class's posts change: poll it, re-read the posts when it moves."""
        code = validate.class_code(code)
        with self._read() as conn:
            return self._class(conn, code).version

    def remove(self, code: str, post_id: int, *, lecturer_key: str | None = None, session: str | None = None) -> None:
        """Delete a post: the lecturer may remove any, a student only their own (the session that posted it)."""
        code = validate.class_code(code)
        with self._write() as conn:
            row = self._class(conn, code, lock=True)
            where = (posts.c.id == _post_id(post_id), posts.c.class_id == row.id)
            owner = conn.scalar(sa.select(posts.c.session_hash).where(*where))
            if owner is None:
                raise BoardError(f"Class {code} has no post {post_id}.")
            mine = isinstance(session, str) and bool(session) and keys.same_digest(session, owner)
            if not mine and not self._holds_key(conn, code, lecturer_key):
                raise BoardError("You can remove only your own posts; the lecturer can remove any.")
            conn.execute(sa.delete(posts).where(*where))
            self._bump(conn, row.id)

    # ------------------------------------------------------------------ plumbing

    def _ready(self) -> None:
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    upgrade_to_head(self._engine)
                    self._migrated = True

    def _read(self):
        self._ready()
        return self._engine.begin()

    def _write(self):
        """A transaction that holds SQLite's write lock from its start (PostgreSQL: the class row lock)."""
        self._ready()
        return self._writer.begin()

    @staticmethod
    def _class(conn: sa.Connection, code: str, lock: bool = False) -> sa.Row:
        q = sa.select(classes).where(classes.c.code == code)
        row = conn.execute(q.with_for_update() if lock else q).one_or_none()
        if row is None:
            raise BoardError(f"No class has the code {code}.")
        return row

    @staticmethod
    def _add_key(conn: sa.Connection, class_id: int, key: str) -> None:
        conn.execute(sa.insert(lecturer_keys).values(class_id=class_id, key_hash=keys.digest(key), created=_now()))

    @staticmethod
    def _holds_key(conn: sa.Connection, code: str, key: str | None) -> bool:
        if not isinstance(key, str) or not key:
            return False
        q = (
            sa.select(lecturer_keys.c.id)
            .join(classes, classes.c.id == lecturer_keys.c.class_id)
            .where(classes.c.code == code, lecturer_keys.c.key_hash == keys.digest(key))
        )
        return conn.execute(q).first() is not None

    def _require_lecturer(self, conn: sa.Connection, code: str, key: str | None) -> None:
        if not self._holds_key(conn, code, key):
            raise BoardError(f"Only the lecturer of class {code} can do that.")

    @staticmethod
    def _bump(conn: sa.Connection, class_id: int) -> None:
        conn.execute(sa.update(classes).where(classes.c.id == class_id).values(version=classes.c.version + 1))


def _post_id(post_id: object) -> int:
    if isinstance(post_id, bool) or not isinstance(post_id, int):
        raise BoardError("A post is named by its number.")
    return post_id
