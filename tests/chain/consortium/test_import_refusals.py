"""What a verifier refuses, and what a deposed minter can no longer make final.

Forged blocks are genuine blocks built by a node whose ``Finality`` only records them
(``Recorder``), then sealed and appended to the log by hand, as a faulty or hostile
minter would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest

from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election, Leadership
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.node import store_dir
from chain.errors import TransactionRefused
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    RECEIVER,
    TTL,
    WAIT,
    Forger,
    Network,
    Node,
    append,
    faucet_transfer,
    new_chain_id,
    new_key,
    start_node,
    wait_for,
)


@pytest.fixture
def network(etcd: EtcdCluster) -> Network:
    return Network(etcd.endpoints, new_chain_id(), frozenset())


@pytest.fixture
def allowed_key(network: Network) -> NodeKey:
    key = new_key()
    network.bootstrap = frozenset({node_id(key.public_key)})
    return key


@pytest.fixture
def verifier(tmp_path: Path, network: Network, allowed_key: NodeKey) -> Iterator[Node]:
    node = start_node(tmp_path, network, "verifier", None)
    yield node
    node.close()


@pytest.fixture
def lease(network: Network) -> Iterator[tuple[BlockLog, Leadership]]:
    """The election held by the test itself, to append by hand."""
    with EtcdClient(network.endpoints) as client:
        keys = ChainKeys(network.chain_id)
        election = Election(client, keys, "http://hand:8545", ttl=TTL)
        yield BlockLog(client, keys), election.campaign(timeout=WAIT)
        election.resign()


def forger(tmp_path: Path, network: Network, coinbase: bytes) -> Forger:
    return Forger(tmp_path / f"forger-{coinbase.hex()[:8]}", network.chain_id, coinbase)


def test_a_block_that_does_not_re_execute_halts_the_verifier(
    tmp_path: Path,
    network: Network,
    allowed_key: NodeKey,
    verifier: Node,
    lease: tuple[BlockLog, Leadership],
) -> None:
    forging = forger(tmp_path, network, allowed_key.address)
    try:
        first = forging.forge()
        append(lease, first, allowed_key)  # sealed by a bootstrap sealer: imported
        wait_for(lambda: verifier.head == 1, "the verifier to import block 1")
        assert forging.ledger.node.import_block(first, allowed_key.seal(first.hash))
        second = forging.forge()
    finally:
        forging.close()
    assert second.number == 2
    tampered = second.copy(header=second.header.copy(state_root=b"\x5a" * 32))
    append(lease, tampered, allowed_key)  # re-sealed by the allowed key: the seal is fine

    wait_for(lambda: verifier.replica.halted is not None, "the verifier to halt")
    halted = verifier.replica.halted
    assert halted is not None
    assert "block 2: state_root differs" in halted
    assert verifier.role is Role.HALTED
    assert verifier.head == 1  # the last good block; nothing of block 2 is kept
    assert verifier.ledger.node.seal_of(bytes(tampered.hash)) is None
    with pytest.raises(TransactionRefused, match="halted"):
        verifier.ledger.send_raw_transaction(faucet_transfer(verifier.ledger, RECEIVER))


def test_a_header_field_the_sealer_chose_otherwise_is_named_when_refused(
    tmp_path: Path,
    network: Network,
    allowed_key: NodeKey,
    verifier: Node,
    lease: tuple[BlockLog, Leadership],
) -> None:
    """A block whose transactions execute exactly, but whose header this node's producer
    would not have made (here: another gas limit), is refused by the field's name."""
    forging = forger(tmp_path, network, allowed_key.address)
    try:
        block = forging.forge()
    finally:
        forging.close()
    other = block.copy(header=block.header.copy(gas_limit=block.header.gas_limit - 1))
    append(lease, other, allowed_key)

    wait_for(lambda: verifier.replica.halted is not None, "the verifier to halt")
    assert "block 1: gas_limit differs" in str(verifier.replica.halted)
    assert verifier.head == 0


def test_a_block_sealed_by_a_node_not_allowed_is_refused(
    tmp_path: Path,
    network: Network,
    verifier: Node,
    lease: tuple[BlockLog, Leadership],
) -> None:
    outsider = new_key()
    forging = forger(tmp_path, network, outsider.address)
    try:
        block = forging.forge()
    finally:
        forging.close()
    append(lease, block, outsider)  # a valid block and seal, by a node nobody allowed

    wait_for(lambda: verifier.replica.halted is not None, "the verifier to refuse block 1")
    assert "not on the allow-list at block 0" in str(verifier.replica.halted)
    assert verifier.head == 0


def test_a_seal_by_another_key_than_the_coinbase_is_refused(
    tmp_path: Path,
    network: Network,
    allowed_key: NodeKey,
    verifier: Node,
    lease: tuple[BlockLog, Leadership],
) -> None:
    forging = forger(tmp_path, network, allowed_key.address)
    try:
        block = forging.forge()
    finally:
        forging.close()
    append(lease, block, NodeKey(os.urandom(32)))  # names the allowed node, not its seal

    wait_for(lambda: verifier.replica.halted is not None, "the verifier to refuse block 1")
    assert "its coinbase names" in str(verifier.replica.halted)
    assert verifier.head == 0


def test_a_deposed_minters_block_is_fenced_and_never_published(
    tmp_path: Path, network: Network, allowed_key: NodeKey
) -> None:
    successor_key = new_key()
    network.bootstrap = network.bootstrap | {node_id(successor_key.public_key)}
    deposed = start_node(tmp_path, network, "deposed", allowed_key, start=False)
    successor: Node | None = None
    try:
        # the election by hand, so that the lease is revoked while it still believes
        keys = ChainKeys(network.chain_id)
        election = Election(deposed.client, keys, "http://deposed:8545", ttl=TTL)
        finality = deposed.replica.finality
        assert finality is not None
        genesis = deposed.ledger.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
        deposed.replica.block_log.initialize(bytes(genesis.hash))
        leadership = election.campaign(timeout=WAIT)
        finality.lead(leadership)
        deposed.ledger.node.wake_producer()
        first = deposed.ledger.send_raw_transaction(faucet_transfer(deposed.ledger, RECEIVER))
        assert deposed.ledger.wait_for_transaction_receipt(first, timeout=WAIT)["status"] == 1
        assert deposed.head == 1

        deposed.client.revoke_lease(leadership.lease)  # as if its lease had run out
        raw = faucet_transfer(deposed.ledger, RECEIVER)
        second = deposed.ledger.send_raw_transaction(raw)
        wait_for(finality.deposed.is_set, "the fenced append to depose the minter")
        assert not finality.can_mint()
        log_head = deposed.replica.block_log.head()
        assert log_head is not None
        assert log_head.height == 1
        assert deposed.head == 1  # its block 2 was thrown away, never published
        assert deposed.ledger.get_transaction_receipt(second) is None
        assert deposed.ledger.node.is_queued(second)  # its transaction is queued again

        # another validator takes over from the last committed block and mints it
        successor = start_node(tmp_path, network, "successor", successor_key)
        wait_for(lambda: successor is not None and successor.role is Role.MINTER, "takeover")
        assert successor.head == 1
        assert successor.ledger.send_raw_transaction(raw) == second
        mined = successor.ledger.wait_for_transaction_receipt(second, timeout=WAIT)
        assert mined["blockNumber"] == 2

        # the deposed node follows it: the transaction is applied once, in the new block
        deposed.replica.start()
        wait_for(lambda: deposed.head == 2, "the deposed minter to follow")
        assert not deposed.ledger.node.is_queued(second)
        receipt = deposed.ledger.get_transaction_receipt(second)
        assert receipt is not None
        assert receipt["blockHash"] == mined["blockHash"]
        assert deposed.ledger.node.pending_count() == 0
    finally:
        if successor is not None:
            successor.close()
        deposed.close()


def _flip_last_byte(store: Path, key: bytes) -> None:
    env = lmdb.open(str(store), max_dbs=0)
    try:
        with env.begin(write=True) as txn:
            stored = txn.get(key)
            assert stored is not None, f"no record 0x{key.hex()} to tamper with"
            txn.put(key, bytes(stored[:-1]) + bytes((stored[-1] ^ 0x01,)))
    finally:
        env.close()


def test_a_verifier_whose_store_was_tampered_with_halts_at_its_last_good_block(
    tmp_path: Path, network: Network, allowed_key: NodeKey, nodes: list[Node]
) -> None:
    minter = start_node(tmp_path, network, "minter", allowed_key)
    nodes.append(minter)
    wait_for(lambda: minter.role is Role.MINTER, "the minter")
    first = minter.ledger.send_raw_transaction(faucet_transfer(minter.ledger, RECEIVER))
    minter.ledger.wait_for_transaction_receipt(first, timeout=WAIT)
    verifier = start_node(tmp_path, network, "verifier", None)
    wait_for(lambda: verifier.head == minter.head, "the verifier to catch up")
    good = verifier.ledger.node.head
    verifier.close()
    _flip_last_byte(store_dir(tmp_path / "verifier"), bytes(good.state_root))

    verifier = start_node(tmp_path, network, "verifier", None)  # its store, tampered with
    nodes.append(verifier)
    second = minter.ledger.send_raw_transaction(faucet_transfer(minter.ledger, RECEIVER))
    minter.ledger.wait_for_transaction_receipt(second, timeout=WAIT)

    wait_for(lambda: verifier.replica.halted is not None, "the verifier to halt")
    # its state no longer reads back: the next block cannot execute on it
    halted = str(verifier.replica.halted)
    assert halted.startswith(f"block {good.block_number + 1}: does not execute"), halted
    assert verifier.head == good.block_number
    assert verifier.ledger.get_transaction_receipt(second) is None
