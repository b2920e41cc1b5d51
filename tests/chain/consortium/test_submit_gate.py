"""A node that may not submit (a learner; a validator not on the NodeRegistry allow-list
yet) refuses a raw transaction at once, saying why and where to send it: nothing is queued
or forwarded, and the API's transaction manager fails the write by name
(``node_cannot_submit``) with nothing stored. A vote that adds the node lets the same node
take transactions, without a restart; an allowed verifier forwards as before.

Each node is reached as its API reaches it: over its JSON-RPC (``ScfNodeLedger``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.backends.scf_node import ScfNodeLedger
from chain.consortium.election import Election
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from chain.embedded.rpc import NODE_CANNOT_SUBMIT, RpcError
from chain.embedded.rules import MIN_TRANSACTION_GAS
from chain.errors import NodeCannotSubmit, TransactionDropped, TransactionRefused
from chain.governance import pass_proposal
from chain.txmanager import TransactionManager
from chain.txstore import TxStatus, TxStore
from nodes.consortium.forward import UNAUTHORIZED, Forwarder, sign_forward
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.forwarding import (
    RECEIVER,
    ForwardingNode,
    signed_transfer,
    start_forwarding_node,
)
from tests.chain.consortium.ledger_nodes import (
    Network,
    deploy_on,
    faucet_transfer,
    new_chain_id,
    new_key,
    registry_address,
    wait_for,
)
from tests.helpers import new_signer

LEARNER = r"a learner: .*through a validator's node"
NOT_ALLOWED = r"not on the NodeRegistry allow-list yet: .*scf-node node propose-add"


@pytest.fixture
def started() -> Iterator[list[ForwardingNode]]:
    """Forwarding nodes a test starts; closed at its end, the minter last."""
    nodes: list[ForwardingNode] = []
    yield nodes
    for node in reversed(nodes):
        node.close()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[TxStore]]:
    opened: list[TxStore] = []
    yield opened
    for store in opened:
        store.close()


def start_minter(
    etcd: EtcdCluster, tmp_path: Path, started: list[ForwardingNode], registry: bytes | None
) -> tuple[ForwardingNode, Network]:
    """``a``, the network's only bootstrap sealer, minting."""
    key = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    network.registry = registry
    minter = start_forwarding_node(tmp_path, network, "a", key)
    started.append(minter)
    wait_for(lambda: minter.role is Role.MINTER, "a to mint")
    return minter, network


@pytest.fixture
def connect() -> Iterator[list[ScfNodeLedger]]:
    """Ledgers over nodes' JSON-RPC a test opens (``ScfNodeLedger``); closed at its end."""
    opened: list[ScfNodeLedger] = []
    yield opened
    for ledger in opened:
        ledger.close()


def rpc_of(node: ForwardingNode, connect: list[ScfNodeLedger]) -> ScfNodeLedger:
    ledger = ScfNodeLedger(node.url, token=node.token)
    connect.append(ledger)
    return ledger


def test_a_learner_refuses_a_raw_transaction_at_once(
    etcd: EtcdCluster, tmp_path: Path, started: list[ForwardingNode], connect: list[ScfNodeLedger]
) -> None:
    a, network = start_minter(etcd, tmp_path, started, None)
    learner = start_forwarding_node(tmp_path, network, "r", new_key(), learner=True)
    started.append(learner)
    ledger = rpc_of(learner, connect)
    with pytest.raises(NodeCannotSubmit, match=LEARNER) as refused:
        ledger.send_raw_transaction(signed_transfer(learner, 0))
    assert refused.value.code == "node_cannot_submit"
    assert refused.value.details["rpc_error"]["code"] == NODE_CANNOT_SUBMIT
    # nothing queued, so nothing to forward; the minter never saw it
    assert learner.ledger.node.queued_transactions() == []
    assert a.ledger.node.queued_transactions() == []
    # a halted learner says it has halted: that says more than "a learner"
    learner.ledger.node.halt("a block that did not re-execute")
    with pytest.raises(TransactionRefused, match="this node has halted") as halted:
        ledger.send_raw_transaction(signed_transfer(learner, 0))
    assert not isinstance(halted.value, NodeCannotSubmit)


def test_a_node_not_on_the_allow_list_refuses_until_a_vote_adds_it(
    etcd: EtcdCluster,
    tmp_path: Path,
    started: list[ForwardingNode],
    connect: list[ScfNodeLedger],
    stores: list[TxStore],
) -> None:
    deployer = Signer.create()
    a, network = start_minter(etcd, tmp_path, started, registry_address(deployer))
    key_c = new_key()
    c = start_forwarding_node(tmp_path, network, "c", key_c)  # joined, not voted in
    started.append(c)
    store = TxStore(tmp_path / "c-txs.sqlite")
    stores.append(store)
    manager = TransactionManager(rpc_of(c, connect), store, receipt_timeout=30)
    signer = new_signer(a.ledger)

    def refused_at_once() -> None:
        with pytest.raises(NodeCannotSubmit, match=NOT_ALLOWED) as refused:
            manager.submit(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
        assert f"0x{node_id(key_c.public_key).hex()}" in refused.value.message
        # nothing kept to re-send, nothing queued to forward
        assert store.unconfirmed(signer.address) == []
        assert c.ledger.node.queued_transactions() == []

    refused_at_once()  # before the registry: only the bootstrap sealer is allowed
    consortium = deploy_on(a.ledger, a.key, a.name, deployer)
    deployed = a.head
    wait_for(lambda: c.head >= deployed, "c to import the registry")
    refused_at_once()  # the registry allows a only
    pass_proposal(
        consortium.governance,
        deployer,
        [(consortium.nodes, "addNode", (key_c.public_key, 1, c.url))],
        "Add node c",
    )
    added = a.head
    wait_for(lambda: c.head >= added, "c to import the vote")
    # the same node, not restarted, takes the write and forwards it to the minter
    receipt = manager.transact(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
    assert receipt["status"] == 1
    assert a.ledger.node.locate(bytes(receipt["transactionHash"])) is not None
    assert c.role is Role.VERIFIER


def test_an_allowed_verifier_forwards_a_raw_transaction_as_before(
    forwarding_pair: list[ForwardingNode], connect: list[ScfNodeLedger]
) -> None:
    a, b = forwarding_pair
    wait_for(lambda: b.forwarder.leader is not None, "b to see the minter")
    ledger = rpc_of(b, connect)
    tx_hash = ledger.send_raw_transaction(signed_transfer(b, 0))
    receipt = ledger.wait_for_transaction_receipt(tx_hash, 30)
    assert receipt["status"] == 1
    assert a.ledger.node.locate(tx_hash) is not None


REMOVED = r"was removed from the NodeRegistry allow-list by a committee vote: .*validator's node"


def test_a_removed_validator_refuses_writes_and_drops_what_the_minter_does_not_hold(
    etcd: EtcdCluster,
    tmp_path: Path,
    started: list[ForwardingNode],
    connect: list[ScfNodeLedger],
    stores: list[TxStore],
) -> None:
    """A vote removes validator c while its queue holds a member's write the minter never
    took: c refuses new writes at once (409 ``node_cannot_submit``, saying it was
    removed), and the queued write fails at once, with the minter's reason, instead of
    being sent again until its receipt timeout. What the minter holds already it mines."""
    deployer = Signer.create()
    a, network = start_minter(etcd, tmp_path, started, registry_address(deployer))
    key_c = new_key()
    c = start_forwarding_node(tmp_path, network, "c", key_c)
    started.append(c)
    consortium = deploy_on(a.ledger, a.key, a.name, deployer)
    pass_proposal(
        consortium.governance,
        deployer,
        [(consortium.nodes, "addNode", (key_c.public_key, 1, c.url))],
        "Add node c",
    )
    added = a.head
    wait_for(lambda: c.head >= added, "c to import the vote")
    store = TxStore(tmp_path / "c-txs.sqlite")
    stores.append(store)
    manager = TransactionManager(rpc_of(c, connect), store, receipt_timeout=30)
    signer = new_signer(a.ledger)
    # c's forward round has not come yet when the vote removes it
    c.forwarder.stop()
    pending = manager.submit(signer, RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
    assert c.ledger.node.is_queued(pending.tx_hash)
    pass_proposal(
        consortium.governance,
        deployer,
        [(consortium.nodes, "removeNode", (node_id(key_c.public_key),))],
        "Remove node c",
    )
    removed = a.head
    wait_for(lambda: c.head >= removed, "c to import the removal")
    # new writes: refused at once, nothing stored or queued
    with pytest.raises(NodeCannotSubmit, match=REMOVED) as refused:
        manager.submit(new_signer(a.ledger), RECEIVER, b"", gas=MIN_TRANSACTION_GAS)
    assert f"0x{node_id(key_c.public_key).hex()}" in refused.value.message
    # the queued write: the minter holds it not, so it is dropped, with the reason
    forwarder = Forwarder(
        c.ledger.node,
        Election(c.client, ChainKeys(network.chain_id), c.url),
        c.forwarder.key,
        network.chain_id,
        minting=lambda: False,
    )
    c.forwarder = forwarder
    forwarder.start()
    with pytest.raises(TransactionDropped, match=r"is not on the allow-list at block \d+"):
        manager.wait(pending)
    stored = store.by_hash(pending.tx_hash)
    assert stored is not None
    assert stored.status is TxStatus.DROPPED
    assert c.ledger.node.queued_transactions() == []
    assert a.ledger.node.locate(pending.tx_hash) is None
    assert not a.ledger.node.is_queued(pending.tx_hash)
    assert c.role is Role.VERIFIER  # it follows and verifies as before, and never stands


def test_the_minter_tells_a_removed_node_which_of_its_transactions_it_holds(
    etcd: EtcdCluster, tmp_path: Path, started: list[ForwardingNode]
) -> None:
    """A forward from a node not on the allow-list is refused whole; the minter says at
    which head, and which of the transactions it holds (queued, in a block being built or
    mined): those will be mined, the forwarding node drops only the others."""
    deployer = Signer.create()
    a, _network = start_minter(etcd, tmp_path, started, registry_address(deployer))
    deploy_on(a.ledger, a.key, a.name, deployer)  # the registry allows a only
    stranger = new_key()
    node = a.ledger.node
    mined = faucet_transfer(a.ledger, RECEIVER)
    a.ledger.wait_for_transaction_receipt(node.submit(mined), 30)
    other = signed_transfer(a, 99)  # a nonce far ahead: nothing of it is held
    with node._chain_lock:  # the producer takes the batch, then waits to build its block
        held = faucet_transfer(a.ledger, RECEIVER)
        node.submit(held)
        wait_for(lambda: node.pending_count() == 0, "the producer to take the batch")
        with pytest.raises(RpcError, match="is not on the allow-list at block") as refused:
            a.rpc.check.take(*sign_forward(stranger, a.ledger.chain_id, [mined, held, other]))
    assert refused.value.code == UNAUTHORIZED
    assert refused.value.data == {
        "head": a.head,
        "held": ["0x" + keccak(mined).hex(), "0x" + keccak(held).hex()],
    }
