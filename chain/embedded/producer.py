"""Building one block from a batch of transactions: py-evm's ``MiningChain.mine_all``, lean.

The block is what ``mine_all`` would make of the same transactions on the same parent
at the same timestamp, byte for byte (a test holds it to that). It differs in what it
leaves out, all of it work whose result is thrown away:

- ``VM.mine_block`` = ``pack_block`` (with no arguments, a copy of the block) +
  ``finalize_block`` + ``validate_block``; and ``MiningChain.persist_block`` =
  ``validate_block`` again + ``ChainDB.persist_block`` + reading the new canonical block
  back from the store (every transaction decoded again). Here: ``finalize_block``, one
  header validation against the parent, and ``ChainDB.persist_block``. What
  ``validate_block`` adds holds by construction: the transaction root it recomputes is
  the one just computed from the same transactions, the state root was just persisted,
  there are no uncles.
- ``mine_all`` prepares the chain's next pending header (``chain.header``) for
  one-by-one ``apply_transaction``, which this ledger never uses.
- The parent header comes from the caller (the head it just committed) instead of a
  store read and decode.
- The transaction and receipt tries are each written in one pass
  (``chain.embedded.trie_batch``) instead of one item at a time.

And one difference in what it does: a transaction that fails validation is left out
(with its sender's later ones, whose nonces can no longer fit) instead of failing the
whole block; see ``EmbeddedNode``.

The producer's chain (``producer_chain_class``) runs the ledger's VM with one change
that is not a rule: its account database writes its tries in one pass, through trie
nodes kept from one block to the next, and reports what each block wrote
(``chain.embedded.warm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import rlp  # type: ignore[import-untyped]
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    VirtualMachineAPI,
)
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS
from eth_typing import BlockNumber, Hash32
from rlp.sedes import big_endian_int  # type: ignore[import-untyped]

from chain.embedded.trie_batch import apply_updates
from chain.embedded.vm import ScfMiningChain, ScfPragueState, ScfPragueVM
from chain.embedded.warm import WarmState


@dataclass
class BuiltBlock:
    """A block written to the chain database (not yet committed to the store)."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    reverts: dict[bytes, bytes]  # failed transaction hash -> what it returned
    dropped: dict[bytes, str]  # left-out transaction hash -> why


def producer_chain_class(chain_id: int, warm: WarmState) -> type[MiningChain]:
    """The ledger's chain class for ``chain_id``, whose states read through ``warm``."""
    state_class = type(
        "ScfProducerState",
        (ScfPragueState,),
        # py-evm calls ``account_db_class(db, state_root)``: a factory does as well as a class
        {"account_db_class": staticmethod(warm.open)},
    )
    vm_class = type("ScfProducerVM", (ScfPragueVM,), {"_state_class": state_class})
    return type(
        "ScfProducerChain",
        (ScfMiningChain,),
        {"chain_id": chain_id, "vm_configuration": ((BlockNumber(0), vm_class),)},
    )


def build_block(
    chain: MiningChain,
    parent: BlockHeaderAPI,
    batch: Sequence[SignedTransactionAPI],
    timestamp: int,
    coinbase: bytes = ZERO_ADDRESS,
) -> BuiltBlock:
    """Execute ``batch`` on ``parent`` (the chain's head) and write the block to the chain
    database, leaving out transactions that turn out invalid. ``coinbase``: the block's
    sealer in consortium mode (it earns nothing: gas is free)."""
    header = chain.create_header_from_parent(parent, timestamp=timestamp, coinbase=coinbase)
    vm = chain.get_vm(header)
    applied: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    reverts: dict[bytes, bytes] = {}
    dropped: dict[bytes, str] = {}
    blocked: dict[bytes, bytes] = {}  # sender -> its dropped transaction
    for tx in batch:
        sender = bytes(tx.sender)
        if sender in blocked:
            dropped[bytes(tx.hash)] = gap_reason(blocked[sender])
            continue
        # VM.apply_transaction, with a snapshot to undo this transaction alone
        vm.state.lock_changes()
        snapshot = vm.state.snapshot()
        try:
            vm.validate_transaction_against_header(header, tx)
            computation = vm.state.apply_transaction(tx)
            receipt = vm.make_receipt(header, tx, computation, vm.state)
            vm.validate_receipt(receipt)
        except Exception as exc:  # invalid now: leave it out, keep the block
            vm.state.revert(snapshot)
            dropped[bytes(tx.hash)] = str(exc) or type(exc).__name__
            blocked[sender] = bytes(tx.hash)
            continue
        if computation.is_error:  # kept so the sender learns the custom error exactly
            reverts[bytes(tx.hash)] = bytes(computation.output)
        header = vm.add_receipt_to_header(header, receipt)
        # (VM.apply_transaction would also add the blob gas, with a second copy of the
        # header: no blob transaction gets here, ``submit`` and the state refuse them.)
        applied.append(tx)
        receipts.append(receipt)
    block = _with_transactions(vm, header, applied, receipts)
    mined = vm.finalize_block(block).block
    vm.validate_header(mined.header, parent)
    cast(Any, chain.chaindb).persist_block(mined)
    return BuiltBlock(mined, tuple(receipts), reverts, dropped)


def _with_transactions(
    vm: VirtualMachineAPI,
    header: BlockHeaderAPI,
    transactions: Sequence[SignedTransactionAPI],
    receipts: Sequence[ReceiptAPI],
) -> BlockAPI:
    """py-evm's ``VM.set_block_transactions_and_withdrawals`` (there are no withdrawals on
    this ledger), with the transaction and receipt tries each written in one pass."""
    roots = {
        "transaction_root": _list_root(vm, [tx.encode() for tx in transactions]),
        "receipt_root": _list_root(vm, [receipt.encode() for receipt in receipts]),
    }
    return vm.get_block().copy(transactions=transactions, header=header.copy(**roots))


def _list_root(vm: VirtualMachineAPI, items: list[bytes]) -> Hash32:
    """The root of the trie of ``items`` by their rlp-encoded index; its nodes stored."""
    nodes: dict[Hash32, bytes] = {}
    by_index = {rlp.encode(i, sedes=big_endian_int): item for i, item in enumerate(items)}
    root = apply_updates(nodes, BLANK_ROOT_HASH, by_index)
    vm.chaindb.persist_trie_data_dict(nodes)
    return root


def gap_reason(dropped: bytes) -> str:
    return f"nonce gap: an earlier transaction of the same sender (0x{dropped.hex()}) was dropped"
