"""The transaction store's schema comes from its own Alembic migrations; a store made before
them (by ``create_all``) opens, is stamped and upgraded in place, and keeps every row."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from api.readmodel.database import make_engine, migrate
from chain.txstore import TxRecord, TxStatus, TxStore, metadata
from chain.txstore_migrations import (
    FIRST_REVISION,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head,
)
from tests.api.databases import fresh_database
from tests.helpers import pending_record

# What ``metadata.create_all`` made on SQLite before the store had migrations, frozen here:
# the stores out there were made by it, whatever the table becomes later.
STORE_BEFORE_MIGRATIONS = [
    """CREATE TABLE transactions (
        id INTEGER NOT NULL,
        idempotency_key VARCHAR(200),
        sender VARCHAR(42) NOT NULL,
        nonce BIGINT NOT NULL,
        to_address VARCHAR(42),
        data BLOB NOT NULL,
        value VARCHAR(78) NOT NULL,
        gas BIGINT NOT NULL,
        raw BLOB NOT NULL,
        tx_hash BLOB NOT NULL,
        status VARCHAR(16) NOT NULL,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (idempotency_key),
        UNIQUE (tx_hash)
    )""",
    "CREATE INDEX ix_transactions_status ON transactions (status)",
    "CREATE INDEX ix_transactions_sender ON transactions (sender)",
]


def _old_store(path: Path, rows: int) -> list[TxRecord]:
    """A store as the code before migrations left it, holding ``rows`` transactions (the
    first one mined)."""
    records = [pending_record(i) for i in range(1, rows + 1)]
    records[:1] = [dataclasses.replace(r, status=TxStatus.MINED) for r in records[:1]]
    with closing(sqlite3.connect(path)) as conn:
        for statement in STORE_BEFORE_MIGRATIONS:
            conn.execute(statement)
        for record in records:
            conn.execute(
                "INSERT INTO transactions (idempotency_key, sender, nonce, to_address, data,"
                " value, gas, raw, tx_hash, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.idempotency_key,
                    record.sender,
                    record.nonce,
                    record.to,
                    record.data,
                    str(record.value),
                    record.gas,
                    record.raw,
                    record.tx_hash,
                    record.status.value,
                    record.created_at.replace(tzinfo=None).isoformat(sep=" "),
                ),
            )
        conn.commit()
    return records


def test_a_store_made_before_migrations_is_upgraded_in_place_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "transactions.db"
    records = _old_store(path, rows=3)
    store = TxStore(path)
    try:
        assert current_revision(store.engine) == head()
        assert [store.by_hash(r.tx_hash) for r in records] == records
        assert list(store.unconfirmed()) == records[1:]
        assert store.add(pending_record(4)) is None  # and it takes new rows
        assert store.by_key(pending_record(4).idempotency_key or "") is not None
    finally:
        store.close()


def test_a_new_store_is_made_by_the_migrations_and_matches_the_table(tmp_path: Path) -> None:
    store = TxStore(tmp_path / "transactions.db")
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == head()
            assert compare_metadata(context, metadata) == [], (
                "the table changed without a migration"
            )
    finally:
        store.close()


def test_the_first_revision_is_what_create_all_made(tmp_path: Path) -> None:
    # stamping an old store at FIRST_REVISION is right only if that revision builds the same
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    _old_store(old, rows=0)
    command.upgrade(alembic_config(create_engine(f"sqlite:///{new}")), FIRST_REVISION)
    assert _schema(new) == _schema(old)


def _schema(path: Path) -> dict[str, object]:
    inspector = inspect(create_engine(f"sqlite:///{path}"))
    return {
        "columns": [
            (c["name"], str(c["type"]), c["nullable"])
            for c in inspector.get_columns("transactions")
        ],
        "unique": sorted(
            tuple(u["column_names"]) for u in inspector.get_unique_constraints("transactions")
        ),
        "indexes": sorted(
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes("transactions")
        ),
        "primary key": inspector.get_pk_constraint("transactions")["constrained_columns"],
    }


def test_the_store_and_the_read_model_share_a_database_with_two_histories(
    tmp_path: Path,
) -> None:
    # on PostgreSQL too, with SCF_TEST_DATABASE_URL (tests/api/databases.py)
    with fresh_database(tmp_path) as url:
        read_model = make_engine(url)
        try:
            migrate(read_model)  # the read model's history: alembic_version
            store = TxStore(url)
            try:
                store.add(pending_record(1))
                tables = set(inspect(store.engine).get_table_names())
                assert {"alembic_version", VERSION_TABLE, "transactions"} <= tables
                assert current_revision(store.engine) == head()
            finally:
                store.close()
            migrate(read_model)  # each history untouched by the other
            reopened = TxStore(url)
            try:
                assert reopened.by_hash(pending_record(1).tx_hash) is not None
            finally:
                reopened.close()
        finally:
            read_model.dispose()
