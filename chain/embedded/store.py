"""A py-evm database over LMDB in which one block is one atomic, durable commit.

py-evm writes state-trie nodes, headers, receipts and indexes key by key. The
store keeps those writes in an in-memory journal (reads see them) and
``commit()`` writes the whole journal in one LMDB write transaction, synced to
disk. After a crash the store holds the last committed block entirely and
nothing of the next one.

``committed()`` is a read-only view of what the last commit left in LMDB (no
journal): readers use it without waiting for the block producer, and since
every block is one commit they see whole blocks only.
"""

from __future__ import annotations

from pathlib import Path

import lmdb
from eth.db.backends.base import BaseDB

_DELETED = None
# Sparse on Linux: reserves address space, not disk.
DEFAULT_MAP_SIZE = 1 << 36


class LmdbStore(BaseDB):
    def __init__(self, path: Path, map_size: int = DEFAULT_MAP_SIZE) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._env = lmdb.open(str(path), map_size=map_size, sync=True, metasync=True, max_dbs=0)
        self._journal: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._journal:
            value = self._journal[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        with self._env.begin() as txn:
            stored = txn.get(key)
        if stored is None:
            raise KeyError(key)
        return bytes(stored)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._journal[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._journal[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        if key in self._journal:
            return self._journal[key] is not _DELETED
        with self._env.begin() as txn:
            return txn.get(key) is not None

    @property
    def pending_writes(self) -> int:
        return len(self._journal)

    def commit(self) -> None:
        """Write every journaled change in one durable LMDB transaction."""
        if not self._journal:
            return
        with self._env.begin(write=True) as txn:
            for key, value in self._journal.items():
                if value is _DELETED:
                    txn.delete(key)
                else:
                    txn.put(key, value)
        self._journal.clear()

    def discard(self) -> None:
        """Forget uncommitted writes (a block that failed half-way)."""
        self._journal.clear()

    def committed(self) -> CommittedView:
        """A read-only view of the committed data, safe to read from any thread."""
        return CommittedView(self._env)

    def close(self) -> None:
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
