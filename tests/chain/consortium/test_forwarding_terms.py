"""A transaction reported dropped is never mined: only the minter's refusal, in its term,
ends a forward for good, and what a minter took from another node's forward is held for
that term only (``EmbeddedNode.forget_forwarded``), so that when a minter refuses a
transaction for good its own node is the only one that still holds it.

The edge this closes: node b forwards T to the minter a, which takes it; a loses the
election before T is in a block (T went back to a's queue); b sends T to the new minter
c, which refuses it for good, and b's API reports T dropped; then a wins the election
again before its own forward round, and mined T from its queue. The member, told T was
dropped, sends the operation again: both would apply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from chain.embedded.finality import FollowOnly
from chain.embedded.rules import MIN_TRANSACTION_GAS, Standing
from chain.errors import TransactionDropped
from chain.txmanager import TransactionManager
from chain.txstore import TxStatus, TxStore
from nodes.consortium.forward import (
    NOT_MINTING,
    UNAUTHORIZED,
    held_if_refused_for_good,
    sign_forward,
)
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.forwarding import (
    MINTER_GAS_CAP,
    RECEIVER,
    ForwardingNode,
    signed_transfer,
    start_forwarding_node,
)
from tests.chain.consortium.ledger_nodes import (
    Network,
    faucet_transfer,
    new_chain_id,
    new_key,
    open_ledger,
    wait_for,
)
from tests.helpers import new_signer


@pytest.fixture
def trio(etcd: EtcdCluster, tmp_path: Path) -> Iterator[list[ForwardingNode]]:
    """Three bootstrap validators: ``a`` mints; ``c`` (with a lower gas cap) stands for
    minter too; ``b``, where the member writes, forwards and never stands (the test
    decides who mints)."""
    key_a, key_b, key_c = new_key(), new_key(), new_key()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset(node_id(k.public_key) for k in (key_a, key_b, key_c)),
    )
    started: list[ForwardingNode] = []
    a = start_forwarding_node(tmp_path, network, "a", key_a)
    started.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to mint")
    started.append(start_forwarding_node(tmp_path, network, "b", key_b, stands=False))
    started.append(
        start_forwarding_node(tmp_path, network, "c", key_c, max_transaction_gas=MINTER_GAS_CAP)
    )
    yield started
    for node in reversed(started):
        node.close()


def test_a_dropped_transaction_stays_out_of_the_old_minters_next_term(
    trio: list[ForwardingNode], tmp_path: Path
) -> None:
    a, b, c = trio
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    store = TxStore(tmp_path / "b-txs.sqlite")
    try:
        manager = TransactionManager(b.ledger, store, receipt_timeout=30)
        signer = new_signer(b.ledger)
        stands = a.replica._allowed
        a_node = a.ledger.node
        with a_node._chain_lock:  # a's producer takes T into a block, then waits to build it
            # within a's cap, over c's: c, once minting, refuses it for good
            pending = manager.submit(signer, RECEIVER, b"", gas=MINTER_GAS_CAP + 1)
            wait_for(
                lambda: a_node.is_queued(pending.tx_hash) and a_node.pending_count() == 0,
                "a to take T from b's forward into the block it builds",
            )
            # a's own forward round does not come before it mints again (the edge), and
            # it stands again only when the test lets it
            a.forwarder.stop()
            a.replica._allowed = lambda: False  # type: ignore[method-assign]
            leadership = a.replica.finality.leadership if a.replica.finality else None
            assert leadership is not None
            a.client.revoke_lease(leadership.lease)  # a's lease is gone: it loses the election
            wait_for(lambda: a.role is Role.VERIFIER, "a to stop minting")
        # a's block is refused (a mints no more); c takes over and refuses T for good
        wait_for(lambda: c.role is Role.MINTER, "c to take over")
        with pytest.raises(TransactionDropped, match=r"the minter refused it: gas \d+ exceeds"):
            manager.wait(pending)
        stored = store.by_hash(pending.tx_hash)
        assert stored is not None
        assert stored.status is TxStatus.DROPPED
        # a's term is over: it lets go of T (its block refused), and forwards nothing of it
        wait_for(lambda: not a_node.is_queued(pending.tx_hash), "a to let go of T")
        # c goes; a wins the election again and mints
        c.close()
        trio.remove(c)
        a.replica._allowed = stands  # type: ignore[method-assign]
        wait_for(lambda: a.role is Role.MINTER, "a to mint again")
        # the member, told T was dropped, sends the operation again: it is mined, T never is
        receipt = manager.transact(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
        assert receipt["status"] == 1
        again = store.by_hash(bytes(receipt["transactionHash"]))
        assert again is not None
        assert again.nonce == pending.nonce  # the nonce T left free: one of the two, at most
        block = receipt["blockNumber"]
        # the minter publishes its block once its store has it: b may show it first
        wait_for(lambda: a.head >= block and b.head >= block, "a and b to show the block")
        for node in (a, b):
            assert node.ledger.node.locate(pending.tx_hash) is None
            assert node.ledger.get_transaction_count(signer.address, "latest") == pending.nonce + 1
    finally:
        store.close()


def test_a_node_that_does_not_mint_takes_no_forward(
    forwarding_pair: list[ForwardingNode],
) -> None:
    """Only the minter, caught up with the log in its term, may refuse for good; a
    verifier's answer keeps the transaction at the node that forwarded it."""
    a, b = forwarding_pair
    raw = signed_transfer(a, 0)
    answer = b.rpc.check.take(*sign_forward(a.forwarder.key, b.ledger.chain_id, [raw]))
    assert answer == [{"error": NOT_MINTING, "standing": Standing.NODE.value, "head": b.head}]
    assert b.ledger.node.pending_count() == 0


def test_a_forward_of_a_term_that_ended_is_refused(forwarding_pair: list[ForwardingNode]) -> None:
    """A minter that checked a forward in one term takes it in no other."""
    a, _b = forwarding_pair
    node = a.ledger.node
    term = node.forward_term
    node.forget_forwarded()  # as a term ends
    raw = signed_transfer(a, 0)
    with pytest.raises(Exception, match="term as minter ended") as refused:
        node.submit(raw, forwarded_in=term)
    assert getattr(refused.value, "standing", None) is Standing.NODE
    assert node.queued_transactions() == []


@pytest.mark.parametrize(
    ("error", "sent_at_head", "held"),
    [
        (
            {"code": UNAUTHORIZED, "message": "m", "data": {"head": 9, "held": ["0x01"]}},
            9,
            {"0x01"},
        ),
        ({"code": UNAUTHORIZED, "message": "m", "data": {"head": 9, "held": []}}, 3, set()),
        # judged at an older head than the forward was sent at: not yet
        ({"code": UNAUTHORIZED, "message": "m", "data": {"head": 8, "held": []}}, 9, None),
        # a minter that does not mint says nothing of what it holds
        ({"code": UNAUTHORIZED, "message": "not on the allow-list"}, 9, None),
        ({"code": -32602, "message": "m", "data": {"head": 9, "held": []}}, 9, None),
        ({"code": UNAUTHORIZED, "message": "m", "data": {"head": "9", "held": []}}, 9, None),
        ({"code": UNAUTHORIZED, "message": "m", "data": {"head": 9}}, 9, None),
        ("a proxy's text", 9, None),
    ],
)
def test_which_refusals_of_the_forwarding_node_are_for_good(
    error: object, sent_at_head: int, held: set[str] | None
) -> None:
    assert held_if_refused_for_good(error, sent_at_head) == held


def test_a_node_lets_go_of_what_it_was_forwarded_and_keeps_its_own(tmp_path: Path) -> None:
    """``forget_forwarded``: forwarded transactions leave the queue without a rejection
    (their own node still holds them and may send them again next term); what was sent to
    this node stays, and only that is what it forwards."""
    ledger = open_ledger(tmp_path / "n", new_chain_id(), FollowOnly())  # it never mints
    try:
        node = ledger.node
        own = node.submit(faucet_transfer(ledger, RECEIVER))
        stranger = Account.create()
        signed = stranger.sign_transaction(
            {"to": RECEIVER, "value": 0, "gas": 21_000, "nonce": 0, "chainId": ledger.chain_id}
            | ledger.fee_params()
        )
        raw = bytes(signed.raw_transaction)
        forwarded = node.submit(raw, forwarded_in=node.forward_term)
        assert node.is_queued(forwarded)
        assert [keccak(r) for r in node.queued_transactions()] == [own]
        assert node.forget_forwarded() == 1
        assert node.is_queued(own)
        assert not node.is_queued(forwarded)
        assert node.rejection_of(forwarded) is None  # let go, not dropped
        # its own node's re-send in the next term is taken again, at the same nonce
        assert node.submit(raw, forwarded_in=node.forward_term) == forwarded
        # sent to this node as well: its own from then on, kept and forwarded
        assert node.submit(raw) == forwarded
        assert node.forget_forwarded() == 0
        assert node.is_queued(forwarded)
        assert len(node.queued_transactions()) == 2
    finally:
        ledger.close()
