"""NodeRegistry: the allow-list of ledger nodes, managed by governance.

Writes go through admin-mode proposals of the session consortium; member 1 (the
operator) owns the nodes unless a test says otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.contract import deploy_contract
from chain.credit_code import credit_code_hash
from chain.deploy import Consortium
from chain.ledger import Ledger
from chain.roles import Role
from tests.helpers import govern, new_credit_code, new_signer, reverts

ZERO_ADDRESS = "0x" + "00" * 20
OPERATOR_ID = 1
ENDPOINT = "node1.bank.example:30303"


def new_public_key() -> bytes:
    """A node's 64-byte secp256k1 public key."""
    return PrivateKey(os.urandom(32)).public_key.to_bytes()


class Nodes:
    """The consortium's NodeRegistry driven by its only governor."""

    def __init__(self, consortium: Consortium, governor: Signer) -> None:
        self.consortium = consortium
        self.registry = consortium.nodes
        self.governor = governor

    def write(self, function: str, *args: Any) -> TxReceipt:
        return govern(self.consortium, self.governor, (self.registry, function, args))

    def add(
        self, public_key: bytes | None = None, owner: int = OPERATOR_ID, endpoint: str = ENDPOINT
    ) -> tuple[bytes, TxReceipt]:
        key = new_public_key() if public_key is None else public_key
        receipt = self.write("addNode", key, owner, endpoint)
        node_id = bytes(self.registry.event_args(receipt, "NodeAdded")["nodeId"])
        return node_id, receipt

    def call(self, function: str, *args: Any) -> Any:
        return self.registry.call(function, *args)


@pytest.fixture
def nodes(consortium: Consortium, deployer: Signer) -> Nodes:
    return Nodes(consortium, deployer)


def test_add_node_puts_it_on_the_allow_list(nodes: Nodes, ledger: Ledger) -> None:
    public_key = new_public_key()

    node_id, receipt = nodes.add(public_key, endpoint="10.0.0.7:30303")

    assert node_id == keccak(public_key)
    assert nodes.registry.event_args(receipt, "NodeAdded") == {
        "nodeId": node_id,
        "ownerMemberId": OPERATOR_ID,
        "publicKey": public_key,
        "endpoint": "10.0.0.7:30303",
    }
    added_at = ledger.get_block(receipt["blockNumber"])["timestamp"]
    assert nodes.call("getNode", node_id) == (
        node_id,
        public_key,
        OPERATOR_ID,
        "10.0.0.7:30303",
        True,
        added_at,
    )
    assert nodes.call("isNodeAllowed", node_id) is True
    assert list(nodes.call("nodeIds")) == [node_id]
    assert nodes.call("nodeCount") == 1
    assert nodes.call("allowedNodeCount") == 1
    assert nodes.call("memberRegistry").lower() == nodes.consortium.members.address.lower()


@pytest.mark.parametrize("length", [0, 33, 63, 65])
def test_public_keys_must_be_64_bytes(nodes: Nodes, length: int) -> None:
    with reverts("NodeInvalidPublicKey", length):
        nodes.write("addNode", os.urandom(length), OPERATOR_ID, ENDPOINT)
    assert nodes.call("nodeCount") == 0


@pytest.mark.parametrize("owner", [0, 2, 99])
def test_owner_must_be_a_member(nodes: Nodes, owner: int) -> None:
    with reverts("NodeUnknownOwner", owner):
        nodes.add(owner=owner)


def test_endpoint_must_not_be_empty(nodes: Nodes) -> None:
    with reverts("NodeInvalidEndpoint"):
        nodes.add(endpoint="")


def test_a_node_is_registered_once(nodes: Nodes) -> None:
    public_key = new_public_key()
    node_id, _ = nodes.add(public_key)
    with reverts("NodeAlreadyRegistered", node_id):
        nodes.add(public_key)


def test_remove_node_flags_it_and_keeps_its_record(nodes: Nodes) -> None:
    kept, _ = nodes.add()
    removed, _ = nodes.add()

    receipt = nodes.write("removeNode", removed)

    assert nodes.registry.event_args(receipt, "NodeRemoved") == {"nodeId": removed}
    assert nodes.call("isNodeAllowed", removed) is False
    assert nodes.call("isNodeAllowed", kept) is True
    assert nodes.call("getNode", removed)[4] is False
    assert list(nodes.call("nodeIds")) == [kept, removed]
    assert nodes.call("nodeCount") == 2
    assert nodes.call("allowedNodeCount") == 1
    with reverts("NodeNotFound", removed):
        nodes.write("removeNode", removed)
    with reverts("NodeNotFound", removed):
        nodes.write("updateEndpoint", removed, "elsewhere:30303")


def test_a_removed_node_can_be_added_again(nodes: Nodes) -> None:
    public_key = new_public_key()
    node_id, _ = nodes.add(public_key)
    nodes.write("removeNode", node_id)
    # a second member takes the node over
    second = new_signer(nodes.consortium.ledger)
    admit_bank = (
        "Bank",
        credit_code_hash(new_credit_code()),
        [Role.FINANCIER.id],
        second.address,
        b"\0" * 32,
    )
    govern(nodes.consortium, nodes.governor, (nodes.consortium.members, "admitMember", admit_bank))

    again, _ = nodes.add(public_key, owner=2, endpoint="bank:30303")

    assert again == node_id
    assert nodes.call("isNodeAllowed", node_id) is True
    assert nodes.call("getNode", node_id)[2:5] == (2, "bank:30303", True)
    assert list(nodes.call("nodeIds")) == [node_id]
    assert (nodes.call("nodeCount"), nodes.call("allowedNodeCount")) == (1, 1)


def test_update_endpoint(nodes: Nodes) -> None:
    node_id, _ = nodes.add()

    receipt = nodes.write("updateEndpoint", node_id, "node1.bank.example:30304")

    assert nodes.registry.event_args(receipt, "NodeEndpointUpdated") == {
        "nodeId": node_id,
        "endpoint": "node1.bank.example:30304",
    }
    assert nodes.call("getNode", node_id)[3] == "node1.bank.example:30304"
    with reverts("NodeInvalidEndpoint"):
        nodes.write("updateEndpoint", node_id, "")


def test_unknown_nodes_are_reported(nodes: Nodes) -> None:
    unknown = keccak(new_public_key())
    assert nodes.call("isNodeAllowed", unknown) is False
    with reverts("NodeNotFound", unknown):
        nodes.call("getNode", unknown)
    with reverts("NodeNotFound", unknown):
        nodes.write("removeNode", unknown)
    with reverts("NodeNotFound", unknown):
        nodes.write("updateEndpoint", unknown, ENDPOINT)


def test_the_registry_needs_governance_and_member_registry(
    ledger: Ledger, deployer: Signer, consortium: Consortium
) -> None:
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(ledger, deployer, "NodeRegistry", ZERO_ADDRESS, consortium.members.address)
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(
            ledger, deployer, "NodeRegistry", consortium.governance.address, ZERO_ADDRESS
        )


WRITES: list[tuple[str, tuple[Any, ...]]] = [
    ("addNode", (b"\x01" * 64, OPERATOR_ID, ENDPOINT)),
    ("removeNode", (keccak(b"\x01" * 64),)),
    ("updateEndpoint", (keccak(b"\x01" * 64), ENDPOINT)),
]


@pytest.mark.parametrize(("function", "args"), WRITES, ids=[f for f, _ in WRITES])
@pytest.mark.parametrize("caller", ["governor", "outsider"])
def test_only_governance_writes(
    nodes: Nodes,
    deployer: Signer,
    ledger: Ledger,
    function: str,
    args: tuple[Any, ...],
    caller: str,
) -> None:
    signer = deployer if caller == "governor" else new_signer(ledger)
    with reverts("ConsortiumUnauthorizedGovernance", signer.address):
        nodes.registry.transact(signer, function, *args)
