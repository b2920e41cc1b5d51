"""Engines, sessions and schema migrations (Alembic) of the read model."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from api.settings import Settings, get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
# connections for the node's own threads beside its requests and webhook deliveries: the
# indexer, the webhook dispatcher, the event streams' head watcher, the idempotency
# middleware's background workers, and a request's second session now and then (an
# alert kept on its own)
NODE_CONNECTIONS = 16
POOL_TIMEOUT_SECONDS = 10  # never reached while the bounds hold; then 503, not a stall


def pool_connections(settings: Settings) -> int:
    """Connections in each pool: one per request in flight (``api.admission``: a request
    holds at most one of a pool at a time), one per webhook delivery worker, and the
    node's own."""
    return settings.requests_max_in_flight + settings.webhook_workers + NODE_CONNECTIONS


def make_engine(
    url: str, *, durable_commits: bool = True, connections: int | None = None
) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys, as a server database would.

    ``durable_commits=False`` is for writes the ledger can give back: a commit returns
    before it reaches the disk (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
    ``synchronous_commit=off``). A crash of the process loses nothing; a power loss may
    roll back the last transactions, whole, never half of one.

    ``connections``: the pool's size (default ``pool_connections`` of the settings). The
    pool never opens more, and keeps those it opened: opening one (SQLite: a schema read)
    is costly. A request is admitted only while the pool has a connection for it, so it
    never waits for one (a pool of SQLAlchemy's default 5 + 10 once held every worker
    thread waiting, for minutes)."""
    pooled = _is_pooled(make_url(url).database)  # in-memory: one connection
    size = connections if connections is not None else pool_connections(get_settings())
    sizes = {"pool_size": size, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT_SECONDS}
    engine = create_engine(url, future=True, **(sizes if pooled else {}))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            if not durable_commits:
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    elif engine.dialect.name == "postgresql" and not durable_commits:

        @event.listens_for(engine, "connect")
        def _postgresql_settings(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("SET synchronous_commit TO OFF")
            cursor.close()
            connection.commit()

    return engine


def relaxed_engine(engine: Engine) -> Engine:
    """An engine on ``engine``'s database whose commits do not wait for the disk (see
    ``make_engine``), for the indexer: everything it writes is derived from the ledger and
    its cursor moves in the same transaction, so after a power loss it indexes the lost
    blocks again. Its commits (one fsync each) were in series with every write
    request. An in-memory database has one connection: the same engine."""
    if not _is_pooled(engine.url.database):
        return engine
    return make_engine(engine.url.render_as_string(hide_password=False), durable_commits=False)


def _is_pooled(database: str | None) -> bool:
    return database not in (None, "", ":memory:")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine ``sessions`` open their sessions on (for Core statements on a hot path,
    where the ORM session is overhead)."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, Engine), "sessions bound to an engine"
    return bind


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
