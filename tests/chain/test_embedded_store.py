"""The ledger store: one durable LMDB commit per block, in the background or not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import lmdb
import pytest

from chain.embedded.store import LmdbStore

TOO_LONG_KEY = b"k" * 600  # LMDB refuses keys over 511 bytes: the commit fails at its put


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LmdbStore]:
    store = LmdbStore(tmp_path / "ledger")
    yield store
    store.close()


class Outcomes:
    """What ``then`` was told, and what LMDB held when it was told."""

    def __init__(self, store: LmdbStore, key: bytes) -> None:
        self.store, self.key = store, key
        self.errors: list[BaseException | None] = []
        self.stored_then: list[bytes | None] = []
        self.told = threading.Event()

    def __call__(self, error: BaseException | None) -> None:
        try:
            self.stored_then.append(self.store.committed()[self.key])
        except KeyError:
            self.stored_then.append(None)
        self.errors.append(error)
        self.told.set()


def test_a_background_commit_stays_readable_until_it_is_durable(store: LmdbStore) -> None:
    store[b"a"] = b"1"
    writer_lock = store._env.begin(write=True)  # the commit thread must wait for LMDB's lock
    outcomes = Outcomes(store, b"a")
    try:
        store.commit_in_background(outcomes)
        store[b"b"] = b"2"  # the next block's journal
        assert store[b"a"] == b"1"  # from the journal being committed
        assert store[b"b"] == b"2"
        with pytest.raises(KeyError):
            store.committed()[b"a"]
        assert not outcomes.told.wait(0.2)
    finally:
        writer_lock.abort()
    store.wait_committed()
    assert outcomes.errors == [None]
    assert outcomes.stored_then == [b"1"]  # ``then`` runs once LMDB holds the block
    assert store[b"a"] == b"1"
    with pytest.raises(KeyError):
        store.committed()[b"b"]  # still only in the journal
    store.commit()
    assert store.committed()[b"b"] == b"2"


def test_deleting_a_key_of_the_commit_in_flight(store: LmdbStore) -> None:
    store[b"a"] = b"1"
    store.commit()
    del store[b"a"]
    writer_lock = store._env.begin(write=True)
    try:
        store.commit_in_background(lambda error: None)
        with pytest.raises(KeyError):
            store[b"a"]  # deleted by the journal in flight, still in LMDB
        assert store.committed()[b"a"] == b"1"
        with pytest.raises(KeyError):
            del store[b"a"]
        assert not store._exists(b"a")
    finally:
        writer_lock.abort()
    store.wait_committed()
    with pytest.raises(KeyError):
        store.committed()[b"a"]


def _tell(told: list[int], block: int, error: BaseException | None) -> None:
    told.append(block)


def test_commits_are_written_in_order_one_at_a_time(store: LmdbStore) -> None:
    told: list[int] = []
    for block in range(5):
        store[b"head"] = str(block).encode()
        store[f"block {block}".encode()] = b"x"
        store.commit_in_background(partial(_tell, told, block))
    store.commit()  # waits for the last one, then writes its own (empty) journal
    assert told == [0, 1, 2, 3, 4]
    assert store.committed()[b"head"] == b"4"
    assert all(store.committed()[f"block {b}".encode()] == b"x" for b in range(5))


def test_a_failed_background_commit_writes_nothing_and_is_raised_once(store: LmdbStore) -> None:
    store[b"a"] = b"1"
    store[TOO_LONG_KEY] = b"2"
    outcomes = Outcomes(store, b"a")
    store.commit_in_background(outcomes)
    store[b"c"] = b"3"  # built on the failing block
    with pytest.raises(lmdb.BadValsizeError):
        store.wait_committed()
    assert len(outcomes.errors) == 1
    assert isinstance(outcomes.errors[0], lmdb.BadValsizeError)
    assert outcomes.stored_then == [None]  # all or nothing
    with pytest.raises(KeyError):
        store[b"a"]  # lost: no longer read from the failed journal
    store.discard()  # what the node does: drop what was built on it
    store.wait_committed()  # raised already
    store[b"d"] = b"4"
    store.commit()
    assert store.committed()[b"d"] == b"4"
    with pytest.raises(KeyError):
        store.committed()[b"c"]


def test_a_durable_commit_whose_callback_fails_is_not_a_failed_commit(
    store: LmdbStore, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_callback(error: BaseException | None) -> None:
        raise RuntimeError("publishing failed")

    store[b"a"] = b"1"
    store.commit_in_background(failing_callback)
    store.wait_committed()  # nothing to raise: the block is on disk
    assert store.committed()[b"a"] == b"1"
    assert "the callback of a durable commit failed" in caplog.text


def test_commit_raises_a_failed_background_commit_and_keeps_its_journal(store: LmdbStore) -> None:
    store[TOO_LONG_KEY] = b"1"
    store.commit_in_background(lambda error: None)
    store[b"b"] = b"2"
    with pytest.raises(lmdb.BadValsizeError):
        store.commit()
    assert store[b"b"] == b"2"  # the caller decides (the node discards it)
    store.commit()
    assert store.committed()[b"b"] == b"2"


def test_closing_waits_for_the_commit_in_flight(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "ledger")
    store[b"a"] = b"1"
    outcomes = Outcomes(store, b"a")
    store.commit_in_background(outcomes)
    store.close()
    assert outcomes.errors == [None]
    reopened = LmdbStore(tmp_path / "ledger")
    try:
        assert reopened[b"a"] == b"1"
    finally:
        reopened.close()
