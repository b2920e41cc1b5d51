"""Every private name of py-evm the ledger leans on, in one place.

py-evm is a beta library whose underscore names change without notice. The ledger uses a
few of them where py-evm has no public way to do what it needs; each is reached only
through this module, so that an upgrade of py-evm is a review of this file, not a hunt:

- reading names (functions and attributes) through the accessors below;
- ``SUBCLASS_HOOKS``: the private methods and attributes the ledger's subclasses of
  py-evm classes override or use (``chain.embedded.warm``, ``chain.embedded.trie_batch``).

``tests/chain/test_library_internals.py`` checks that the installed py-evm is
``PINNED_VERSION`` and that every name listed here still exists, naming the one that does
not; and that no other module reaches these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from eth._utils.address import generate_contract_address
from eth.abc import AtomicDatabaseAPI
from eth.db.account import AccountDB
from eth.db.chain import ChainDB
from eth.db.hash_trie import HashTrie
from eth.db.storage import AccountStorageDB, StorageLookup
from eth.typing import ChainGaps
from eth.vm.base import VM
from eth_typing import Address, BlockNumber
from trie.hexary import HexaryTrie

PINNED_VERSION = "0.12.1b1"  # as pinned in pyproject.toml

__all__ = [
    "PINNED_VERSION",
    "SUBCLASS_HOOKS",
    "contract_address",
    "decanonicalize",
    "hexary_trie_of",
]

# class -> the private names of it that the ledger's subclasses override, call or set
SUBCLASS_HOOKS: dict[type, tuple[str, ...]] = {
    VM: ("_state_class",),  # py-evm's own way to give a VM its state class
    AccountDB: (
        "_get_address_store",  # overridden: storage written once per block
        "_apply_account_diff_without_proof",  # overridden: accounts written in one pass
        "_account_cache",
        "_account_stores",
        "_raw_store_db",
        "_get_storage_root",
        "_journaltrie",
        "_dirty_accounts",
        "_root_hash_at_last_persist",
    ),
    AccountStorageDB: (
        "_storage_lookup",  # py-evm's chain of layers, rebuilt on the batched lookup
        "_storage_cache",
        "_locked_changes",
        "_journal_storage",
    ),
    StorageLookup: (
        "_initialize_to_root_hash",  # overridden
        "_exists",  # overridden
        "_get_write_trie",
        "_get_read_trie",
        "_decode_key",
        "_address",
    ),
}


def contract_address(sender: Address, nonce: int) -> Address:
    """The address of the contract ``sender`` creates with ``nonce``."""
    return generate_contract_address(sender, nonce)


def decanonicalize(
    db: AtomicDatabaseAPI, numbers: Sequence[BlockNumber]
) -> tuple[ChainGaps, ChainGaps]:
    """Take the blocks ``numbers`` out of the canonical chain as py-evm's ChainDB does when
    another fork wins (their transaction lookups are deleted); then the header and the block
    chain gaps as they stand, for the caller to reopen."""
    ChainDB._decanonicalize_old_headers(db, numbers)
    return ChainDB._get_header_chain_gaps(db), ChainDB._get_chain_gaps(db)


def hexary_trie_of(trie: HashTrie) -> HexaryTrie:
    """The py-trie ``HexaryTrie`` under py-evm's key-hashing ``HashTrie``."""
    return cast(HexaryTrie, trie._db)
