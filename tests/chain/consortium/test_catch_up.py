"""etcd keeps a small window of blocks (K = 5); a node further behind catches up from a
peer's JSON-RPC, checks everything against the chain the log commits to, then follows
the log. A lying peer is refused and another asked; only the committed chain halts a
node."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI
from eth.vm.forks.prague.blocks import PragueBlockHeader

from chain.accounts import Signer
from chain.consortium import peers
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient, EtcdCompacted
from chain.consortium.keys import ChainKeys
from chain.consortium.peers import Peer, serve_history
from chain.consortium.replica import Role
from chain.consortium.retention import Retention
from chain.consortium.seal import NodeKey, decode_entry, encode_entry, node_id
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import EmbeddedNode
from chain.embedded.rpc import RpcHandler, data
from chain.embedded.vm import ScfPragueVM
from chain.governance import pass_proposal
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    TTL,
    WAIT,
    Forger,
    Network,
    Node,
    append,
    deploy,
    faucet_transfer,
    new_chain_id,
    new_key,
    registry_address,
    same_chain,
    start_node,
    wait_for,
)

K = 5  # blocks etcd keeps: every test's minter retains after each block


def mint(node: Node, count: int) -> None:
    """``count`` blocks through ``node`` (the minter), one transfer each."""
    for _ in range(count):
        tx_hash = node.ledger.send_raw_transaction(faucet_transfer(node.ledger, "0x" + "44" * 20))
        node.ledger.wait_for_transaction_receipt(tx_hash, timeout=WAIT)


def block_log(node: Node) -> BlockLog:
    return node.replica.block_log


def window_trimmed(node: Node) -> bool:
    """etcd holds the minter's last K blocks and no more."""
    return block_log(node).oldest() == node.head - K + 1


@pytest.fixture
def minter(etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]) -> Node:
    """A bootstrap validator that minted 30 blocks and kept only the last K in etcd."""
    key = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    node = start_node(tmp_path, network, "minter", key, retain=K)
    nodes.append(node)
    wait_for(lambda: node.role is Role.MINTER, "the minter")
    mint(node, 30)
    wait_for(lambda: window_trimmed(node), "the minter to trim etcd's window")
    return node


def network_of(node: Node) -> Network:
    allow_list = node.replica.allow_list
    return Network(
        node.client.endpoints,
        node.replica.block_log.keys.chain_id,
        allow_list.bootstrap,
        allow_list.registry,
    )


def test_the_minter_keeps_k_blocks_in_etcd_and_compacts_the_rest(minter: Node) -> None:
    keys = block_log(minter).keys
    kept = minter.client.range(keys.blocks, keys.blocks_end).kvs
    assert [keys.height_of(kv.key) for kv in kept] == list(
        range(minter.head - K + 1, minter.head + 1)
    )
    with pytest.raises(EtcdCompacted):  # the deleted blocks are gone from etcd's history too
        minter.client.range(keys.block(1), revision=2)


def test_etcd_keeps_one_block_or_more(client: EtcdClient, keys: ChainKeys) -> None:
    log = BlockLog(client, keys)
    with pytest.raises(ValueError, match="at least one block"):
        Retention(log, 0)
    assert Retention(log, 1000).every == 100  # one deletion and compaction per 100 blocks
    assert Retention(log, 5).every == 1


def test_a_learner_beyond_the_window_catches_up_from_a_peer_then_follows_etcd(
    minter: Node, tmp_path: Path, nodes: list[Node]
) -> None:
    down = Peer("http://127.0.0.1:9/")  # nothing listens there: the next peer is asked
    learner = start_node(tmp_path, network_of(minter), "learner", None, peers=[down, minter.peer])
    nodes.append(learner)
    wait_for(lambda: learner.head == minter.head, "the learner to catch up from the peer")
    assert len(same_chain([minter, learner])) == 1
    assert learner.role is Role.LEARNER
    for number in range(1, learner.head + 1):  # it keeps the seals, to serve in its turn
        block_hash = bytes(learner.ledger.node.sealed_block(number).block.hash)
        assert learner.ledger.node.seal_of(block_hash) == minter.ledger.node.seal_of(block_hash)

    minter.server.shutdown()  # no peer any more: what follows comes from etcd
    mint(minter, 3)
    wait_for(lambda: learner.head == minter.head, "the learner to follow the log")
    assert len(same_chain([minter, learner])) == 1
    assert learner.replica.halted is None
    assert learner.replica.history is not None
    assert learner.replica.history.refused == {}  # a peer that is down lied about nothing


def test_a_verifier_down_for_longer_than_the_window_catches_up_on_restart(
    minter: Node, tmp_path: Path, nodes: list[Node]
) -> None:
    network = network_of(minter)
    key = new_key()
    verifier = start_node(tmp_path, network, "verifier", key, peers=[minter.peer])
    wait_for(lambda: verifier.head == minter.head, "the verifier to catch up")
    verifier.close()
    down_at = verifier.head
    mint(minter, 3 * K)
    wait_for(lambda: window_trimmed(minter), "the minter to trim etcd's window")
    assert block_log(minter).oldest() > down_at + 1

    verifier = start_node(tmp_path, network, "verifier", key, peers=[minter.peer])
    nodes.append(verifier)
    wait_for(lambda: verifier.head == minter.head, "the verifier to catch up again")
    assert verifier.role is Role.VERIFIER
    assert len(same_chain([minter, verifier])) == 1


def test_a_node_whose_own_chain_differs_from_the_committed_one_halts(
    minter: Node, tmp_path: Path, nodes: list[Node]
) -> None:
    """Its block 1 is another block than the log's: the peer's headers, checked down
    from the log's anchor, show that it is the node that differs."""
    assert minter.key is not None
    network = network_of(minter)
    forging = Forger(tmp_path / "learner", network.chain_id, minter.key.address)
    try:
        own = forging.forge()
        assert forging.ledger.node.import_block(own, minter.key.seal(own.hash))
    finally:
        forging.close()
    committed = minter.ledger.node.sealed_block(1).block
    assert own.hash != committed.hash

    learner = start_node(tmp_path, network, "learner", None, peers=[minter.peer])
    nodes.append(learner)
    wait_for(lambda: learner.replica.halted is not None, "the learner to halt")
    assert learner.replica.halted == (
        f"block 1: this node holds 0x{own.hash.hex()}, the chain the log commits to has "
        f"0x{committed.hash.hex()}"
    )
    assert learner.head == 1
    assert learner.replica.history is not None
    assert learner.replica.history.refused == {}  # the peer told the truth


# ---- lying peers -----------------------------------------------------------------------------
Tamper = Callable[[list[str], NodeKey], list[str]]


def _blocks(entries: list[str]) -> list[tuple[BlockAPI, bytes]]:
    decoded = []
    for entry in entries:
        block_rlp, seal = rlp.decode(bytes.fromhex(entry[2:]))
        decoded.append((rlp.decode(block_rlp, sedes=ScfPragueVM.get_block_class()), seal))
    return decoded


def _entries(blocks: list[tuple[BlockAPI, bytes]]) -> list[str]:
    return [data(encode_entry(block, seal)) for block, seal in blocks]


def without_transactions(entries: list[str], key: NodeKey) -> list[str]:
    """The headers as they are, the transactions dropped: the seal still signs the hash."""
    return _entries([(b.copy(transactions=[]), seal) for b, seal in _blocks(entries)])


def sealed_by_another_key(entries: list[str], key: NodeKey) -> list[str]:
    other = new_key()
    return _entries([(b, other.seal(b.hash)) for b, _ in _blocks(entries)])


def with_another_state_root(entries: list[str], key: NodeKey) -> list[str]:
    """A tampered header, sealed again with the genuine minter's key."""
    tampered = []
    for block, _ in _blocks(entries):
        changed = block.copy(header=block.header.copy(state_root=b"\x5a" * 32))
        tampered.append((changed, key.seal(changed.hash)))
    return _entries(tampered)


def with_a_tampered_header(headers: list[str], key: NodeKey) -> list[str]:
    changed = []
    for raw in headers:
        header = rlp.decode(bytes.fromhex(raw[2:]), sedes=PragueBlockHeader)
        changed.append(data(rlp.encode(header.copy(gas_used=header.gas_used + 1))))
    return changed


class LyingHandler(RpcHandler):
    """A node's JSON-RPC whose answers to one history method are tampered with."""

    def __init__(self, node: EmbeddedNode, method: str, tamper: Tamper, key: NodeKey) -> None:
        super().__init__(node)
        serve_history(self)
        self.method, self.tamper, self.key = method, tamper, key

    def handle(self, method: str, params: list[Any] | None) -> Any:
        answer = super().handle(method, params)
        return self.tamper(answer, self.key) if method == self.method else answer


@contextmanager
def lying_peer(node: Node, method: str, tamper: Tamper) -> Iterator[Peer]:
    assert node.key is not None
    server: ThreadingHTTPServer = make_server(
        LyingHandler(node.ledger.node, method, tamper, node.key), "127.0.0.1", 0, token="liar"
    )
    serve_in_background(server)
    try:
        yield Peer(f"http://127.0.0.1:{server.server_address[1]}", "liar")
    finally:
        server.shutdown()
        server.server_close()


LIES = {
    "a block without its transactions": (
        peers.SEALED_BLOCKS_METHOD,
        without_transactions,
        "its transactions are not the ones its header names",
    ),
    "a seal by another key": (peers.SEALED_BLOCKS_METHOD, sealed_by_another_key, "coinbase names"),
    "a tampered block sealed again": (
        peers.SEALED_BLOCKS_METHOD,
        with_another_state_root,
        "not the committed",
    ),
    "a tampered header": (
        peers.HEADERS_METHOD,
        with_a_tampered_header,
        "the chain the log commits to has",
    ),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_a_lying_peer_is_refused_and_another_peer_is_used(
    minter: Node, tmp_path: Path, nodes: list[Node], lie: str
) -> None:
    method, tamper, reason = LIES[lie]
    with lying_peer(minter, method, tamper) as liar:
        learner = start_node(
            tmp_path, network_of(minter), "learner", None, peers=[liar, minter.peer]
        )
        nodes.append(learner)
        wait_for(lambda: learner.head == minter.head, "the learner to catch up")
    assert learner.replica.halted is None
    assert len(same_chain([minter, learner])) == 1
    assert learner.replica.history is not None
    assert reason in learner.replica.history.refused[liar.url]


def test_a_lying_peer_alone_never_halts_the_node(
    minter: Node, tmp_path: Path, nodes: list[Node]
) -> None:
    later = free_port()  # where an honest peer comes up later
    honest = Peer(f"http://127.0.0.1:{later}", minter.token)
    with lying_peer(minter, peers.SEALED_BLOCKS_METHOD, without_transactions) as liar:
        learner = start_node(tmp_path, network_of(minter), "learner", None, peers=[liar, honest])
        nodes.append(learner)
        history = learner.replica.history
        assert history is not None
        wait_for(lambda: liar.url in history.refused, "the liar to be refused")
        assert learner.replica.halted is None
        assert learner.head == 0  # nothing of the lie was imported
    # the node was only waiting for a peer that serves the committed chain
    server = make_server(minter.ledger.handler, "127.0.0.1", later, token=minter.token)
    serve_in_background(server)
    try:
        wait_for(lambda: learner.head == minter.head, "the learner to catch up")
    finally:
        server.shutdown()
        server.server_close()
    assert learner.replica.halted is None
    assert len(same_chain([minter, learner])) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_validator_serving_its_own_fork_is_refused(
    minter: Node, tmp_path: Path, nodes: list[Node]
) -> None:
    """A peer holding the minter's key builds a chain of its own on the genesis: every
    block valid and sealed by an allowed node, and not the chain the log committed."""
    assert minter.key is not None
    network = network_of(minter)
    forging = Forger(tmp_path / "fork", network.chain_id, minter.key.address)
    server = None
    try:
        for _ in range(minter.head):  # as long as the committed chain
            block = forging.forge()
            assert forging.ledger.node.import_block(block, minter.key.seal(block.hash))
        serve_history(forging.ledger.handler)
        server = make_server(forging.ledger.handler, "127.0.0.1", 0)
        serve_in_background(server)
        fork = Peer(f"http://127.0.0.1:{server.server_address[1]}")
        learner = start_node(tmp_path, network, "learner", None, peers=[fork, minter.peer])
        nodes.append(learner)
        wait_for(lambda: learner.head == minter.head, "the learner to catch up")
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        forging.close()
    assert learner.replica.halted is None
    assert len(same_chain([minter, learner])) == 1
    assert learner.replica.history is not None
    assert "the chain the log commits to has" in learner.replica.history.refused[fork.url]


# ---- the committed chain itself is wrong: a real divergence -----------------------------------
def test_a_committed_block_sealed_by_a_node_not_allowed_halts_on_the_peer_path(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    """A hostile appender committed blocks sealed by a node nobody allowed; etcd then
    dropped them out of its window. A learner fetching them from the one peer that has
    them refuses the first, as it would from the log."""
    allowed, outsider = new_key(), new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(allowed.public_key)}))
    forging = Forger(tmp_path / "outsider", network.chain_id, outsider.address)
    server = None
    with EtcdClient(network.endpoints) as client:
        keys = ChainKeys(network.chain_id)
        log = BlockLog(client, keys)
        genesis = forging.ledger.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
        log.initialize(bytes(genesis.hash))
        election = Election(client, keys, "http://hostile:8545", ttl=TTL)
        lease = (log, election.campaign(timeout=WAIT))
        try:
            for _ in range(8):
                block = forging.forge()
                append(lease, block, outsider)
                assert forging.ledger.node.import_block(block, outsider.seal(block.hash))
            log.retain(3)
            assert log.oldest() == 6
            election.resign()
            serve_history(forging.ledger.handler)
            server = make_server(forging.ledger.handler, "127.0.0.1", 0)
            serve_in_background(server)
            peer = Peer(f"http://127.0.0.1:{server.server_address[1]}")
            learner = start_node(tmp_path, network, "learner", None, peers=[peer])
            nodes.append(learner)
            wait_for(lambda: learner.replica.halted is not None, "the learner to refuse block 1")
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            forging.close()
    assert learner.replica.halted == (
        f"block 1 is sealed by node 0x{node_id(outsider.public_key).hex()}, "
        "which is not on the allow-list at block 0"
    )
    assert learner.head == 0
    assert learner.role is Role.HALTED


# ---- a fourth institution joins by a committee vote ---------------------------------------
def test_a_fourth_validator_voted_in_catches_up_from_peers_and_can_mint(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a, key_b, key_c, key_d = new_key(), new_key(), new_key(), new_key()
    deployer = Signer.create()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset({node_id(key_a.public_key)}),
        registry_address(deployer),
    )
    a = start_node(tmp_path, network, "a", key_a, retain=K)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to become minter")
    consortium = deploy(a, deployer)
    b = start_node(tmp_path, network, "b", key_b, retain=K, peers=[a.peer])
    c = start_node(tmp_path, network, "c", key_c, retain=K, peers=[a.peer, b.peer])
    nodes.extend([b, c])
    for name, key in (("b", key_b), ("c", key_c), ("d", key_d)):
        pass_proposal(
            consortium.governance,
            deployer,
            [(consortium.nodes, "addNode", (key.public_key, 1, f"http://{name}:8545"))],
            f"Add node {name}",
        )
    voted_in_at = a.head
    mint(a, 2 * K)  # the vote itself is long out of etcd's window
    wait_for(lambda: window_trimmed(a), "a to trim etcd's window")
    assert block_log(a).oldest() > voted_in_at

    d = start_node(tmp_path, network, "d", key_d, retain=K, peers=[b.peer, c.peer, a.peer])
    nodes.append(d)
    wait_for(lambda: d.head >= a.head, "d to catch up from its peers")
    assert d.role is Role.VERIFIER
    assert len(same_chain([a, b, c, d])) == 1

    for node in (a, b, c):  # everybody else leaves: d takes over
        node.close()
        nodes.remove(node)
    wait_for(lambda: d.role is Role.MINTER, "d to become minter")
    tx_hash = d.ledger.send_raw_transaction(faucet_transfer(d.ledger, "0x" + "55" * 20))
    mined = d.ledger.wait_for_transaction_receipt(tx_hash, timeout=WAIT)
    block = d.ledger.node.sealed_block(mined["blockNumber"]).block
    assert bytes(block.header.coinbase) == key_d.address
    committed = decode_entry(block_log(d).read(int(block.number)).data)
    assert committed.block.hash == block.hash
    assert committed.node_id == node_id(key_d.public_key)
