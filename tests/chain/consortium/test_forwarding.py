"""Forwarding to the minter: what a verifier is sent reaches the minter; a refusal for good
ends the re-sending and fails the transaction at the node it was sent to (its receipt's
waiter, the transaction manager), a transient one (the minter unreachable, a change of
minter) does not; a transaction whose nonce a block gave to another leaves the queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from chain.embedded.rules import MIN_TRANSACTION_GAS, Standing
from chain.errors import TransactionDropped
from chain.txmanager import TransactionManager
from chain.txstore import TxStatus, TxStore
from nodes.consortium.forward import RESEND_SECONDS, is_final
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.forwarding import (
    MINTER_GAS_CAP,
    RECEIVER,
    ForwardingNode,
    signed_transfer,
)
from tests.chain.consortium.ledger_nodes import (
    Network,
    Node,
    new_chain_id,
    new_key,
    start_node,
    wait_for,
)
from tests.helpers import new_signer


def test_a_transaction_the_minter_refuses_for_good_fails_at_the_verifier(
    forwarding_pair: list[ForwardingNode], tmp_path: Path
) -> None:
    a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    # b's cap lets it in, the minter's does not: no later head changes that
    over_cap = b.ledger.node.submit(signed_transfer(b, 0, gas=MINTER_GAS_CAP + 1))
    follower = b.ledger.node.submit(signed_transfer(b, 1))
    with pytest.raises(TransactionDropped, match=r"the minter refused it: gas \d+ exceeds"):
        b.ledger.wait_for_transaction_receipt(over_cap, 30)
    with pytest.raises(TransactionDropped, match="nonce gap"):
        b.ledger.wait_for_transaction_receipt(follower, 30)
    # the re-sending is over: nothing is left in b's queue to send, nothing was mined
    assert b.ledger.node.queued_transactions() == []
    assert a.ledger.node.locate(over_cap) is None
    assert b.ledger.node.locate(over_cap) is None
    assert b.ledger.node.rejection_of(follower) is not None


def test_the_transaction_manager_fails_the_refused_write_by_name(
    forwarding_pair: list[ForwardingNode], tmp_path: Path
) -> None:
    _a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    signer = new_signer(b.ledger)
    store = TxStore(tmp_path / "txs.sqlite")
    try:
        manager = TransactionManager(b.ledger, store, receipt_timeout=30)
        pending = manager.submit(signer, RECEIVER, b"", gas=MINTER_GAS_CAP + 1)
        with pytest.raises(TransactionDropped) as refused:
            manager.wait(pending)
        assert refused.value.code == "transaction_dropped"
        stored = store.by_hash(pending.tx_hash)
        assert stored is not None
        assert stored.status is TxStatus.DROPPED
        # the account goes on: its next write takes the nonce the refused one left free
        receipt = manager.transact(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
        assert receipt["status"] == 1
        assert manager.transact(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)["status"] == 1
    finally:
        store.close()


def test_an_unreachable_minter_is_tried_again_until_another_mints(
    forwarding_pair: list[ForwardingNode],
) -> None:
    a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    a.stop_serving()  # still the minter, but no forward reaches it
    tx_hash = b.ledger.node.submit(signed_transfer(b, 0))
    follows = b.ledger.node.head.block_number
    wait_for(lambda: b.forwarder.failures >= 3, "three forwards to fail")
    assert b.ledger.node.is_queued(tx_hash)
    assert b.ledger.node.rejection_of(tx_hash) is None
    # the minter goes: b takes over and mints what its queue holds, once
    a.close()
    forwarding_pair.remove(a)
    wait_for(lambda: b.role is Role.MINTER, "b to take over")
    receipt = b.ledger.wait_for_transaction_receipt(tx_hash, 30)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] > follows


def test_a_queued_transaction_whose_nonce_a_block_took_leaves_the_queue(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key_a.public_key)}))
    a = start_node(tmp_path, network, "a", key_a)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to mint")
    b = start_node(tmp_path, network, "b", None)  # a learner: it forwards nothing
    nodes.append(b)
    queued_at_b = b.ledger.node.submit(signed_transfer(b, 0, to=RECEIVER))
    other = signed_transfer(a, 0, to="0x" + "66" * 20)  # the same nonce, elsewhere
    mined = a.ledger.node.submit(other)
    block = a.ledger.wait_for_transaction_receipt(mined, 30)["blockNumber"]
    wait_for(lambda: b.head >= block, "b to import the block")
    assert not b.ledger.node.is_queued(queued_at_b)
    with pytest.raises(TransactionDropped, match="nonce 0 went to another transaction"):
        b.ledger.wait_for_transaction_receipt(queued_at_b, 30)


@pytest.mark.parametrize(
    ("answer", "sent_at_head", "final"),
    [
        ({"error": "gas", "standing": Standing.INVALID.value, "head": 3}, 9, True),
        ({"error": "funds", "standing": Standing.STATE.value, "head": 9}, 9, True),
        # the minter judged at an older head than the one b admitted it at: not yet
        ({"error": "funds", "standing": Standing.STATE.value, "head": 8}, 9, False),
        ({"error": "nonce", "standing": Standing.ORDER.value, "head": 20}, 9, False),
        ({"error": "halted", "standing": Standing.NODE.value, "head": 20}, 9, False),
        ({"error": "an older minter says no standing"}, 9, False),
        ({"error": "funds", "standing": Standing.STATE.value, "head": "9"}, 9, False),
    ],
)
def test_which_refusals_are_for_good(
    answer: dict[str, object], sent_at_head: int, final: bool
) -> None:
    assert is_final(answer, sent_at_head) is final


def test_an_idle_forwarder_waits_between_rounds(
    forwarding_pair: list[ForwardingNode],
) -> None:
    """With nothing to send (the minter's own forwarder, or a verifier with an empty
    queue) a forwarder looks again once a round (or when woken), never in a loop: a
    deadline it left behind once spun the minter's forwarder and took most of its CPU."""
    a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    rounds = {a.name: 0, b.name: 0}
    for node in (a, b):
        send_round = node.forwarder._send_round

        def counted(state: Any, node: ForwardingNode = node, send_round: Any = send_round) -> None:
            rounds[node.name] += 1
            send_round(state)

        node.forwarder._send_round = counted  # type: ignore[method-assign]
    time.sleep(3 * RESEND_SECONDS)
    assert a.role is Role.MINTER
    # one round a RESEND_SECONDS, and a spare for a wake-up; a spinning loop makes thousands
    assert rounds[a.name] <= 5, rounds
    assert rounds[b.name] <= 5, rounds
