"""A py-evm database over LMDB in which one block is one atomic, durable commit.

py-evm writes state-trie nodes, headers, receipts and indexes key by key. The
store keeps those writes in an in-memory journal (reads see them) and
``commit()`` writes the whole journal in one LMDB write transaction, synced to
disk. After a crash the store holds the last committed block entirely and
nothing of the next one.

``commit_in_background(then)`` does the same on the store's commit thread, so that
the block producer builds the next block while the disk syncs this one: on a large
ledger a block's trie nodes land on many random pages, and the producer would wait
for each sync. The journal being written stays
readable (under the new one) until it is in LMDB; ``then`` runs once it is durable,
or failed, and before the next commit starts. One commit is in flight at most.

``committed()`` is a read-only view of what the last commit left in LMDB (no
journal): readers use it without waiting for the block producer, and since
every block is one commit they see whole blocks only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import lmdb
from eth.db.backends.base import BaseDB

log = logging.getLogger(__name__)

_DELETED = None
_ABSENT = object()
# Sparse on Linux: reserves address space, not disk.
DEFAULT_MAP_SIZE = 1 << 36

Journal = dict[bytes, bytes | None]  # key -> value, or _DELETED
AfterCommit = Callable[[BaseException | None], None]  # the commit's error, or None: durable


class LmdbStore(BaseDB):
    def __init__(self, path: Path, map_size: int = DEFAULT_MAP_SIZE) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._env = lmdb.open(str(path), map_size=map_size, sync=True, metasync=True, max_dbs=0)
        self._journal: Journal = {}
        # The journal the commit thread is writing. Replaced, never changed, so that a
        # reader holding it is never surprised.
        self._committing: Journal = {}
        self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="ledger-commit")
        self._in_flight: Future[None] | None = None

    def __getitem__(self, key: bytes) -> bytes:
        value = self._journal.get(key, _ABSENT)
        if value is _ABSENT:
            value = self._committing.get(key, _ABSENT)
        if value is _ABSENT:
            with self._env.begin() as txn:
                value = txn.get(key)
            if value is None:
                raise KeyError(key)
            return bytes(value)
        if value is _DELETED:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._journal[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._journal[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def commit(self) -> None:
        """Write every journaled change in one durable LMDB transaction, after the commit
        in flight (whose error it raises, leaving the journal as it is)."""
        self.wait_committed()
        journal, self._journal = self._journal, {}
        self._write(journal)

    def commit_in_background(self, then: AfterCommit) -> None:
        """Start writing the journal as ``commit`` does, on the commit thread; ``then(error)``
        runs there once it is durable (``error`` None) or failed. Waits for the commit in
        flight first, and raises its error."""
        self.wait_committed()
        journal, self._journal = self._journal, {}
        self._committing = journal
        self._in_flight = self._commit_thread.submit(self._commit_then, journal, then)

    def wait_committed(self) -> None:
        """Wait for the commit in flight; raise its error if it failed (once)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def _commit_then(self, journal: Journal, then: AfterCommit) -> None:
        try:
            self._write(journal)
        except BaseException as exc:
            then(exc)
            raise
        finally:
            # in LMDB now (or lost): readers of the journal find it there
            self._committing = {}
        try:
            then(None)
        except Exception:  # the journal is durable: not a failed commit (wait_committed)
            log.exception("the callback of a durable commit failed")

    def _write(self, journal: Journal) -> None:
        if not journal:
            return
        with self._env.begin(write=True) as txn:
            for key, value in journal.items():
                if value is _DELETED:
                    txn.delete(key)
                else:
                    txn.put(key, value)

    def put_durably(self, key: bytes, value: bytes) -> None:
        """Write one key now in its own durable LMDB transaction, apart from the journal
        (the block being built): for what the node keeps beside the chain."""
        with self._env.begin(write=True) as txn:
            txn.put(key, value)

    def discard(self) -> None:
        """Forget uncommitted writes (a block that failed half-way), after the commit in
        flight has ended (its outcome is reported to its ``then``)."""
        with contextlib.suppress(Exception):  # reported by the commit's own ``then``
            self.wait_committed()
        self._journal = {}

    def committed(self) -> CommittedView:
        """A read-only view of the committed data, safe to read from any thread."""
        return CommittedView(self._env)

    def close(self) -> None:
        self.discard()
        self._commit_thread.shutdown()
        self._env.close()


class CommittedView(BaseDB):
    """What the last ``LmdbStore.commit`` wrote; each read is its own LMDB read transaction.

    Trie nodes are content-addressed and blocks are only appended, so a reader that
    starts from a published head never sees a mix of two blocks.
    """

    def __init__(self, env: lmdb.Environment) -> None:
        self._env = env

    def __getitem__(self, key: bytes) -> bytes:
        with self._env.begin() as txn:
            stored = txn.get(key)
        if stored is None:
            raise KeyError(key)
        return bytes(stored)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise TypeError("the committed view of the ledger store is read-only")

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("the committed view of the ledger store is read-only")


class TransactionView(BaseDB):
    """py-evm's view of one LMDB read transaction: every read sees the same snapshot, even
    while the node commits new blocks (verify and backup read a whole chain this way)."""

    def __init__(self, txn: lmdb.Transaction) -> None:
        self._txn = txn

    def __getitem__(self, key: bytes) -> bytes:
        value = self._txn.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise TypeError("a read transaction of the ledger store is read-only")

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("a read transaction of the ledger store is read-only")

    def _exists(self, key: bytes) -> bool:
        return self._txn.get(key) is not None
