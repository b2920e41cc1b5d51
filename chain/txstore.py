"""Durable record of every transaction the transaction manager signs.

A row is written *before* its transaction is sent, holding the signed raw
transaction, so that a retry with the same idempotency key, or a restart after
a crash, finds the transaction again instead of signing a second one.

SQL through SQLAlchemy 2 Core: a SQLite file (``TxStore("txs.sqlite")``), an
in-memory database (``TxStore("sqlite://")``) or any SQLAlchemy URL.

Inserts are group-committed: threads that add rows while a durable commit is
in flight queue up, and the next commit writes all of them in one transaction
with one fsync. Each caller still returns only after its own row is durable,
so "stored before sent" holds, at one fsync per group instead of per row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator


class TxStatus(StrEnum):
    PENDING = "pending"  # stored; no receipt seen (it may or may not have reached the ledger)
    MINED = "mined"  # in a block, status 1
    REVERTED = "reverted"  # in a block, status 0
    # Final without a receipt: its nonce went to another transaction ("nonce too low").
    SUPERSEDED = "superseded"
    # Final without a receipt: the node took it, then left it out of its block.
    DROPPED = "dropped"


FINAL_WITHOUT_RECEIPT = frozenset({TxStatus.SUPERSEDED, TxStatus.DROPPED})


class _UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

transactions = Table(
    "transactions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # NULL for transactions sent without a key; unique among those with one.
    Column("idempotency_key", String(200), unique=True, nullable=True),
    Column("sender", String(42), nullable=False, index=True),
    Column("nonce", BigInteger, nullable=False),
    Column("to_address", String(42), nullable=True),
    Column("data", LargeBinary, nullable=False),
    Column("value", String(78), nullable=False),  # wei as a decimal string: exceeds 64 bits
    Column("gas", BigInteger, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("tx_hash", LargeBinary(32), nullable=False, unique=True),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", _UtcDateTime, nullable=False),
)


@dataclass(frozen=True)
class TxRecord:
    """One signed transaction as stored."""

    idempotency_key: str | None
    sender: str
    nonce: int
    to: str | None
    data: bytes
    value: int
    gas: int
    raw: bytes
    tx_hash: bytes
    status: TxStatus
    created_at: datetime

    def same_request(self, sender: str, to: str | None, data: bytes, value: int) -> bool:
        """Whether a retry asks for the same operation (gas may differ between retries)."""
        return (
            self.sender.lower() == sender.lower()
            and (self.to or "").lower() == (to or "").lower()
            and self.data == data
            and self.value == value
        )


def _record(row: Row[Any]) -> TxRecord:
    m = row._mapping
    return TxRecord(
        idempotency_key=m["idempotency_key"],
        sender=m["sender"],
        nonce=int(m["nonce"]),
        to=m["to_address"],
        data=bytes(m["data"]),
        value=int(m["value"]),
        gas=int(m["gas"]),
        raw=bytes(m["raw"]),
        tx_hash=bytes(m["tx_hash"]),
        status=TxStatus(m["status"]),
        created_at=m["created_at"],
    )


def _engines(url_or_path: str | Path) -> tuple[Engine, Engine]:
    """A durable engine for rows that must survive power loss, and a lazy one for status
    updates (a lost update is harmless: re-sending checks for a receipt first)."""
    url = str(url_or_path)
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    if url in ("sqlite://", "sqlite:///:memory:"):
        # One shared connection, or every thread would see its own empty database.
        memory = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        return memory, memory
    durable, lazy = create_engine(url), create_engine(url)
    if durable.dialect.name == "sqlite":
        _sqlite_pragmas(durable, "FULL")
        _sqlite_pragmas(lazy, "NORMAL")
    return durable, lazy


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()


def _row(record: TxRecord) -> dict[str, Any]:
    return {
        "idempotency_key": record.idempotency_key,
        "sender": record.sender,
        "nonce": record.nonce,
        "to_address": record.to,
        "data": record.data,
        "value": str(record.value),
        "gas": record.gas,
        "raw": record.raw,
        "tx_hash": record.tx_hash,
        "status": record.status.value,
        "created_at": record.created_at,
    }


def _insert_unless_taken(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert ``row``; False if a unique column (key or hash) holds it already. One taken
    row must not fail the other rows of its group."""
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        dialect_insert = sqlite.insert if name == "sqlite" else postgresql.insert
        result = conn.execute(dialect_insert(transactions).values(**row).on_conflict_do_nothing())
        return bool(result.rowcount)
    try:
        with conn.begin_nested():
            conn.execute(insert(transactions).values(**row))
    except IntegrityError:
        return False
    return True


@dataclass(eq=False)
class _Insert:
    """One caller's row waiting for a group commit, and what became of it."""

    row: dict[str, Any]
    done: bool = False
    stored: bool = False  # False: a unique column was taken
    error: BaseException | None = None


class TxStore:
    """The transactions table: insert before sending, update as the transaction moves on."""

    def __init__(self, url_or_path: str | Path) -> None:
        self.engine, self._lazy_engine = _engines(url_or_path)
        metadata.create_all(self.engine)
        # SQLite has one writer; serialize writes here instead of meeting "database is locked".
        self._write_lock = threading.Lock()
        self._group = threading.Condition()
        self._queued: list[_Insert] = []
        self._committing = False
        self.commits = 0  # durable insert transactions so far (group commit at work)

    def add(self, record: TxRecord) -> TxRecord | None:
        """Store ``record`` durably; if its idempotency key is taken, store nothing and
        return the record that holds the key."""
        entry = _Insert(_row(record))
        self._insert(entry)
        if entry.error is not None:
            raise entry.error
        if entry.stored:
            return None
        existing = self.by_key(record.idempotency_key) if record.idempotency_key else None
        if existing is None:  # the taken column was not the key (the same hash twice)
            raise IntegrityError(
                "INSERT INTO transactions",
                None,
                ValueError(f"transaction 0x{record.tx_hash.hex()} is stored already"),
            )
        return existing

    def _insert(self, entry: _Insert) -> None:
        """Wait until ``entry`` is committed: by a commit this thread leads, or by another's."""
        with self._group:
            self._queued.append(entry)
            while not entry.done:
                if not self._committing:
                    self._committing = True
                    batch, self._queued = self._queued, []
                    break
                self._group.wait()
            else:
                return
        try:
            self._commit_group(batch)
        finally:
            with self._group:
                self._committing = False
                for waiting in batch:
                    waiting.done = True
                self._group.notify_all()

    def _commit_group(self, batch: list[_Insert]) -> None:
        try:
            with self._write_lock, self.engine.begin() as conn:
                for entry in batch:
                    entry.stored = _insert_unless_taken(conn, entry.row)
                self.commits += 1
        except BaseException as exc:  # the whole group failed: each caller hears why
            for entry in batch:
                entry.error = exc

    def by_key(self, idempotency_key: str) -> TxRecord | None:
        query = select(transactions).where(transactions.c.idempotency_key == idempotency_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def by_hash(self, tx_hash: bytes) -> TxRecord | None:
        query = select(transactions).where(transactions.c.tx_hash == tx_hash)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def unconfirmed(self, sender: str | None = None) -> list[TxRecord]:
        """Transactions with no receipt seen yet, by sender and nonce (the order to re-send)."""
        query = select(transactions).where(transactions.c.status == TxStatus.PENDING.value)
        if sender is not None:
            query = query.where(transactions.c.sender == sender)
        query = query.order_by(transactions.c.sender, transactions.c.nonce)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def set_status(self, tx_hash: bytes, status: TxStatus) -> None:
        statement = (
            update(transactions)
            .where(transactions.c.tx_hash == tx_hash)
            .values(status=status.value)
        )
        with self._write_lock, self._lazy_engine.begin() as conn:
            conn.execute(statement)

    def replace(self, old_hash: bytes, *, nonce: int, raw: bytes, tx_hash: bytes) -> None:
        """Swap in a newly signed transaction for one the ledger refused (nonce resync)."""
        statement = (
            update(transactions)
            .where(transactions.c.tx_hash == old_hash)
            .values(nonce=nonce, raw=raw, tx_hash=tx_hash)
        )
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(statement)

    def delete(self, tx_hash: bytes) -> None:
        """Forget a transaction the ledger refused for good: its key may be used again."""
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(sql_delete(transactions).where(transactions.c.tx_hash == tx_hash))

    def close(self) -> None:
        self.engine.dispose()
        self._lazy_engine.dispose()


def utc_now() -> datetime:
    return datetime.now(UTC)
