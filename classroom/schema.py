"""The class board's tables (SQLAlchemy Core). The migrations in migrations/versions create exactly these;
a test compares them with Alembic's compare_metadata.

classes         one row per class; `version` is bumped by every change to its posts (the page polls it)
lecturer_keys   digests of the keys handed to the lecturer's browsers (several: one per passphrase login)
posts           one row per posted run; `session_hash` is the digest of the posting browser session's id
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime in and out, on PostgreSQL (timestamptz) and on SQLite (which keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


classes = sa.Table(
    "classes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(6), nullable=False, unique=True),
    sa.Column("title", sa.String(80), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("passphrase_hash", sa.String(200), nullable=True),  # scrypt, see keys.py; NULL: no passphrase
    sa.Column("version", sa.Integer, nullable=False),
)

lecturer_keys = sa.Table(
    "lecturer_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the key
    sa.Column("created", UTCDateTime, nullable=False),
)

posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("class_id", sa.Integer, sa.ForeignKey("classes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("author", sa.String(40), nullable=False),
    sa.Column("session_hash", sa.String(64), nullable=False),  # sha256 hex of the browser session's id
    sa.Column("page", sa.String(40), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False),
    sa.Index(None, "class_id", "session_hash"),
    sqlite_autoincrement=True,  # a removed post's id is never handed out again
)
