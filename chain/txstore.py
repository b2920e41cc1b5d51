"""Durable record of every transaction the transaction manager signs.

A row is written *before* its transaction is sent, holding the signed raw
transaction, so that a retry with the same idempotency key, or a restart after
a crash, finds the transaction again instead of signing a second one.

SQL through SQLAlchemy 2 Core: a SQLite file (``TxStore("txs.sqlite")``), an
in-memory database (``TxStore("sqlite://")``) or any SQLAlchemy URL. Its schema is
under Alembic migrations of its own (``chain.txstore_migrations``), run on open.

Inserts are group-committed: threads that add rows while a durable commit is
in flight queue up, and the next commit writes all of them in one transaction
with one fsync. Each caller still returns only after its own row is durable,
so "stored before sent" holds, at one fsync per group instead of per row.

Status updates ride along: ``set_status`` records the new status in memory
(every read of this store sees it at once) and the next group commit writes it
in the same transaction; when no commit is in flight the caller writes it
itself. A status lost in a crash is harmless: a pending row is checked for a
receipt before it is ever sent again.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator
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
    bindparam,
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
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator

from chain.txstore_migrations import migrate


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
# looked up on every write: built once, parameters bound per call
_BY_KEY = select(transactions).where(transactions.c.idempotency_key == bindparam("key"))
_BY_HASH = select(transactions).where(transactions.c.tx_hash == bindparam("tx_hash"))


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


# Built once: SQLAlchemy caches their compiled form, a new statement per row would be compiled
# again each time. Where the database can skip a taken row and say which rows it stored, a
# whole group is one statement (SQLAlchemy sends it as one multi-row INSERT).
_INSERT_OR_SKIP = {
    "sqlite": sqlite.insert(transactions)
    .on_conflict_do_nothing()
    .returning(transactions.c.tx_hash, transactions.c.idempotency_key),
    "postgresql": postgresql.insert(transactions)
    .on_conflict_do_nothing()
    .returning(transactions.c.tx_hash, transactions.c.idempotency_key),
}
_INSERT = insert(transactions)
_SET_STATUS = (
    update(transactions)
    .where(transactions.c.tx_hash == bindparam("b_tx_hash"))
    .values(status=bindparam("b_status"))
)


def _insert_unless_taken(conn: Connection, rows: list[dict[str, Any]]) -> list[bool]:
    """Insert ``rows``; for each, False if a unique column (key or hash) holds it already.
    One taken row must not fail the other rows of its group."""
    if not rows:
        return []
    statement = _INSERT_OR_SKIP.get(conn.dialect.name)
    if statement is None or not conn.dialect.insert_executemany_returning:  # (SQLite < 3.35)
        return [_insert_one(conn, row) for row in rows]
    inserted = {(bytes(tx_hash), key) for tx_hash, key in conn.execute(statement, rows)}
    stored = []
    for row in rows:
        identity = (row["tx_hash"], row["idempotency_key"])
        stored.append(identity in inserted)
        inserted.discard(identity)  # the same row twice in one group: the first one holds it
    return stored


def _insert_one(conn: Connection, row: dict[str, Any]) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(_INSERT, row)
    except IntegrityError:
        return False
    return True


def _write_statuses(conn: Connection, statuses: dict[bytes, TxStatus]) -> None:
    if statuses:
        conn.execute(
            _SET_STATUS,
            [{"b_tx_hash": h, "b_status": status.value} for h, status in statuses.items()],
        )


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
        migrate(self.engine)
        # SQLite has one writer; serialize writes here instead of meeting "database is locked".
        self._write_lock = threading.Lock()
        self._group = threading.Condition()
        self._queued: list[_Insert] = []
        self._statuses: dict[bytes, TxStatus] = {}  # set and not committed yet: reads see them
        self._unwritten: dict[bytes, TxStatus] = {}  # of those, not taken by a commit yet
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

    def set_status(self, tx_hash: bytes, status: TxStatus) -> None:
        """Record ``status``: visible to this store's reads now, written with the next group
        commit (by this thread when no commit is in flight)."""
        with self._group:
            self._statuses[tx_hash] = self._unwritten[tx_hash] = status
            if self._committing:
                return  # the next commit takes it
            batch, statuses = self._lead()
        error = self._run(batch, statuses)
        if error is not None:
            raise error

    def _insert(self, entry: _Insert) -> None:
        """Wait until ``entry`` is committed: by a commit this thread leads, or by another's."""
        with self._group:
            self._queued.append(entry)
            while not entry.done:
                if not self._committing:
                    batch, statuses = self._lead()
                    break
                self._group.wait()
            else:
                return
        self._run(batch, statuses)

    def _lead(self) -> tuple[list[_Insert], dict[bytes, TxStatus]]:
        """Held under ``_group``: take what is queued for the commit this thread leads."""
        self._committing = True
        batch, self._queued = self._queued, []
        statuses, self._unwritten = self._unwritten, {}
        return batch, statuses

    def _run(self, batch: list[_Insert], statuses: dict[bytes, TxStatus]) -> BaseException | None:
        error: BaseException | None = None
        try:
            error = self._commit_group(batch, statuses)
        finally:
            with self._group:
                self._committing = False
                for waiting in batch:
                    waiting.done = True
                for tx_hash, status in statuses.items():
                    if error is not None:  # not written: the next commit tries again
                        self._unwritten.setdefault(tx_hash, status)
                    elif self._statuses.get(tx_hash) is status:
                        del self._statuses[tx_hash]
                self._group.notify_all()
        return error

    def _commit_group(
        self, batch: list[_Insert], statuses: dict[bytes, TxStatus]
    ) -> BaseException | None:
        # Rows must survive power loss before they are sent; statuses alone need no fsync.
        engine = self.engine if batch else self._lazy_engine
        try:
            with self._write_lock, engine.begin() as conn:
                stored = _insert_unless_taken(conn, [entry.row for entry in batch])
                for entry, was_stored in zip(batch, stored, strict=True):
                    entry.stored = was_stored
                _write_statuses(conn, statuses)
        except BaseException as exc:  # the whole group failed: each caller hears why
            for entry in batch:
                entry.error = exc
            return exc
        if batch:
            self.commits += 1
        return None

    def _overlay(self) -> dict[bytes, TxStatus]:
        """Statuses not committed yet. Taken before a query: an entry leaves it only once
        its commit is done, so the query then sees it in the table."""
        with self._group:
            return dict(self._statuses)

    def by_key(self, idempotency_key: str) -> TxRecord | None:
        return self._one(_BY_KEY, {"key": idempotency_key})

    def by_hash(self, tx_hash: bytes) -> TxRecord | None:
        return self._one(_BY_HASH, {"tx_hash": tx_hash})

    def _one(self, query: Select[Any], params: dict[str, Any]) -> TxRecord | None:
        overlay = self._overlay()
        with self.engine.connect() as conn:
            row = conn.execute(query, params).first()
        return None if row is None else next(_with_statuses([_record(row)], overlay))

    def unconfirmed(self, sender: str | None = None) -> list[TxRecord]:
        """Transactions with no receipt seen yet, by sender and nonce (the order to re-send)."""
        query = select(transactions).where(transactions.c.status == TxStatus.PENDING.value)
        if sender is not None:
            query = query.where(transactions.c.sender == sender)
        query = query.order_by(transactions.c.sender, transactions.c.nonce)
        overlay = self._overlay()
        with self.engine.connect() as conn:
            records = [_record(row) for row in conn.execute(query)]
        return [r for r in _with_statuses(records, overlay) if r.status is TxStatus.PENDING]

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

    def flush(self) -> None:
        """Write the statuses still held in memory (``close`` does)."""
        with self._group:
            while self._committing:
                self._group.wait()
            if not self._unwritten:
                return
            batch, statuses = self._lead()
        error = self._run(batch, statuses)
        if error is not None:
            raise error

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.engine.dispose()
            self._lazy_engine.dispose()


def _with_statuses(
    records: Iterable[TxRecord], overlay: dict[bytes, TxStatus]
) -> Iterator[TxRecord]:
    for record in records:
        status = overlay.get(record.tx_hash)
        yield record if status is None else dataclasses.replace(record, status=status)


def utc_now() -> datetime:
    return datetime.now(UTC)
