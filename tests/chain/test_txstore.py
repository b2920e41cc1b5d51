"""The transaction store's status updates: seen at once, written with the group commits."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from chain.txstore import TxRecord, TxStatus, TxStore, utc_now


def _record(i: int) -> TxRecord:
    return TxRecord(
        idempotency_key=f"key-{i}",
        sender=f"0x{i:040x}",
        nonce=0,
        to=None,
        data=b"",
        value=0,
        gas=21_000,
        raw=b"raw",
        tx_hash=i.to_bytes(32, "big"),
        status=TxStatus.PENDING,
        created_at=utc_now(),
    )


def _status_on_disk(path: Path, tx_hash: bytes) -> str:
    """What another process (``scf-node status``) reads from the file."""
    with closing(sqlite3.connect(path)) as conn:
        query = "SELECT status FROM transactions WHERE tx_hash = ?"
        row = conn.execute(query, (tx_hash,)).fetchone()
    return str(row[0])


def test_a_status_set_with_no_commit_in_flight_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "txs.sqlite"
    store = TxStore(path)
    try:
        store.add(_record(1))
        store.set_status(_record(1).tx_hash, TxStatus.MINED)
        assert _status_on_disk(path, _record(1).tx_hash) == "mined"
    finally:
        store.close()


def test_a_status_set_during_a_commit_is_seen_at_once_and_written_with_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "txs.sqlite"
    store = TxStore(path)
    try:
        for i in (1, 2):
            store.add(_record(i))
        mined, reverted = _record(1).tx_hash, _record(2).tx_hash
        # Hold the store's write lock: the insert below leads a commit that stays in flight.
        with store._write_lock:
            inserting = threading.Thread(target=store.add, args=(_record(3),))
            inserting.start()
            with store._group:
                while not store._committing:
                    store._group.wait(timeout=5)
            store.set_status(mined, TxStatus.MINED)  # returns without waiting for the commit
            store.set_status(reverted, TxStatus.REVERTED)
            assert store.by_hash(mined).status is TxStatus.MINED  # type: ignore[union-attr]
            assert store.by_key("key-2").status is TxStatus.REVERTED  # type: ignore[union-attr]
            assert [r.tx_hash for r in store.unconfirmed()] == []  # row 3 is not stored yet
        inserting.join(timeout=10)
        assert _status_on_disk(path, mined) == "pending"  # the commit in flight took only row 3
        assert [r.idempotency_key for r in store.unconfirmed()] == ["key-3"]

        store.add(_record(4))  # the next group commit carries the statuses
        assert _status_on_disk(path, mined) == "mined"
        assert _status_on_disk(path, reverted) == "reverted"
    finally:
        store.close()


def test_statuses_still_in_memory_are_written_on_close(tmp_path: Path) -> None:
    path = tmp_path / "txs.sqlite"
    store = TxStore(path)
    store.add(_record(1))
    with store._write_lock:
        inserting = threading.Thread(target=store.add, args=(_record(2),))
        inserting.start()
        with store._group:
            while not store._committing:
                store._group.wait(timeout=5)
        store.set_status(_record(1).tx_hash, TxStatus.DROPPED)
    inserting.join(timeout=10)
    assert _status_on_disk(path, _record(1).tx_hash) == "pending"
    store.close()
    assert _status_on_disk(path, _record(1).tx_hash) == "dropped"
    reopened = TxStore(path)
    try:
        assert reopened.by_key("key-1").status is TxStatus.DROPPED  # type: ignore[union-attr]
    finally:
        reopened.close()
