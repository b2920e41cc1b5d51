"""What the block producer read and wrote in one block, kept warm for the next one.

py-evm builds a fresh ``AccountDB`` for every block, so each block starts cold: every
account, storage slot and contract code it touches is read again by walking the state
and storage tries from the store and decoding their nodes. The producer seals block
after block on its own head, so the account database that persisted block N already
holds, decoded, the accounts and slots block N+1 is likely to touch — as they are at
the state root block N+1 starts from.

``WarmState`` keeps those decoded values, keyed by what makes them true:

- accounts by the state root they were settled at (the root the block persisted);
- each contract's storage slots by the contract's storage root;
- contract code by its hash.

A block opens its account database on the state root of its parent. Only when that is
the kept state root do the kept accounts seed it; a contract's kept slots seed its
storage only when the contract's storage root is the kept one. Roots are hashes of the
whole content, so a seeded value is exactly what the tries would have given: no
invalidation is ever needed for correctness. A block that failed half-way, a rewind
or another head simply start from a root with nothing kept (``forget`` also drops it
all, so that nothing is held for a head that will not come back).

Each block's database is otherwise py-evm's own, built fresh, with fresh journals; only
its read caches are handed over (moved, not copied: the block that filled them is done
with them). Everything kept is bounded: py-evm's caches are LRUs (2,048 accounts, 2,048
slots per contract) and at most ``MAX_CONTRACTS`` contracts, ``MAX_CODES`` codes and
``MAX_NODES`` decoded trie nodes are kept.

The account database also writes the block's accounts and each contract's slots to their
tries in one pass (``chain.embedded.trie_batch``), through the kept trie nodes: those the
last block wrote are those this one reads and rewrites. Nodes are kept by hash, so they
too are true whatever the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from eth.abc import AccountStorageDatabaseAPI, AtomicDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.db.diff import DBDiff
from eth.db.hash_trie import HashTrie
from eth.rlp.accounts import Account
from eth.vm.interrupt import MissingAccountTrieNode
from eth_typing import Address, Hash32
from lru import LRU
from trie.exceptions import MissingTrieNode

from chain.embedded.pyevm_internals import seed_slot_values, slot_values
from chain.embedded.trie_batch import BatchedStorageDB, apply_diff

MAX_CONTRACTS = 64  # contracts whose storage caches are kept from one block to the next
MAX_CODES = 64  # contract codes kept by hash
MAX_NODES = 8_192  # decoded trie nodes kept by hash (at most ~11 MB: full branch nodes)
ACCOUNTS_KEPT = 2_048  # py-evm's own account cache size

if TYPE_CHECKING:  # (LRU is not subscriptable at run time)
    SlotCache = LRU[bytes, bytes]  # a storage's decoded slots: big-endian slot -> rlp value


@dataclass
class _Kept:
    """What one block left behind, true at ``state_root``."""

    state_root: Hash32
    accounts: LRU[Address, Account]
    storage: dict[Address, tuple[Hash32, SlotCache]]  # address -> (storage root, its slots)


@dataclass
class WarmState:
    """The producer's warm caches, handed from each block's account database to the next."""

    _kept: _Kept | None = None
    codes: LRU[Hash32, bytes] = field(default_factory=lambda: LRU(MAX_CODES))
    nodes: LRU[bytes, Any] = field(default_factory=lambda: LRU(MAX_NODES))  # see trie_batch
    hits: int = 0  # blocks that started warm (for tests and diagnostics)
    _written: dict[bytes, Account | None] = field(default_factory=dict)  # see ``take_written``

    def open(self, db: AtomicDatabaseAPI, state_root: Hash32) -> WarmAccountDB:
        """The account database for a block starting at ``state_root``: py-evm's, fresh,
        with the kept caches moved into it if they are true at ``state_root``."""
        kept, self._kept = self._kept, None  # lent once: never shared by two databases
        if kept is not None and kept.state_root != state_root:
            kept = None
        if kept is not None:
            self.hits += 1
        return WarmAccountDB(db, state_root, warm=self, kept=kept)

    def keep(self, kept: _Kept) -> None:
        self._kept = kept

    def wrote(self, accounts: dict[bytes, Account | None]) -> None:
        self._written = accounts

    def take_written(self) -> dict[bytes, Account | None]:
        """Every account the last persisted block wrote or touched, by address, as it is
        after the block (None: deleted, or no longer cached); empty once taken."""
        written, self._written = self._written, {}
        return written

    def forget(self) -> None:
        """Drop everything kept (after a failed block or a rewind)."""
        self._kept = None
        self._written = {}
        self.codes.clear()

    @property
    def kept_root(self) -> Hash32 | None:
        return None if self._kept is None else self._kept.state_root

    @property
    def kept_contracts(self) -> int:
        return 0 if self._kept is None else len(self._kept.storage)


class WarmAccountDB(AccountDB):
    """py-evm's ``AccountDB`` that starts from and leaves behind warm read caches.

    Nothing about how it computes state changes: it only seeds the caches py-evm
    already has (the account LRU, each contract storage's ``CacheDB``) and reads code
    through a cache by code hash.
    """

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        state_root: Hash32 = BLANK_ROOT_HASH,
        *,
        warm: WarmState,
        kept: _Kept | None = None,
    ) -> None:
        super().__init__(db, state_root)
        self._warm = warm
        self._kept_storage: dict[Address, tuple[Hash32, SlotCache]] = {}
        if kept is not None:
            self._account_cache = kept.accounts
            self._kept_storage = kept.storage
        self._opened_roots: dict[Address, Hash32] = {}  # storage root each store started at
        self._wiped: set[Address] = set()
        self._leaving: _Kept | None = None
        self._written: dict[bytes, Account | None] = {}

    # ---- storage: seed each contract's slot cache when its storage root matches ----------
    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        store = self._account_stores.get(address)
        if store is not None:
            return store
        root = self._get_storage_root(address)
        # py-evm's AccountDB._get_address_store, with the storage written once per block
        store = BatchedStorageDB(self._raw_store_db, root, address, self._warm.nodes)
        self._account_stores[address] = store
        self._opened_roots[address] = root
        kept = self._kept_storage.pop(address, None)
        if kept is not None and kept[0] == root:
            seed_slot_values(store, kept[1])
        return store

    def _wipe_storage(self, address: Address) -> None:
        # Its store switches to another trie: what it caches is no longer keyed by the
        # root it was opened at. Never hand it on.
        self._wiped.add(address)
        super()._wipe_storage(address)

    # ---- accounts: written to the state trie in one pass ----------------------------------
    def _apply_account_diff_without_proof(self, diff: DBDiff, trie: Any) -> None:
        try:
            apply_diff(cast(HashTrie, trie), diff, self._warm.nodes)
        except MissingTrieNode as exc:  # what py-evm raises for a node it lacks
            raise MissingAccountTrieNode(
                Hash32(exc.missing_node_hash), self._root_hash_at_last_persist, exc.requested_key
            ) from exc

    # ---- code: content-addressed, kept by hash -------------------------------------------
    def get_code(self, address: Address) -> bytes:
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        code = self._warm.codes.get(code_hash)
        if code is None:
            code = super().get_code(address)
            self._warm.codes[code_hash] = code
        return code

    # ---- hand the caches on at the end of the block --------------------------------------
    def make_state_root(self) -> Hash32:
        # py-evm journals every account it writes or touches by address; storage writes
        # mark their account dirty (its storage root is written below)
        diff = self._journaltrie.diff()
        written = {Address(a) for a in (*diff.pending_keys(), *diff.deleted_keys())}
        written |= self._dirty_accounts
        root = super().make_state_root()
        # Now every cached account and slot is as of ``root``. ``persist`` will clear the
        # account cache: take it first (the rest of ``persist`` refills a new one).
        # Contracts this block did not open keep what they had (checked again on use).
        storage = {a: kept for a, kept in self._kept_storage.items() if a not in self._wiped}
        for address, store in self._account_stores.items():
            if address in self._wiped:
                continue
            storage_root = (
                store.get_changed_root() if store.has_changed_root else self._opened_roots[address]
            )
            storage[address] = (storage_root, slot_values(store))
        while len(storage) > MAX_CONTRACTS:  # the oldest entries first
            del storage[next(iter(storage))]
        for changed in written:  # as of ``root`` too (py-evm caches what it writes)
            self._written[bytes(changed)] = self._account_cache.get(changed)
        self._leaving = _Kept(root, self._account_cache, storage)
        self._account_cache = LRU(ACCOUNTS_KEPT)
        return root

    def persist(self) -> MetaWitnessAPI:
        witness = super().persist()
        leaving, self._leaving = self._leaving, None
        if leaving is not None and leaving.state_root == self.state_root:
            self._warm.keep(leaving)
        self._warm.wrote(self._written)
        self._written = {}
        return witness
