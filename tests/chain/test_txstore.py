"""The transaction store: group commits tell each caller its fate; status updates are seen at
once and written with the group commits."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from chain.txstore import TxRecord, TxStatus, TxStore
from tests.helpers import pending_record


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
        store.add(pending_record(1))
        store.set_status(pending_record(1).tx_hash, TxStatus.MINED)
        assert _status_on_disk(path, pending_record(1).tx_hash) == "mined"
    finally:
        store.close()


def test_a_status_set_during_a_commit_is_seen_at_once_and_written_with_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "txs.sqlite"
    store = TxStore(path)
    try:
        for i in (1, 2):
            store.add(pending_record(i))
        mined, reverted = pending_record(1).tx_hash, pending_record(2).tx_hash
        # Hold the store's write lock: the insert below leads a commit that stays in flight.
        with store._write_lock:
            inserting = threading.Thread(target=store.add, args=(pending_record(3),))
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

        store.add(pending_record(4))  # the next group commit carries the statuses
        assert _status_on_disk(path, mined) == "mined"
        assert _status_on_disk(path, reverted) == "reverted"
    finally:
        store.close()


def test_statuses_still_in_memory_are_written_on_close(tmp_path: Path) -> None:
    path = tmp_path / "txs.sqlite"
    store = TxStore(path)
    store.add(pending_record(1))
    with store._write_lock:
        inserting = threading.Thread(target=store.add, args=(pending_record(2),))
        inserting.start()
        with store._group:
            while not store._committing:
                store._group.wait(timeout=5)
        store.set_status(pending_record(1).tx_hash, TxStatus.DROPPED)
    inserting.join(timeout=10)
    assert _status_on_disk(path, pending_record(1).tx_hash) == "pending"
    store.close()
    assert _status_on_disk(path, pending_record(1).tx_hash) == "dropped"
    reopened = TxStore(path)
    try:
        assert reopened.by_key("key-1").status is TxStatus.DROPPED  # type: ignore[union-attr]
    finally:
        reopened.close()


@pytest.mark.parametrize("multi_row", [True, False], ids=["one-statement", "row-by-row"])
def test_one_group_commit_tells_each_caller_what_became_of_its_row(
    tmp_path: Path, multi_row: bool
) -> None:
    store = TxStore(tmp_path / "txs.sqlite")
    # a database that cannot say which rows of a multi-row insert it kept gets them one by one
    store.engine.dialect.insert_executemany_returning = multi_row
    try:
        store.add(pending_record(1))
        taken_key = dataclasses.replace(pending_record(2), idempotency_key="key-1")
        same_hash = dataclasses.replace(pending_record(3), tx_hash=pending_record(4).tx_hash)
        outcomes: dict[str, object] = {}

        def add(name: str, record: TxRecord) -> None:
            try:
                outcomes[name] = store.add(record)
            except IntegrityError as exc:
                outcomes[name] = exc

        # Hold the write lock: the first insert leads a commit that waits for it, and the
        # three behind it queue up for the next commit, one group.
        with store._write_lock:
            first = threading.Thread(target=add, args=("first", pending_record(5)))
            first.start()
            with store._group:
                while not store._committing:
                    store._group.wait(timeout=5)
            # a hash first sent with a taken key, then with a free one: the second holds it
            hash_of_6_taken = dataclasses.replace(pending_record(6), idempotency_key="key-1")
            group = [
                ("new", pending_record(4)),
                ("taken key", taken_key),
                ("same hash", same_hash),
                ("taken key, hash 6", hash_of_6_taken),
                ("free key, hash 6", pending_record(6)),
            ]
            threads = [threading.Thread(target=add, args=item) for item in group]
            for queued, thread in enumerate(threads, start=1):
                thread.start()  # one after the other: the group keeps this order
                with store._group:
                    while len(store._queued) < queued:
                        store._group.wait(timeout=0.01)
            commits = store.commits
        for thread in [first, *threads]:
            thread.join(timeout=10)
        assert store.commits == commits + 2  # the first row's commit, then the group's
        assert outcomes["first"] is None
        assert outcomes["new"] is None  # stored
        holder = outcomes["taken key"]
        assert isinstance(holder, TxRecord)
        assert holder.tx_hash == pending_record(1).tx_hash  # the record that holds the key
        assert isinstance(outcomes["same hash"], IntegrityError)  # the new row took the hash
        assert store.by_key("key-3") is None
        assert isinstance(outcomes["taken key, hash 6"], TxRecord)  # told who holds key-1
        assert outcomes["free key, hash 6"] is None
        assert store.by_hash(pending_record(6).tx_hash).idempotency_key == "key-6"  # type: ignore[union-attr]
        assert store.by_hash(pending_record(4).tx_hash).idempotency_key == "key-4"  # type: ignore[union-attr]
    finally:
        store.close()
