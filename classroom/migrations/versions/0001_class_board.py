"""The class board: classes, lecturer keys, posts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("passphrase_hash", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_classes"),
        sa.UniqueConstraint("code", name="uq_classes_code"),
    )
    op.create_table(
        "lecturer_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("class_id", sa.Integer, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lecturer_keys"),
        sa.ForeignKeyConstraint(
            ["class_id"], ["classes.id"], name="fk_lecturer_keys_class_id_classes", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_lecturer_keys_key_hash"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("class_id", sa.Integer, nullable=False),
        sa.Column("author", sa.String(40), nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("page", sa.String(40), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name="fk_posts_class_id_classes", ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_posts_class_id_session_hash", "posts", ["class_id", "session_hash"])


def downgrade() -> None:
    op.drop_index("ix_posts_class_id_session_hash", table_name="posts")
    op.drop_table("posts")
    op.drop_table("lecturer_keys")
    op.drop_table("classes")
