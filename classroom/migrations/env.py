"""Alembic's environment for the class board: migrates the connection it is handed (engine.upgrade_to_head),
or else the database at sqlalchemy.url / database_url() (the alembic CLI with classroom/alembic.ini)."""

from __future__ import annotations

from alembic import context

from classroom.config import database_url
from classroom.engine import make_engine
from classroom.schema import metadata

config = context.config


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    with engine.execution_options(begin="IMMEDIATE").connect() as connection:
        run(connection)
    engine.dispose()
