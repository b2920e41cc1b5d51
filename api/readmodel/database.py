"""Engines, sessions and schema migrations (Alembic) of the read model."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
POOL_SIZE = 48  # connections kept open: opening one (SQLite: schema read) is costly
POOL_OVERFLOW = 16  # more under a burst: 64 in all


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys, as a server database would."""
    # A write request holds its session's connection while it waits for its block, so the
    # pool must cover every thread that may hold a session at once (anyio's 40 request
    # threads, the idempotency workers, indexer, webhooks): SQLAlchemy's default 5 + 10
    # starved at 16 concurrent transfers (30 s pool timeouts, 500s), and closing its
    # overflow connections after each use cost a quarter of the node's CPU per transfer.
    pooled = make_url(url).database not in (None, "", ":memory:")  # in-memory: one connection
    sizes = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW} if pooled else {}
    engine = create_engine(url, future=True, **sizes)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
