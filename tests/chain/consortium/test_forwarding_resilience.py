"""What keeps a consortium node from waiting forever: its forwarder's rounds and its
minter watch survive a failure, its campaign goes on after one, and the minter answers a
forward of a transaction already in one of its blocks with its hash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chain.consortium.election import Election, Leader
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from nodes.consortium.forward import Forwarder, sign_forward
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.forwarding import ForwardingNode
from tests.chain.consortium.ledger_nodes import (
    Network,
    Node,
    faucet_transfer,
    new_chain_id,
    new_key,
    start_node,
    wait_for,
)

RECEIVER = "0x" + "88" * 20


def failing_once(fn: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    """``fn``, but its first call raises (a fault injected into a real part)."""
    calls = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("injected fault")
        return fn(*args, **kwargs)

    return wrapped, calls


def test_a_forwarding_round_that_fails_does_not_end_forwarding(
    forwarding_pair: list[ForwardingNode],
) -> None:
    _a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    b.forwarder.minting, calls = failing_once(b.forwarder.minting)
    tx_hash = b.ledger.node.submit(faucet_transfer(b.ledger, RECEIVER))
    assert b.ledger.wait_for_transaction_receipt(tx_hash, 30)["status"] == 1
    assert calls[0] >= 2


def test_the_minter_watch_goes_on_after_an_error(forwarding_pair: list[ForwardingNode]) -> None:
    a, b = forwarding_pair
    observer = Election(b.client, ChainKeys(b.ledger.chain_id), b.url)
    observe = observer.observe

    def observe_failing_once(idle_timeout: float = 30.0) -> Iterator[Leader | None]:
        if not calls:
            calls.append(1)
            raise RuntimeError("injected fault")
        return observe(idle_timeout)

    calls: list[int] = []
    observer.observe = observe_failing_once  # type: ignore[method-assign]
    forwarder = Forwarder(
        b.ledger.node, observer, b.forwarder.key, b.ledger.chain_id, minting=lambda: False
    )
    forwarder.start()
    try:
        wait_for(lambda: forwarder.leader is not None, "the watch to see the minter")
        leader = forwarder.leader
        assert leader is not None
        assert leader.value == a.url
    finally:
        forwarder.stop()


def test_the_minter_answers_a_transaction_already_in_its_block_as_taken(
    forwarding_pair: list[ForwardingNode],
) -> None:
    a, b = forwarding_pair
    raw = faucet_transfer(a.ledger, RECEIVER)
    tx_hash = a.ledger.node.submit(raw)
    a.ledger.wait_for_transaction_receipt(tx_hash, 30)
    answer = a.rpc.check.take(*sign_forward(b.forwarder.key, a.ledger.chain_id, [raw]))
    assert answer == ["0x" + tx_hash.hex()]


def test_a_campaign_goes_on_after_an_error(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    node = start_node(tmp_path, network, "a", key, start=False)
    nodes.append(node)
    node.replica._allowed, calls = failing_once(node.replica._allowed)  # type: ignore[method-assign]
    node.replica.start()
    wait_for(lambda: node.role is Role.MINTER, "a to mint after the fault")
    assert calls[0] >= 2


def test_a_transaction_the_minter_holds_is_taken_whatever_its_sender_became(
    forwarding_pair: list[ForwardingNode],
) -> None:
    """A forward of what the minter holds already is answered as taken before any check:
    a refusal then (its contract retired meanwhile) would fail at the forwarder a
    transaction the minter goes on to mine."""
    a, b = forwarding_pair
    raw = faucet_transfer(a.ledger, RECEIVER)
    node = a.ledger.node
    with node._chain_lock:  # the producer takes the batch, then waits to build its block
        tx_hash = node.submit(raw)
        wait_for(lambda: node.pending_count() == 0, "the producer to take the batch")
        assert node.is_queued(tx_hash)
        node.retired = frozenset({bytes.fromhex(RECEIVER[2:])})
        try:
            answer = a.rpc.check.take(*sign_forward(b.forwarder.key, a.ledger.chain_id, [raw]))
        finally:
            node.retired = frozenset()
    assert answer == ["0x" + tx_hash.hex()]
    assert a.ledger.wait_for_transaction_receipt(tx_hash, 30)["status"] == 1
