"""The transaction store's schema, under Alembic migrations of its own.

The store is a chain-layer store: its history is separate from the API read model's
(``api/readmodel/migrations``) and so is its version table, so that both may live in one
database. A store made before it had migrations (``create_all``) holds exactly the first
revision's schema: it is stamped at that revision, then upgraded like any other, keeping
its rows.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "txstore_alembic_version"
FIRST_REVISION = "tx0001"  # what ``create_all`` made before migrations


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(LOCATION))
    config.attributes["engine"] = engine
    return config


@cache
def head() -> str:
    """The newest revision (read once: the store is opened often, by tests above all)."""
    revision = ScriptDirectory(str(LOCATION)).get_current_head()
    assert revision is not None, "the transaction store has migrations"
    return revision


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest revision; a store made by ``create_all``
    before migrations is stamped at the first revision first."""
    current = current_revision(engine)
    if current == head():
        return
    config = alembic_config(engine)
    if current is None and inspect(engine).has_table("transactions"):
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, "head")
