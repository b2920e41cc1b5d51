"""Embedded nodes in consortium mode for the tests: each with its own store and its own
etcd client, sharing one genesis; validators stand in the election, learners follow."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI, ChainAPI
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY, EmbeddedLedger
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.minter import EtcdFinality
from chain.consortium.replica import ConsortiumReplica, Role
from chain.consortium.seal import NodeKey
from chain.contract import ContractHandle
from chain.deploy import Consortium, MemberSpec, NodeSpec, deploy_consortium
from chain.embedded.finality import BlockRefused, Finality
from chain.roles import Role as MemberRole
from tests.helpers import FUNDING_WEI, new_credit_code

TTL = 2  # seconds: the shortest lease etcd grants with its default election timeout
WAIT = 60.0  # generous bound on anything that waits for blocks or an election
GENESIS_TIMESTAMP = int(time.time()) - 3600  # every node of a test network shares it


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)  # poll interval, bounded by the deadline
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def new_chain_id() -> int:
    return 10_000 + secrets.randbelow(2**31)


def new_key() -> NodeKey:
    return NodeKey(os.urandom(32))


def open_ledger(directory: Path, chain_id: int, finality: Finality | None) -> EmbeddedLedger:
    return EmbeddedLedger(
        directory,
        chain_id=chain_id,
        dev=True,
        block_time=0.01,
        genesis_timestamp=GENESIS_TIMESTAMP,
        finality=finality,
    )


@dataclass
class Network:
    """Where a test network's nodes meet: its etcd endpoints and chain, the NodeRegistry
    once deployed, the sealers allowed before it."""

    endpoints: list[str]
    chain_id: int
    bootstrap: frozenset[bytes]  # node ids
    registry: bytes | None = None


@dataclass
class Node:
    name: str
    ledger: EmbeddedLedger
    replica: ConsortiumReplica
    client: EtcdClient
    key: NodeKey | None

    @property
    def role(self) -> Role:
        return self.replica.role

    @property
    def head(self) -> int:
        return int(self.ledger.node.head.block_number)

    def close(self) -> None:
        self.replica.stop()
        self.ledger.close()
        self.client.close()


def start_node(
    directory: Path, network: Network, name: str, key: NodeKey | None, *, start: bool = True
) -> Node:
    """A validator with ``key``, or a learner without."""
    client = EtcdClient(network.endpoints)
    keys = ChainKeys(network.chain_id)
    block_log = BlockLog(client, keys)
    allow_list = AllowList(network.registry, network.bootstrap)
    finality = EtcdFinality(block_log, key, allow_list) if key is not None else None
    ledger = open_ledger(directory / name, network.chain_id, finality)
    election = Election(client, keys, f"http://{name}:8545", ttl=TTL) if key else None
    replica = ConsortiumReplica(
        ledger.node, block_log, allow_list, finality=finality, election=election
    )
    if start:
        replica.start()
    return Node(name, ledger, replica, client, key)


def faucet_transfer(ledger: EmbeddedLedger, to: str, wei: int = 1) -> bytes:
    """A signed transfer from the development faucet (raw bytes), not sent."""
    from eth_account import Account

    faucet = Account.from_key(DEV_FAUCET_KEY)
    signed = faucet.sign_transaction(
        {
            "to": to,
            "value": wei,
            "gas": 21_000,
            "nonce": ledger.get_transaction_count(faucet.address, "pending"),
            "chainId": ledger.chain_id,
            **ledger.fee_params(),
        }
    )
    return bytes(signed.raw_transaction)


class Recorder:
    """A ``Finality`` that keeps every block the node builds and lets none be final: a
    forger's way to get genuine blocks with any coinbase, to seal and append by hand."""

    def __init__(self, coinbase: bytes) -> None:
        self.coinbase = coinbase
        self.blocks: list[BlockAPI] = []

    def can_mint(self) -> bool:
        return not self.blocks  # one block at a time: the test takes it, then the next

    def finalize(self, block: BlockAPI, chain: ChainAPI) -> bytes:
        self.blocks.append(block)
        raise BlockRefused("recorded only")


def same_chain(nodes: Iterable[Node]) -> set[tuple[int, bytes, bytes]]:
    """Each node's (head, head hash, state root): one element when they agree."""
    return {
        (n.head, bytes(n.ledger.node.head.hash), bytes(n.ledger.node.head.state_root))
        for n in nodes
    }


NODE_REGISTRY_NONCE = 2  # deploy_consortium: governance, MemberRegistry, NodeRegistry


def registry_address(deployer: Signer) -> bytes:
    """Where ``deploy_consortium`` by a fresh ``deployer`` puts the NodeRegistry: known
    before it is deployed, as a network descriptor names it to every node."""
    sender = bytes.fromhex(deployer.address[2:])
    return bytes(keccak(rlp.encode([sender, NODE_REGISTRY_NONCE]))[-20:])


def deploy(minter: Node, deployer: Signer) -> Consortium:
    """The consortium's contracts in admin mode (``deployer`` governs), with the minter's
    node on the NodeRegistry allow-list."""
    minter.ledger.fund(deployer.address, FUNDING_WEI)
    operator = MemberSpec(
        name="Operator",
        credit_code=new_credit_code(),
        roles=[MemberRole.AUDITOR],
        account=deployer.address,
    )
    assert minter.key is not None
    node = NodeSpec(minter.key.public_key, f"http://{minter.name}:8545")
    consortium = deploy_consortium(minter.ledger, deployer, operator, node=node)
    assert bytes.fromhex(consortium.nodes.address[2:]) == registry_address(deployer)
    return consortium


def on(node: Node, consortium: Consortium) -> Consortium:
    """The same contracts read through ``node``."""
    handles = {
        name: ContractHandle.at(node.ledger, name, handle.address)
        for name, handle in consortium.contracts.items()
    }
    return Consortium(node.ledger, handles)
