"""The board's database connection and its schema migrations.

SQLite (one machine): WAL mode so readers never wait for the writer, a 10 s busy timeout, and writes that
take the write lock when they begin (BEGIN IMMEDIATE), so a read-check-insert cannot race another process.
PostgreSQL (a deployment): the writes lock the class row with SELECT ... FOR UPDATE (see board.py).
Either way `upgrade_to_head` brings the schema to Alembic's head under a lock, so two processes starting
at once migrate once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 10.0
_MIGRATION_LOCK = 25_2501  # any constant: the key of PostgreSQL's advisory lock around migrations
_ALEMBIC = threading.Lock()  # alembic.context is one global per process: one migration at a time in it


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; for a SQLite file its folder is made and every connection is set up as above.
    `engine.execution_options(begin="IMMEDIATE")` gives the engine for writes."""
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(u, pool_pre_ping=True)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own would be DEFERRED)
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("begin", "DEFERRED"))

    return engine


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, made in Python (no alembic.ini needed); `url` None -> database_url()."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: sa.Engine) -> None:
    """Run the migrations up to head in one locked transaction; a no-op when the schema is at head."""
    with _ALEMBIC, engine.execution_options(begin="IMMEDIATE").begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
