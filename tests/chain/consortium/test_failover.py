"""Failover on a three-member etcd: the minter goes (closed, its etcd member killed too;
later a lease lost), another validator mints from the last committed block; nothing
committed is lost, nothing is applied twice, every node agrees."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chain.accounts import Signer
from chain.consortium.replica import Role
from chain.consortium.seal import node_id
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
from tests.helpers import certificate, issue_certificate, make_world, split

RECEIVER = "0x" + "44" * 20


def committed(node: Node, upto: int) -> dict[int, tuple[bytes, list[bytes]]]:
    """Each block's hash and transaction hashes, up to ``upto``."""
    blocks = {}
    for number in range(1, upto + 1):
        block = node.ledger.node.sealed_block(number).block
        blocks[number] = (bytes(block.hash), [bytes(tx.hash) for tx in block.transactions])
    return blocks


def test_a_validator_takes_over_from_the_last_committed_block(
    etcd3: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a, key_b = new_key(), new_key()
    deployer = Signer.create()
    network = Network(
        etcd3.endpoints,
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
    pass_proposal(
        consortium.governance,
        deployer,
        [(consortium.nodes, "addNode", (key_b.public_key, 1, "http://b:8545"))],
        "Add node b",
    )
    world = make_world(consortium, deployer)
    certificate_id = issue_certificate(world, world.core, world.tier1, 1_000_00)
    acknowledged = committed(a, a.head)  # every block a published: its writes were answered

    # the minter goes, and its etcd member with it
    a.close()
    nodes.remove(a)
    etcd3.kill(etcd3.members[0])
    wait_for(lambda: b.role is Role.MINTER, "b to take over")
    assert b.head >= max(acknowledged)
    world_b = replace(world, consortium=on(b, consortium))
    first_child = split(world_b, world.tier1, certificate_id, world.tier2, 300_00)

    # b's lease is lost (as when it hangs past its TTL): it stops, stands again, and mints on
    finality = b.replica.finality
    assert finality is not None
    leadership = finality.leadership
    assert leadership is not None
    b.client.revoke_lease(leadership.lease)
    wait_for(
        lambda: (
            b.role is Role.MINTER
            and finality.leadership is not None
            and finality.leadership.lease != leadership.lease
        ),
        "b to win the election again",
    )
    second_child = split(world_b, world.tier1, certificate_id, world.tier3, 200_00)

    head = b.head
    wait_for(lambda: c.head >= head, "the learner to follow")
    assert len(same_chain([b, c])) == 1
    for node in (b, c):
        blocks = committed(node, head)
        # nothing committed is lost: every block a published is there, the same
        assert {n: blocks[n] for n in acknowledged} == acknowledged
        # nothing is applied twice
        transactions = [tx for _, txs in blocks.values() for tx in txs]
        assert len(transactions) == len(set(transactions))
        for child in (first_child, second_child):
            assert certificate(on(node, consortium), child) == certificate(
                world_b.consortium, child
            )
    assert [b.role, c.role] == [Role.MINTER, Role.LEARNER]


def test_without_an_etcd_majority_no_block_is_final_and_minting_resumes_after(
    etcd3: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key = new_key()
    network = Network(etcd3.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    minter = start_node(tmp_path, network, "minter", key)
    learner = start_node(tmp_path, network, "learner", None)
    nodes.extend([minter, learner])
    wait_for(lambda: minter.role is Role.MINTER, "the minter")
    first = minter.ledger.send_raw_transaction(faucet_transfer(minter.ledger, RECEIVER))
    minter.ledger.wait_for_transaction_receipt(first, timeout=WAIT)
    before = minter.head

    lost = etcd3.members[1:]
    for member in lost:
        etcd3.kill(member)
    second = minter.ledger.send_raw_transaction(faucet_transfer(minter.ledger, RECEIVER))
    finality = minter.replica.finality
    assert finality is not None
    wait_for(finality.deposed.is_set, "the minter to give up its block")
    assert minter.head == before  # nothing was published without etcd's majority
    assert minter.ledger.get_transaction_receipt(second) is None
    assert minter.role is not Role.MINTER

    for member in lost:
        etcd3.restart(member)
    etcd3.wait_healthy(lost)
    # the block may have committed after all (its answer was lost); either way the
    # transaction is applied once: imported from the log, or minted again
    mined = minter.ledger.wait_for_transaction_receipt(second, timeout=WAIT)
    assert mined["status"] == 1
    wait_for(lambda: minter.role is Role.MINTER, "the minter to stand again and win")
    wait_for(lambda: learner.head >= minter.head, "the learner to follow")
    assert len(same_chain([minter, learner])) == 1
    transactions = [
        bytes(tx.hash)
        for n in range(1, minter.head + 1)
        for tx in learner.ledger.node.sealed_block(n).block.transactions
    ]
    assert transactions.count(second) == 1
    assert learner.ledger.get_transaction_receipt(second)["blockHash"] == mined["blockHash"]  # type: ignore[index]
