"""Re-execute a stored ledger from genesis and compare it with what the store holds.

``verify_ledger(path, chain_id)`` opens the LMDB store read-only in one read
transaction (a consistent view, also while a node is writing), rebuilds the
genesis state from the stored genesis block into a fresh in-memory py-evm
chain of the same classes, then imports every canonical block's transactions
and compares, block by block:

- the header fields execution produces: state root, receipts root, gas used,
  transactions root, logs bloom and the block hash;
- the receipts stored for the block with the re-executed ones;
- every content-addressed record the re-execution writes (state and storage
  trie nodes, contract code, transaction and receipt trie nodes, the header)
  with the stored record under the same key, so a stored value changed after
  the fact is found and named by the block that wrote it.

The first mismatch ends the run and is returned as a ``Mismatch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lmdb
import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.backends.memory import MemoryDB
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth.exceptions import CanonicalHeadNotFound
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from eth_typing import BlockNumber, Hash32
from trie.hexary import HexaryTrie
from trie.iter import NodeIterator

from chain.embedded.store import TransactionView
from chain.embedded.vm import ScfMiningChain

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
# Records that describe the head, not a block: they differ while re-executing by design.
_HEAD_KEYS = {
    SchemaV1.make_canonical_head_hash_lookup_key(),
    SchemaV1.make_chain_gaps_lookup_key(),
    SchemaV1.make_header_chain_gaps_lookup_key(),
}


@dataclass(frozen=True)
class Mismatch:
    """The first difference between the stored chain and its re-execution."""

    block_number: int
    field: str
    expected: str  # what re-execution produced
    actual: str  # what the store holds

    def __str__(self) -> str:
        return (
            f"block {self.block_number}: {self.field} differs: "
            f"re-execution gives {self.expected}, the store holds {self.actual}"
        )


@dataclass(frozen=True)
class VerifyResult:
    head: int
    transactions: int
    mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


class StoreUnreadable(Exception):
    """The ledger store is missing or has no chain in it."""


class _RecordingMemoryDB(MemoryDB):
    """An in-memory database that remembers which keys were written since the last check."""

    def __init__(self) -> None:
        super().__init__()
        self.written: set[bytes] = set()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, value)
        self.written.add(key)


@contextmanager
def _open_read_only(path: Path) -> Iterator[TransactionView]:
    if not (path / "data.mdb").exists():
        raise StoreUnreadable(f"no ledger store at {path}")
    env = lmdb.open(str(path), readonly=True, max_dbs=0)
    try:
        with env.begin(buffers=False) as txn:
            yield TransactionView(txn)
    finally:
        env.close()


def verify_ledger(
    path: Path,
    chain_id: int,
    on_block: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Re-execute the ledger stored at ``path``; ``on_block(number, head)`` reports progress."""
    with _open_read_only(path) as stored_db:
        stored = ChainDB(AtomicDB(stored_db))
        try:
            head = stored.get_canonical_head()
        except CanonicalHeadNotFound:
            raise StoreUnreadable(f"the ledger store at {path} holds no chain") from None
        chain_class = cast(Any, type("VerifyChain", (ScfMiningChain,), {"chain_id": chain_id}))
        genesis = stored.get_canonical_block_header_by_number(BlockNumber(0))
        fresh_db = _RecordingMemoryDB()
        root = _copy_state(stored_db, fresh_db, genesis.state_root)
        if root != genesis.state_root:
            return VerifyResult(
                0, 0, Mismatch(0, "state_root", _hex(root), _hex(genesis.state_root))
            )
        # Rebuilt leaf by leaf, the genesis tries passed through intermediate nodes that the
        # stored genesis (written in one batch) never had: the root above is its check.
        fresh_db.written.clear()
        fresh = chain_class.from_genesis_header(AtomicDB(fresh_db), genesis)
        mismatch = _compare_records(fresh_db, stored_db, 0)
        transactions = 0
        for number in range(1, head.block_number + 1):
            if mismatch is not None:
                break
            header = stored.get_canonical_block_header_by_number(BlockNumber(number))
            mismatch, count = _check_block(chain_class, fresh, stored, header)
            if mismatch is None:
                mismatch = _compare_records(fresh_db, stored_db, number)
            transactions += count
            if on_block is not None:
                on_block(number, head.block_number)
        return VerifyResult(head.block_number, transactions, mismatch)


def _check_block(
    chain_class: Any, fresh: Any, stored: ChainDB, header: BlockHeaderAPI
) -> tuple[Mismatch | None, int]:
    """Re-execute one stored block on ``fresh``; the first mismatch and its transaction count."""
    number = header.block_number
    try:
        block = _stored_block(chain_class, stored, header)
        stored_receipts = block.get_receipts(stored)
    except Exception as exc:  # a damaged record anywhere in the block's tries
        return Mismatch(number, "stored block body", "a readable block", repr(exc)), 0
    return _execute(fresh, header, block, stored_receipts), len(block.transactions)


def _execute(
    fresh: Any, header: BlockHeaderAPI, block: BlockAPI, stored_receipts: tuple[Any, ...]
) -> Mismatch | None:
    number = header.block_number
    parent = fresh.get_block_header_by_hash(header.parent_hash)
    base = fresh.create_header_from_parent(parent).copy(gas_used=header.gas_used)
    try:
        result = fresh.get_vm(base).import_block(block)
    except Exception as exc:  # execution itself refused the stored block
        return Mismatch(number, "execution", "the block to execute", repr(exc))
    imported: BlockAPI = result.block
    for field in (
        "state_root",
        "receipt_root",
        "gas_used",
        "transaction_root",
        "bloom",
        "hash",
    ):
        expected, actual = getattr(imported.header, field), getattr(header, field)
        if expected != actual:
            return Mismatch(number, field, _hex(expected), _hex(actual))
    fresh.chaindb.persist_block(imported)
    receipts = imported.get_receipts(fresh.chaindb)
    if len(receipts) != len(stored_receipts):
        return Mismatch(number, "receipt count", str(len(receipts)), str(len(stored_receipts)))
    for index, (mine, theirs) in enumerate(zip(receipts, stored_receipts, strict=True)):
        if rlp.encode(mine) != rlp.encode(theirs):
            return Mismatch(
                number, f"receipt {index}", _hex(mine.state_root), _hex(theirs.state_root)
            )
    return None


def _stored_block(chain_class: Any, stored: ChainDB, header: BlockHeaderAPI) -> BlockAPI:
    vm_class = chain_class.get_vm_class_for_block_number(header.block_number)
    return cast(BlockAPI, vm_class.get_block_class().from_header(header, stored))


def _compare_records(
    fresh_db: _RecordingMemoryDB, stored_db: TransactionView, number: int
) -> Mismatch | None:
    written, fresh_db.written = fresh_db.written, set()
    for key in sorted(written - _HEAD_KEYS):
        expected = fresh_db[key]
        actual = stored_db.get(key)
        if actual is None:
            return Mismatch(number, f"record 0x{key.hex()}", _digest(expected), "nothing")
        if actual != expected:
            return Mismatch(number, f"record 0x{key.hex()}", _digest(expected), _digest(actual))
    return None


def _copy_state(source: BaseDB, target: BaseDB, state_root: Hash32) -> bytes:
    """Rebuild the state under ``state_root`` in ``target`` from its leaves; return the root.

    Rebuilt from accounts, storage and code rather than copied node by node, so a
    damaged stored node gives a different root instead of being copied along.
    """
    accounts = HexaryTrie(target, BLANK_ROOT)
    for key, encoded in NodeIterator(HexaryTrie(source, state_root)).items():
        account = rlp.decode(encoded, sedes=Account)
        storage = HexaryTrie(target, BLANK_ROOT)
        if account.storage_root != BLANK_ROOT:
            for slot, value in NodeIterator(HexaryTrie(source, account.storage_root)).items():
                storage[slot] = value
        code_hash = account.code_hash
        if code_hash != EMPTY_CODE_HASH:
            code = source[code_hash]
            code_hash = keccak(code)
            target[code_hash] = code
        rebuilt = account.copy(storage_root=storage.root_hash, code_hash=code_hash)
        accounts[key] = rlp.encode(rebuilt, sedes=Account)
    return bytes(accounts.root_hash)


def _hex(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(value)


def _digest(value: bytes) -> str:
    return f"{len(value)} bytes, keccak 0x{keccak(bytes(value)).hex()}"
