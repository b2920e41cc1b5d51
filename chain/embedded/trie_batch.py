"""A block's writes applied to a Merkle Patricia trie in one pass.

py-evm hands a block's changed accounts, and each contract's changed slots, to py-trie
one by one, and ``HexaryTrie.set`` encodes and hashes every node on the path of each key
again: the root and the nodes near it are rebuilt once per key. A block of split
transfers writes about eight slots per transfer into the same contract and five accounts,
so with small blocks most of the state root's work was nodes rebuilt only to be rebuilt
by the next key. The transaction and receipt tries of a block were built the same way.

``apply_updates`` walks the trie once for all keys of a block and encodes and hashes each
node it changes once. The trie of a set of keys and values is unique, so the root is the
one py-trie computes (a Hypothesis test holds it to that, deletions included), and the
nodes it writes are those the new root reaches; py-trie also writes the intermediate ones
each single set made and pruned. It also keeps the nodes it decodes and writes, decoded,
for the next block, which reads mostly those.

Hooked into py-evm: ``apply_diff`` for the account trie (``WarmAccountDB``),
``BatchedStorageDB`` for storage (its trie lookup collects the block's writes and applies
them when the storage root is asked for), and the producer for the transaction and
receipt tries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from eth.db.cache import CacheDB
from eth.db.diff import DBDiff
from eth.db.hash_trie import HashTrie
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth.vm.interrupt import MissingStorageTrieNode
from eth_typing import Address, Hash32
from eth_utils.crypto import keccak
from rlp.codec import decode_raw, encode_raw  # type: ignore[import-untyped]
from trie.constants import BLANK_NODE, BLANK_NODE_HASH
from trie.exceptions import MissingTrieNode

from chain.embedded.pyevm_internals import hexary_trie_of

# Keys are handled as strings of hex digits, one per nibble: slicing and comparing them
# is done in C, where py-trie's tuples of ints went through generators per nibble. Hex
# digits sort as their nibbles do.
Nibbles = str
Node = Any  # a decoded node: BLANK_NODE (b""), [path, value or child] or a 17-item branch
Update = tuple[Nibbles, bytes]  # key nibbles below a node, new value (b"": delete)


class NodeCache(Protocol):
    """Decoded nodes by hash (a dict, or an LRU to bound it)."""

    def get(self, node_hash: bytes, /) -> Node | None: ...
    def __setitem__(self, node_hash: bytes, node: Node, /) -> None: ...


def apply_updates(
    db: Any,
    root_hash: Hash32,
    updates: Mapping[bytes, bytes],
    decoded: NodeCache | None = None,
) -> Hash32:
    """The root after setting each key of ``updates`` to its value (``b""`` deletes it) in
    the trie at ``root_hash``; new nodes are written to ``db`` (a mapping by hash).

    ``decoded`` keeps nodes by hash, decoded, from one call to the next: the nodes a block
    writes are those the next one reads. Hashes name their content, so a kept node is
    always right; kept nodes are shared, and never changed in place."""
    if not updates:
        return root_hash
    nodes = _Nodes(db, {} if decoded is None else decoded)
    ordered = sorted((key.hex(), value) for key, value in updates.items())
    root = _update(nodes, nodes.load(root_hash), ordered)
    if root == BLANK_NODE:
        return Hash32(BLANK_NODE_HASH)
    return Hash32(nodes.store(root))  # the root is always stored by its hash, even when small


def lookup(db: Any, root_hash: Hash32, key: bytes, decoded: NodeCache | None = None) -> bytes:
    """The value of ``key`` in the trie at ``root_hash`` (``b""``: absent), as py-trie's
    ``HexaryTrie.get``, through the nodes kept decoded (see ``apply_updates``)."""
    nodes = _Nodes(db, {} if decoded is None else decoded)
    node = nodes.load(root_hash)
    path = key.hex()
    while node != BLANK_NODE:
        if len(node) == 17:
            if not path:
                return bytes(node[16])
            node, path = nodes.load(node[int(path[0], 16)]), path[1:]
            continue
        node_path = _path(node)
        if _is_leaf(node):
            return bytes(node[1]) if node_path == path else b""
        if not path.startswith(node_path):
            return b""
        node, path = nodes.load(node[1]), path[len(node_path) :]
    return b""


# ---- the hex-prefix encoding of a leaf's or an extension's path (Yellow Paper, app. C) ----


def _is_leaf(node: list[Any]) -> bool:
    return bool(node[0][0] & 0x20)


def _path(node: list[Any]) -> Nibbles:
    encoded: str = node[0].hex()
    return encoded[1:] if int(encoded[0], 16) & 1 else encoded[2:]


def _leaf(path: Nibbles, value: bytes) -> list[Any]:
    return [bytes.fromhex(("3" if len(path) % 2 else "20") + path), value]


def _extension_node(path: Nibbles, child: Any) -> list[Any]:
    return [bytes.fromhex(("1" if len(path) % 2 else "00") + path), child]


# ---- the walk -------------------------------------------------------------------------------


class _Nodes:
    """The trie's database, read and written as decoded nodes."""

    def __init__(self, db: Any, decoded: NodeCache) -> None:
        self.db = db
        self.decoded = decoded

    def load(self, ref: Any) -> Node:
        """The node a parent refers to by ``ref``: a hash, blank, or the node inline."""
        if isinstance(ref, list):
            return ref
        if ref in (BLANK_NODE, BLANK_NODE_HASH):
            return BLANK_NODE
        if len(ref) < 32:
            return _decode(ref)
        node = self.decoded.get(ref)
        if node is None:
            try:
                node = self.decoded[ref] = _decode(self.db[ref])
            except KeyError:
                raise MissingTrieNode(Hash32(ref), Hash32(BLANK_NODE_HASH), b"") from None
        return node

    def ref(self, node: Node) -> Any:
        """How a parent refers to ``node``: inline when its encoding is under 32 bytes,
        else by the hash of the encoding (the node is then stored)."""
        if node == BLANK_NODE:
            return BLANK_NODE
        encoded = encode_raw(node)
        return node if len(encoded) < 32 else self._store(node, encoded)

    def store(self, node: Node) -> bytes:
        return self._store(node, encode_raw(node))

    def _store(self, node: Node, encoded: bytes) -> bytes:
        node_hash = keccak(encoded)
        self.db[node_hash] = encoded
        self.decoded[node_hash] = node
        return node_hash


def _decode(encoded: bytes) -> Node:
    node, _ = decode_raw(encoded, True, False)
    return node


def _update(nodes: _Nodes, node: Node, updates: Sequence[Update]) -> Node:
    """``node`` with ``updates`` (sorted, keys relative to it) applied."""
    if not updates:
        return node
    if node == BLANK_NODE:
        return _build(nodes, [(key, value) for key, value in updates if value])
    if len(node) == 17:
        return _update_branch(nodes, list(node), updates)
    path = _path(node)
    if _is_leaf(node):
        merged = dict(updates)
        merged.setdefault(path, node[1])  # the leaf stays unless it is updated
        return _build(nodes, sorted((key, value) for key, value in merged.items() if value))
    depth = len(path)  # an extension
    if all(key.startswith(path) for key, _ in updates):
        below = _update(
            nodes, nodes.load(node[1]), [(key[depth:], value) for key, value in updates]
        )
        return _extension(nodes, path, below)
    # some keys leave the shared path: as a branch at its first nibble
    branch: list[Any] = [BLANK_NODE] * 17
    rest = path[1:]
    branch[int(path[0], 16)] = _extension_node(rest, node[1]) if rest else node[1]
    return _update_branch(nodes, branch, updates)


def _update_branch(nodes: _Nodes, slots: list[Any], updates: Sequence[Update]) -> Node:
    groups: dict[int, list[Update]] = {}
    for key, value in updates:
        if key:
            groups.setdefault(int(key[0], 16), []).append((key[1:], value))
        else:
            slots[16] = value
    for nibble, group in groups.items():
        slots[nibble] = _update(nodes, nodes.load(slots[nibble]), group)
    return _branch(nodes, slots)


def _build(nodes: _Nodes, items: Sequence[Update]) -> Node:
    """The subtrie of ``items`` alone (sorted, distinct keys, no deletions)."""
    if not items:
        return BLANK_NODE
    if len(items) == 1:
        key, value = items[0]
        return _leaf(key, value)
    first, last = items[0][0], items[-1][0]  # sorted: their common prefix is everyone's
    depth = 0
    while depth < min(len(first), len(last)) and first[depth] == last[depth]:
        depth += 1
    if depth:
        below = _build(nodes, [(key[depth:], value) for key, value in items])
        return _extension(nodes, first[:depth], below)
    return _update_branch(nodes, [BLANK_NODE] * 17, items)


def _extension(nodes: _Nodes, path: Nibbles, below: Node) -> Node:
    """``below`` under the key ``path``, merged into it when it is a leaf or extension."""
    if not path or below == BLANK_NODE:
        return below
    if len(below) == 17:
        return _extension_node(path, nodes.ref(below))
    if _is_leaf(below):
        return _leaf(path + _path(below), below[1])
    return _extension_node(path + _path(below), below[1])


def _branch(nodes: _Nodes, slots: list[Any]) -> Node:
    """A branch of ``slots`` (children as nodes or refs, then the value), or the smaller
    node it becomes with fewer than two entries."""
    children = [nibble for nibble in range(16) if slots[nibble] != BLANK_NODE]
    value = slots[16]
    if not children:
        return _leaf("", value) if value else BLANK_NODE
    if len(children) == 1 and not value:
        nibble = children[0]
        return _extension(nodes, format(nibble, "x"), nodes.load(slots[nibble]))
    return [nodes.ref(slot) if isinstance(slot, list) else slot for slot in slots[:16]] + [value]


# ---- py-evm: the accounts and each contract's storage written in one pass per block ---------


def apply_diff(trie: HashTrie, diff: DBDiff, decoded: NodeCache | None = None) -> None:
    """Write a block's changed accounts (``diff``: address -> rlp account, or deleted) into
    py-evm's account ``trie``, as ``AccountDB`` would one by one."""
    hexary = hexary_trie_of(trie)
    updates = {keccak(address): b"" for address in diff.deleted_keys()}
    updates.update((keccak(address), account) for address, account in diff.pending_items())
    hexary.root_hash = apply_updates(hexary.db, Hash32(hexary.root_hash), updates, decoded)


class BatchedStorageLookup(StorageLookup):
    """py-evm's slot-to-trie lookup, holding writes until the storage root is needed."""

    _pending: dict[bytes, bytes]  # hashed slot -> rlp value, b"" deleted

    def __init__(
        self,
        db: Any,
        storage_root: Hash32,
        address: Address,
        decoded: NodeCache | None = None,
    ) -> None:
        self._decoded = {} if decoded is None else decoded  # see ``apply_updates``
        super().__init__(db, storage_root, address)

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
        hashed_slot = self._decode_key(key)
        pending = self._pending.get(hashed_slot)
        return self._lookup(hashed_slot) if pending is None else pending

    def _exists(self, key: bytes) -> bool:
        return self[key] != b""

    def _lookup(self, hashed_slot: bytes) -> bytes:
        trie = self._get_read_trie()  # py-evm's choice: the write trie once there is one
        try:
            return lookup(trie.db, Hash32(trie.root_hash), hashed_slot, self._decoded)
        except MissingTrieNode as exc:
            raise MissingStorageTrieNode(
                Hash32(exc.missing_node_hash),
                Hash32(trie.root_hash),
                Hash32(hashed_slot),
                None,
                self._address,
            ) from exc

    def _flush(self) -> None:
        if self._pending:
            trie = self._get_write_trie()
            root = Hash32(trie.root_hash)
            trie.root_hash = apply_updates(trie.db, root, self._pending, self._decoded)
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

    def __init__(
        self,
        db: Any,
        storage_root: Hash32,
        address: Address,
        decoded: NodeCache | None = None,
    ) -> None:
        super().__init__(db, storage_root, address)
        # py-evm's chain of layers, rebuilt on the batched lookup
        self._storage_lookup = BatchedStorageLookup(db, storage_root, address, decoded)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)
