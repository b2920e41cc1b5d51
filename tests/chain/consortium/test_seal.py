"""A block's seal: the log entry holds the block and its minter's signature over the
block hash; the coinbase must name the key that signed it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI
from eth_utils.exceptions import ValidationError

from chain.consortium.seal import (
    SEAL_BYTES,
    BadSeal,
    NodeKey,
    decode_entry,
    encode_entry,
    node_address,
    node_id,
)
from chain.embedded.node import EmbeddedNode, NodeConfig
from chain.embedded.vm import ScfPragueVM
from chain.errors import TransactionRefused
from tests.chain.consortium.ledger_nodes import (
    Recorder,
    faucet_transfer,
    new_chain_id,
    open_ledger,
    wait_for,
)

RECEIVER = "0x" + "22" * 20


@pytest.fixture(scope="module")
def key() -> NodeKey:
    return NodeKey(os.urandom(32))


@pytest.fixture(scope="module")
def block(key: NodeKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockAPI]:
    """A genuine block with one transaction and ``key``'s address as coinbase."""
    recorder = Recorder(key.address)
    ledger = open_ledger(tmp_path_factory.mktemp("sealer"), new_chain_id(), recorder)
    try:
        ledger.send_raw_transaction(faucet_transfer(ledger, RECEIVER))
        wait_for(lambda: recorder.blocks, "a block")
        yield recorder.blocks[0]
    finally:
        ledger.close()


def test_an_entry_round_trips_and_names_its_sealer(key: NodeKey, block: BlockAPI) -> None:
    seal = key.seal(block.hash)
    assert len(seal) == SEAL_BYTES
    entry = decode_entry(encode_entry(block, seal))
    assert entry.block == block
    assert len(entry.block.transactions) == 1
    assert entry.seal == seal
    assert entry.public_key == key.public_key
    assert entry.node_id == node_id(key.public_key)
    assert node_address(key.public_key) == key.address == bytes(block.header.coinbase)


def test_a_seal_by_another_key_is_refused(block: BlockAPI) -> None:
    other = NodeKey(os.urandom(32))
    with pytest.raises(BadSeal, match="its coinbase names"):
        decode_entry(encode_entry(block, other.seal(block.hash)))


def test_a_seal_over_another_block_is_refused(key: NodeKey, block: BlockAPI) -> None:
    changed = block.copy(header=block.header.copy(timestamp=block.header.timestamp + 1))
    with pytest.raises(BadSeal, match="its coinbase names"):
        decode_entry(encode_entry(changed, key.seal(block.hash)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not rlp at all",
        rlp.encode([b"\x01\x02", b"\0" * SEAL_BYTES]),  # no block inside
        rlp.encode([b"only one item"]),
    ],
)
def test_what_is_not_a_sealed_block_is_refused(data: bytes) -> None:
    with pytest.raises(BadSeal, match="not a sealed block"):
        decode_entry(data)


@pytest.mark.parametrize("seal", [b"", b"\x01" * 64, b"\x01" * 66])
def test_a_seal_of_the_wrong_length_is_refused(block: BlockAPI, seal: bytes) -> None:
    with pytest.raises(BadSeal, match="65 bytes"):
        decode_entry(rlp.encode([rlp.encode(block), seal]))


def test_a_seal_that_recovers_no_key_is_refused(block: BlockAPI) -> None:
    with pytest.raises(BadSeal, match="recovers no key"):
        decode_entry(encode_entry(block, b"\0" * 64 + b"\x07"))


def test_the_header_keeps_py_evms_extra_data_bound(block: BlockAPI) -> None:
    """Why the seal sits beside the block (ADR 0018): a header with a 97-byte extra_data,
    as Clique seals, fails py-evm's own header validation."""
    clique_sized = block.header.copy(extra_data=b"\0" * 97)
    with pytest.raises(ValidationError, match="extra_data"):
        ScfPragueVM.validate_header(clique_sized, block.header)


def test_a_consortium_node_refuses_rewinds_and_mines_through_its_finality(
    tmp_path: Path, key: NodeKey
) -> None:
    recorder = Recorder(key.address)
    node = EmbeddedNode(NodeConfig(tmp_path / "node", chain_id=new_chain_id(), finality=recorder))
    try:
        genesis = node.head
        with pytest.raises(RuntimeError, match="cannot be rewound"):
            node.rewind(bytes(genesis.hash))
        with pytest.raises(Exception, match="recorded only"):
            node.mine()  # a block nobody made final is not kept
        assert node.head == genesis
        assert [bytes(b.header.coinbase) for b in recorder.blocks] == [key.address]
    finally:
        node.stop()


def test_a_halted_node_refuses_transactions(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "node", new_chain_id(), Recorder(b"\x01" * 20))
    try:
        ledger.node.halt("block 7: state_root differs")
        assert ledger.node.halted == "block 7: state_root differs"
        with pytest.raises(TransactionRefused, match="halted: block 7"):
            ledger.send_raw_transaction(faucet_transfer(ledger, RECEIVER))
    finally:
        ledger.close()
