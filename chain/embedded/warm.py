"""What the block producer keeps from one block to the next, and what a block wrote.

py-evm builds a fresh ``AccountDB`` for every block. The producer's is py-evm's with two
changes (``WarmAccountDB``):

- it writes the block's accounts and each contract's slots to their tries in one pass
  (``chain.embedded.trie_batch``), through decoded trie nodes kept by hash from block to
  block (``WarmState.nodes``): those the last block wrote are those this one reads and
  rewrites, and a node kept by hash is true whatever the root;
- it reports every account the block wrote or touched, as it is after the block
  (``WarmState.take_written``), so that the node keeps the accounts it checks submissions
  against without reading them from the trie at every new head.

Each block otherwise starts cold, as in py-evm: it once also started from the last
block's decoded accounts, slots and codes, but that gained 3.6-7.4 % on the engine path
(docs/benchmarks.md), under the 10 % an override of a library's internals must earn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from eth.abc import AccountStorageDatabaseAPI, AtomicDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.diff import DBDiff
from eth.db.hash_trie import HashTrie
from eth.rlp.accounts import Account
from eth.vm.interrupt import MissingAccountTrieNode
from eth_typing import Address, Hash32
from lru import LRU
from trie.exceptions import MissingTrieNode

from chain.embedded.trie_batch import BatchedStorageDB, apply_diff

MAX_NODES = 8_192  # decoded trie nodes kept by hash (at most ~11 MB: full branch nodes)


@dataclass
class WarmState:
    """The producer's decoded trie nodes, kept from block to block, and the accounts the
    last block wrote."""

    nodes: LRU[bytes, Any] = field(default_factory=lambda: LRU(MAX_NODES))  # see trie_batch
    _written: dict[bytes, Account | None] = field(default_factory=dict)  # see ``take_written``

    def open(self, db: AtomicDatabaseAPI, state_root: Hash32) -> WarmAccountDB:
        """The account database for a block starting at ``state_root``."""
        return WarmAccountDB(db, state_root, warm=self)

    def wrote(self, accounts: dict[bytes, Account | None]) -> None:
        self._written = accounts

    def take_written(self) -> dict[bytes, Account | None]:
        """Every account the last persisted block wrote or touched, by address, as it is
        after the block (None: deleted, or no longer cached); empty once taken."""
        written, self._written = self._written, {}
        return written

    def forget(self) -> None:
        """Drop what the last block wrote (after a failed block or a rewind)."""
        self._written = {}


class WarmAccountDB(AccountDB):
    """py-evm's ``AccountDB``, writing its tries in one pass and reporting what it wrote.

    Nothing about how it computes state changes (a differential test and Ethereum's
    consensus fixtures hold it to py-evm's)."""

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        state_root: Hash32 = BLANK_ROOT_HASH,
        *,
        warm: WarmState,
    ) -> None:
        super().__init__(db, state_root)
        self._warm = warm
        self._written: dict[bytes, Account | None] = {}

    # ---- storage: written once per block -----------------------------------------------
    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        store = self._account_stores.get(address)
        if store is not None:
            return store
        root = self._get_storage_root(address)
        # py-evm's AccountDB._get_address_store, with the storage written once per block
        store = BatchedStorageDB(self._raw_store_db, root, address, self._warm.nodes)
        self._account_stores[address] = store
        return store

    # ---- accounts: written to the state trie in one pass ----------------------------------
    def _apply_account_diff_without_proof(self, diff: DBDiff, trie: Any) -> None:
        try:
            apply_diff(cast(HashTrie, trie), diff, self._warm.nodes)
        except MissingTrieNode as exc:  # what py-evm raises for a node it lacks
            raise MissingAccountTrieNode(
                Hash32(exc.missing_node_hash), self._root_hash_at_last_persist, exc.requested_key
            ) from exc

    # ---- what the block wrote ---------------------------------------------------------------
    def make_state_root(self) -> Hash32:
        # py-evm journals every account it writes or touches by address; storage writes
        # mark their account dirty (its storage root is written below)
        diff = self._journaltrie.diff()
        written = {Address(a) for a in (*diff.pending_keys(), *diff.deleted_keys())}
        written |= self._dirty_accounts
        root = super().make_state_root()
        for changed in written:  # as of ``root`` (py-evm caches what it writes)
            self._written[bytes(changed)] = self._account_cache.get(changed)
        return root

    def persist(self) -> MetaWitnessAPI:
        witness = super().persist()
        self._warm.wrote(self._written)
        self._written = {}
        return witness
