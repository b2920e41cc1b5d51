"""Embedded nodes in consortium mode for the tests: each with its own store and its own
etcd client, sharing one genesis; validators stand in the election, learners follow.
Each serves its ledger JSON-RPC on loopback with a token of its own, history methods
included, as a peer of the others."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI, ChainAPI
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY, EmbeddedLedger
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election, Leadership
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.minter import EtcdFinality
from chain.consortium.peers import Peer, serve_history
from chain.consortium.replica import ConsortiumReplica, Role
from chain.consortium.retention import DEFAULT_RETAIN_BLOCKS
from chain.consortium.seal import NodeKey, encode_entry
from chain.contract import ContractHandle
from chain.deploy import Consortium, MemberSpec, NodeSpec, deploy_consortium
from chain.embedded.finality import BlockRefused, Finality, FollowOnly
from chain.embedded.http import make_server, serve_in_background
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
    server: ThreadingHTTPServer
    token: str

    @property
    def peer(self) -> Peer:
        """This node's JSON-RPC, as the other nodes reach it."""
        return Peer(f"http://127.0.0.1:{self.server.server_address[1]}", self.token)

    @property
    def role(self) -> Role:
        return self.replica.role

    @property
    def head(self) -> int:
        return int(self.ledger.node.head.block_number)

    def close(self) -> None:
        self.replica.stop()
        self.server.shutdown()
        self.server.server_close()
        self.ledger.close()
        self.client.close()


def serve(ledger: EmbeddedLedger, token: str) -> ThreadingHTTPServer:
    """The ledger's JSON-RPC on a free loopback port, behind ``token``."""
    server = make_server(ledger.handler, "127.0.0.1", 0, token=token)
    serve_in_background(server)
    return server


def start_node(
    directory: Path,
    network: Network,
    name: str,
    key: NodeKey | None,
    *,
    start: bool = True,
    peers: Iterable[Peer] = (),
    retain: int = DEFAULT_RETAIN_BLOCKS,
) -> Node:
    """A validator with ``key``, or a learner without; it fetches what etcd no longer
    keeps from ``peers``, and keeps ``retain`` blocks in etcd while it mints."""
    client = EtcdClient(network.endpoints)
    keys = ChainKeys(network.chain_id)
    block_log = BlockLog(client, keys)
    allow_list = AllowList(network.registry, network.bootstrap)
    finality = EtcdFinality(block_log, key, allow_list) if key is not None else None
    ledger = open_ledger(directory / name, network.chain_id, finality or FollowOnly())
    election = Election(client, keys, f"http://{name}:8545", ttl=TTL) if key else None
    replica = ConsortiumReplica(
        ledger.node,
        block_log,
        allow_list,
        finality=finality,
        election=election,
        peers=list(peers),
        retain=retain,
    )
    serve_history(ledger.handler)
    token = secrets.token_hex(16)
    server = serve(ledger, token)
    if start:
        replica.start()
    return Node(name, ledger, replica, client, key, server, token)


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


RECEIVER = "0x" + "11" * 20


class Forger:
    """A node on the network's genesis that builds one block at a time on its head and
    keeps it (nothing it builds is final)."""

    def __init__(self, directory: Path, chain_id: int, coinbase: bytes) -> None:
        self.recorder = Recorder(coinbase)
        self.ledger: EmbeddedLedger = open_ledger(directory, chain_id, self.recorder)

    def forge(self) -> BlockAPI:
        """A genuine next block with one faucet transfer in it."""
        recorder = self.recorder
        recorder.blocks.clear()
        self.ledger.send_raw_transaction(faucet_transfer(self.ledger, RECEIVER))
        self.ledger.node.wake_producer()
        wait_for(lambda: recorder.blocks, "the forger's block")
        return recorder.blocks[-1]

    def close(self) -> None:
        self.ledger.close()


def append(lease: tuple[BlockLog, Leadership], block: BlockAPI, key: NodeKey) -> None:
    """Seal ``block`` with ``key`` and append it by hand, holding the election ``lease``."""
    block_log, leadership = lease
    block_log.append(
        int(block.number),
        bytes(block.header.parent_hash),
        encode_entry(block, key.seal(block.hash)),
        block_hash=bytes(block.hash),
        lease=leadership.lease,
    )


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
    assert minter.key is not None
    return deploy_on(minter.ledger, minter.key, minter.name, deployer)


def deploy_on(ledger: EmbeddedLedger, key: NodeKey, name: str, deployer: Signer) -> Consortium:
    """As ``deploy``, through the minter's ``ledger``; its node key ``key``, named ``name``."""
    ledger.fund(deployer.address, FUNDING_WEI)
    operator = MemberSpec(
        name="Operator",
        credit_code=new_credit_code(),
        roles=[MemberRole.AUDITOR],
        account=deployer.address,
    )
    node = NodeSpec(key.public_key, f"http://{name}:8545")
    consortium = deploy_consortium(ledger, deployer, operator, node=node)
    assert bytes.fromhex(consortium.nodes.address[2:]) == registry_address(deployer)
    return consortium


def on(node: Node, consortium: Consortium) -> Consortium:
    """The same contracts read through ``node``."""
    handles = {
        name: ContractHandle.at(node.ledger, name, handle.address)
        for name, handle in consortium.contracts.items()
    }
    return Consortium(node.ledger, handles)
