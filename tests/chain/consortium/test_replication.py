"""Minter, verifier and learner on one etcd: every committed block re-executes to the same
state everywhere, with the consortium's contracts deployed and business running."""

from __future__ import annotations

from pathlib import Path

from chain.accounts import Signer
from chain.consortium.block_log import BlockLog
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import decode_entry, node_id
from chain.embedded.node import store_dir
from chain.embedded.verify import verify_ledger
from chain.governance import pass_proposal
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    WAIT,
    Network,
    Node,
    deploy,
    faucet_transfer,
    new_chain_id,
    new_key,
    on,
    registry_address,
    same_chain,
    start_node,
    wait_for,
)
from tests.helpers import (
    certificate,
    issue_certificate,
    make_world,
    split,
)


def test_minter_verifier_and_learner_agree_block_by_block(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a, key_b = new_key(), new_key()
    deployer = Signer.create()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset({node_id(key_a.public_key)}),
        registry_address(deployer),
    )
    a = start_node(tmp_path, network, "a", key_a)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to become minter")
    consortium = deploy(a, deployer)
    b = start_node(tmp_path, network, "b", key_b)  # a validator, not yet on the allow-list
    c = start_node(tmp_path, network, "c", None)  # a learner
    nodes.extend([b, c])
    pass_proposal(
        consortium.governance,
        deployer,
        [(consortium.nodes, "addNode", (key_b.public_key, 1, "http://b:8545"))],
        "Add node b",
    )
    world = make_world(consortium, deployer)
    certificate_id = issue_certificate(world, world.core, world.tier1, 1_000_00)
    child_id = split(world, world.tier1, certificate_id, world.tier2, 400_00)

    head = a.head
    assert head > 20  # many blocks, with real transactions
    wait_for(lambda: min(b.head, c.head) >= head, "the verifier and the learner to catch up")
    assert len(same_chain([a, b, c])) == 1
    assert (a.role, b.role, c.role) == (Role.MINTER, Role.VERIFIER, Role.LEARNER)
    for number in range(1, head + 1):
        blocks = [n.ledger.node.sealed_block(number) for n in (a, b, c)]
        assert len({bytes(s.block.hash) for s in blocks}) == 1
        assert len({tuple(r.encode() for r in s.receipts) for s in blocks}) == 1
        assert bytes(blocks[0].block.header.coinbase) == key_a.address
        # the seal is kept beside the block on every node, to serve to a peer catching up
        seals = {n.ledger.node.seal_of(bytes(blocks[0].block.hash)) for n in (a, b, c)}
        assert len(seals) == 1
        assert None not in seals
    # the members' business reads the same through the learner's node
    for cert in (certificate_id, child_id):
        assert certificate(on(c, consortium), cert) == certificate(consortium, cert)
    # the log's block at the head is the block every node holds there
    block_log = BlockLog(a.client, ChainKeys(network.chain_id))
    entry = decode_entry(block_log.read(head).data)
    assert entry.block.hash == a.ledger.node.sealed_block(head).block.hash
    assert entry.node_id == node_id(key_a.public_key)
    # what every node stored re-executes from genesis (``scf-node verify``, once closed)
    for node in (a, b, c):
        node.close()
        nodes.remove(node)
        result = verify_ledger(store_dir(node.ledger.node.config.data_dir), network.chain_id)
        assert result.ok, result.mismatch
        assert result.head >= head


def test_a_minter_removed_by_a_vote_stands_down_and_another_validator_mints(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a, key_b = new_key(), new_key()
    deployer = Signer.create()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset({node_id(key_a.public_key)}),
        registry_address(deployer),
    )
    a = start_node(tmp_path, network, "a", key_a)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to become minter")
    consortium = deploy(a, deployer)
    b = start_node(tmp_path, network, "b", key_b)
    c = start_node(tmp_path, network, "c", None)
    nodes.extend([b, c])
    for call in (
        ("addNode", (key_b.public_key, 1, "http://b:8545")),
        ("removeNode", (node_id(key_a.public_key),)),
    ):
        pass_proposal(consortium.governance, deployer, [(consortium.nodes, *call)], call[0])
    removed_at = a.head  # a sealed the block that removed it: allowed at its parent

    wait_for(lambda: b.role is Role.MINTER, "b to take over")
    tx_hash = b.ledger.send_raw_transaction(faucet_transfer(b.ledger, "0x" + "33" * 20))
    mined = b.ledger.wait_for_transaction_receipt(tx_hash, timeout=WAIT)
    head = b.head
    wait_for(lambda: min(a.head, c.head) >= head, "a and the learner to follow b")
    assert len(same_chain([a, b, c])) == 1
    assert [n.replica.halted for n in (a, b, c)] == [None, None, None]
    assert a.role is Role.VERIFIER  # it follows, and does not stand while it is off the list
    assert mined["blockNumber"] > removed_at
    sealers = {
        bytes(b.ledger.node.sealed_block(n).block.header.coinbase)
        for n in range(removed_at + 1, head + 1)
    }
    assert sealers == {key_b.address}
