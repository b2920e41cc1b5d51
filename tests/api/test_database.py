"""The read model's engines: durable commits by default, relaxed ones for the indexer."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, text

from api.readmodel.database import make_engine, migrate, relaxed_engine, session_factory
from api.readmodel.models import IndexerCursor
from tests.api.databases import fresh_database

SQLITE_FULL, SQLITE_NORMAL = 2, 1


def _commit_setting(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return str(connection.execute(text("PRAGMA synchronous")).scalar())
        return str(connection.execute(text("SHOW synchronous_commit")).scalar())


def test_the_indexers_engine_does_not_wait_for_the_disk_and_shares_the_data(
    tmp_path: Path,
) -> None:
    with fresh_database(tmp_path) as url:
        durable = make_engine(url)
        relaxed = relaxed_engine(durable)
        try:
            migrate(durable)
            assert relaxed is not durable
            if durable.dialect.name == "sqlite":
                expected = (str(SQLITE_FULL), str(SQLITE_NORMAL))
            else:
                expected = ("on", "off")
            assert (_commit_setting(durable), _commit_setting(relaxed)) == expected
            with session_factory(relaxed).begin() as session:
                session.add(IndexerCursor(id=1, block_number=7, log_index=2))
            with session_factory(durable)() as session:
                assert session.scalars(select(IndexerCursor.block_number)).one() == 7
        finally:
            relaxed.dispose()
            durable.dispose()


def test_an_in_memory_database_keeps_its_one_engine() -> None:
    engine = make_engine("sqlite://")
    try:
        assert relaxed_engine(engine) is engine
    finally:
        engine.dispose()
