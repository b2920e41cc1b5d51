"""A block's storage writes applied to a contract's Merkle Patricia trie in one pass.

py-evm hands a contract's changed slots to py-trie one by one at the end of a block, and
``HexaryTrie.set`` encodes and hashes every node on the path of each key again: the root
and the nodes near it are rebuilt once per slot. A block of split transfers writes about
eight slots per transfer into the same contract, so with small blocks most of the state
root's work was nodes rebuilt only to be rebuilt by the next slot.

``apply_updates`` walks the trie once for all keys of a block and encodes and hashes each
node it changes once. The trie of a set of keys and values is unique, so the root is the
one py-trie computes (a Hypothesis test holds it to that, deletions included), and the
nodes it writes are those the new root reaches; py-trie also writes the intermediate ones
each single set made and pruned.

``BatchedStorageDB`` is py-evm's ``AccountStorageDB`` whose trie lookup collects the
block's writes and applies them this way when the storage root is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp  # type: ignore[import-untyped]
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth_typing import Address, Hash32
from eth_utils.crypto import keccak
from trie.constants import BLANK_NODE, BLANK_NODE_HASH, NODE_TYPE_BRANCH, NODE_TYPE_LEAF
from trie.exceptions import MissingTrieNode
from trie.utils.nibbles import bytes_to_nibbles
from trie.utils.nodes import (
    compute_extension_key,
    compute_leaf_key,
    decode_node,
    extract_key,
    get_node_type,
)

Nibbles = tuple[int, ...]
Node = Any  # py-trie's decoded node: BLANK_NODE (b""), a leaf, an extension or a branch list
Update = tuple[Nibbles, bytes]  # key nibbles below a node, new value (b"": delete)


def apply_updates(db: Any, root_hash: Hash32, updates: Mapping[bytes, bytes]) -> Hash32:
    """The root after setting each key of ``updates`` to its value (``b""`` deletes it) in
    the trie at ``root_hash``; new nodes are written to ``db`` (a mapping by hash)."""
    if not updates:
        return root_hash
    ordered = sorted((bytes_to_nibbles(key), value) for key, value in updates.items())
    root = _update(db, _load(db, root_hash), ordered)
    if root == BLANK_NODE:
        return Hash32(BLANK_NODE_HASH)
    encoded = rlp.encode(root)  # the root is always stored by its hash, even when small
    node_hash = Hash32(keccak(encoded))
    db[node_hash] = encoded
    return node_hash


def _load(db: Any, ref: Any) -> Node:
    """The decoded node a parent refers to by ``ref``: a hash, blank, or the node inline."""
    if isinstance(ref, list):
        return ref
    if ref in (BLANK_NODE, BLANK_NODE_HASH):
        return BLANK_NODE
    if len(ref) < 32:
        return decode_node(ref)
    try:
        return decode_node(db[ref])
    except KeyError:
        raise MissingTrieNode(Hash32(ref), Hash32(BLANK_NODE_HASH), b"") from None


def _ref(db: Any, node: Node) -> Any:
    """How a parent refers to ``node``: inline when its encoding is under 32 bytes, else by
    the hash of the encoding, written to ``db``."""
    if node == BLANK_NODE:
        return BLANK_NODE
    encoded = rlp.encode(node)
    if len(encoded) < 32:
        return node
    node_hash = keccak(encoded)
    db[node_hash] = encoded
    return node_hash


def _update(db: Any, node: Node, updates: Sequence[Update]) -> Node:
    """``node`` with ``updates`` (sorted, keys relative to it) applied."""
    if not updates:
        return node
    if node == BLANK_NODE:
        return _build(db, [(key, value) for key, value in updates if value])
    kind = get_node_type(node)
    if kind == NODE_TYPE_LEAF:
        merged = dict(updates)
        merged.setdefault(extract_key(node), node[1])  # the leaf stays unless it is updated
        return _build(db, sorted((key, value) for key, value in merged.items() if value))
    if kind == NODE_TYPE_BRANCH:
        return _update_branch(db, list(node), updates)
    prefix = extract_key(node)  # an extension
    depth = len(prefix)
    if all(key[:depth] == prefix for key, _ in updates):
        below = _update(db, _load(db, node[1]), [(key[depth:], value) for key, value in updates])
        return _extension(db, prefix, below)
    # some keys leave the shared prefix: as a branch at its first nibble
    branch: list[Any] = [BLANK_NODE] * 17
    rest = prefix[1:]
    branch[prefix[0]] = [compute_extension_key(rest), node[1]] if rest else node[1]
    return _update_branch(db, branch, updates)


def _update_branch(db: Any, slots: list[Any], updates: Sequence[Update]) -> Node:
    groups: dict[int, list[Update]] = {}
    for key, value in updates:
        if key:
            groups.setdefault(key[0], []).append((key[1:], value))
        else:
            slots[16] = value
    for nibble, group in groups.items():
        slots[nibble] = _update(db, _load(db, slots[nibble]), group)
    return _branch(db, slots)


def _build(db: Any, items: Sequence[Update]) -> Node:
    """The subtrie of ``items`` alone (sorted, distinct keys, no deletions)."""
    if not items:
        return BLANK_NODE
    if len(items) == 1:
        key, value = items[0]
        return [compute_leaf_key(key), value]
    first, last = items[0][0], items[-1][0]  # sorted: their common prefix is everyone's
    depth = 0
    while depth < min(len(first), len(last)) and first[depth] == last[depth]:
        depth += 1
    if depth:
        below = _build(db, [(key[depth:], value) for key, value in items])
        return _extension(db, first[:depth], below)
    return _update_branch(db, [BLANK_NODE] * 17, items)


def _extension(db: Any, prefix: Nibbles, below: Node) -> Node:
    """``below`` under the key ``prefix``, merged into it when it is a leaf or extension."""
    if not prefix or below == BLANK_NODE:
        return below
    kind = get_node_type(below)
    if kind == NODE_TYPE_BRANCH:
        return [compute_extension_key(prefix), _ref(db, below)]
    joined = prefix + extract_key(below)
    if kind == NODE_TYPE_LEAF:
        return [compute_leaf_key(joined), below[1]]
    return [compute_extension_key(joined), below[1]]


def _branch(db: Any, slots: list[Any]) -> Node:
    """A branch of ``slots`` (children as nodes or refs, then the value), or the smaller
    node it becomes with fewer than two entries."""
    children = [nibble for nibble in range(16) if slots[nibble] != BLANK_NODE]
    value = slots[16]
    if not children:
        return [compute_leaf_key(()), value] if value else BLANK_NODE
    if len(children) == 1 and not value:
        nibble = children[0]
        return _extension(db, (nibble,), _load(db, slots[nibble]))
    return [_ref(db, slot) if isinstance(slot, list) else slot for slot in slots[:16]] + [value]


# ---- py-evm: a contract's storage written in one pass per block ------------------------------


class BatchedStorageLookup(StorageLookup):
    """py-evm's slot-to-trie lookup, holding writes until the storage root is needed."""

    _pending: dict[bytes, bytes]  # hashed slot -> rlp value, b"" deleted

    def _initialize_to_root_hash(self, root_hash: Hash32) -> None:
        super()._initialize_to_root_hash(root_hash)
        self._pending = {}

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._get_write_trie()  # the storage root is now "changed", as py-evm's says
        self._pending[self._decode_key(key)] = value

    def __delitem__(self, key: bytes) -> None:
        self._get_write_trie()
        self._pending[self._decode_key(key)] = b""

    def __getitem__(self, key: bytes) -> bytes:
        pending = self._pending.get(self._decode_key(key))
        return super().__getitem__(key) if pending is None else pending

    def _exists(self, key: bytes) -> bool:
        pending = self._pending.get(self._decode_key(key))
        return super()._exists(key) if pending is None else pending != b""

    def _flush(self) -> None:
        if self._pending:
            trie = self._get_write_trie()
            trie.root_hash = apply_updates(trie.db, Hash32(trie.root_hash), self._pending)
            self._pending = {}

    def get_changed_root(self) -> Hash32:
        self._flush()
        return super().get_changed_root()

    def commit_to(self, db: Any) -> None:
        self._flush()
        super().commit_to(db)

    def new_trie(self) -> int:
        self._flush()  # the writes so far belong to the trie being put aside
        return super().new_trie()

    def rollback_trie(self, trie_index: int) -> None:
        self._pending = {}  # they belong to the trie being abandoned
        super().rollback_trie(trie_index)


class BatchedStorageDB(AccountStorageDB):
    """py-evm's ``AccountStorageDB`` over a ``BatchedStorageLookup``."""

    def __init__(self, db: Any, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        # py-evm's chain of layers, rebuilt on the batched lookup
        self._storage_lookup = BatchedStorageLookup(db, storage_root, address)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)
