"""The history methods a consortium node serves its peers, and the client that asks them:
pages bounded by count, bytes and the head, behind the JSON-RPC's token; a peer that
cannot answer in shape is unavailable, never trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp  # type: ignore[import-untyped]

from chain.backends.embedded import EmbeddedLedger
from chain.consortium import peers
from chain.consortium.peers import Peer, PeerClient, PeerUnavailable, serve_history
from chain.consortium.replica import Role
from chain.consortium.seal import decode_entry, node_id
from chain.embedded.rpc import RpcError
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    WAIT,
    Network,
    Node,
    faucet_transfer,
    new_chain_id,
    new_key,
    serve,
    start_node,
    wait_for,
)

BLOCKS = 6


@pytest.fixture(scope="module")
def minter(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A validator that minted ``BLOCKS`` blocks, one transfer each, and serves them."""
    key = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    node = start_node(tmp_path_factory.mktemp("peers"), network, "minter", key)
    try:
        wait_for(lambda: node.role is Role.MINTER, "the minter")
        for _ in range(BLOCKS):
            tx_hash = node.ledger.send_raw_transaction(
                faucet_transfer(node.ledger, "0x" + "22" * 20)
            )
            node.ledger.wait_for_transaction_receipt(tx_hash, timeout=WAIT)
        assert node.head == BLOCKS
        yield node
    finally:
        node.close()


@pytest.fixture
def client(minter: Node) -> Iterator[PeerClient]:
    asking = PeerClient(minter.peer)
    yield asking
    asking.close()


def test_sealed_blocks_are_the_log_entries_of_the_nodes_blocks(
    minter: Node, client: PeerClient
) -> None:
    entries = [decode_entry(raw) for raw in client.sealed_blocks(2, 3)]
    assert [int(e.block.number) for e in entries] == [2, 3, 4]
    for entry in entries:
        assert entry.block.hash == minter.ledger.node.sealed_block(entry.block.number).block.hash
        assert entry.seal == minter.ledger.node.seal_of(bytes(entry.block.hash))
        assert entry.public_key == minter.key.public_key  # type: ignore[union-attr]


def test_headers_are_the_nodes_canonical_headers(minter: Node, client: PeerClient) -> None:
    reader = minter.ledger.node.reader
    served = client.headers(1, BLOCKS)
    assert served == [
        rlp.encode(reader.get_canonical_block_header_by_number(n))  # type: ignore[arg-type]
        for n in range(1, BLOCKS + 1)
    ]


def test_pages_stop_at_the_head_and_at_their_bounds(
    client: PeerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(client.sealed_blocks(BLOCKS - 1, 100)) == 2  # up to the head only
    assert client.sealed_blocks(BLOCKS + 1, 5) == []  # past the head: nothing
    assert client.headers(BLOCKS + 1, 5) == []
    monkeypatch.setattr(peers, "MAX_BLOCKS", 2)
    monkeypatch.setattr(peers, "MAX_HEADERS", 3)
    assert len(client.sealed_blocks(1, 5)) == 2
    assert len(client.headers(1, 5)) == 3
    monkeypatch.setattr(peers, "MAX_PAGE_BYTES", 1)  # each entry is over it: one a page
    assert len(client.sealed_blocks(1, 5)) == 1


@pytest.mark.parametrize(("first", "count"), [(0, 1), (1, 0)])
def test_a_page_from_height_0_or_of_no_block_is_refused(
    minter: Node, first: int, count: int
) -> None:
    with pytest.raises(RpcError, match="one block or more"):
        minter.ledger.handler.handle(peers.SEALED_BLOCKS_METHOD, [hex(first), hex(count)])


def test_without_the_token_the_peer_is_unavailable(minter: Node) -> None:
    asking = PeerClient(Peer(minter.peer.url, "not-the-token"))
    try:
        with pytest.raises(PeerUnavailable, match="HTTP 401"):
            asking.sealed_blocks(1, 1)
    finally:
        asking.close()


def test_a_peer_that_is_down_is_unavailable(minter: Node) -> None:
    asking = PeerClient(Peer("http://127.0.0.1:9/", None), timeout=2)  # discard port: closed
    try:
        with pytest.raises(PeerUnavailable):
            asking.headers(1, 1)
    finally:
        asking.close()


def test_an_answer_over_the_bound_is_not_read(
    client: PeerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers, "MAX_ANSWER_BYTES", 1000)
    with pytest.raises(PeerUnavailable, match="answered over 1000 B"):
        client.sealed_blocks(1, 3)


def test_a_node_without_seals_serves_no_sealed_blocks(tmp_path: Path) -> None:
    single = EmbeddedLedger(tmp_path / "single", dev=True, block_time=0.01)
    server = None
    try:
        tx_hash = single.send_raw_transaction(faucet_transfer(single, "0x" + "22" * 20))
        single.wait_for_transaction_receipt(tx_hash, timeout=WAIT)
        serve_history(single.handler)
        server = serve(single, "token")
        asking = PeerClient(Peer(f"http://127.0.0.1:{server.server_address[1]}", "token"))
        try:
            with pytest.raises(PeerUnavailable, match="block 1 has no seal on this node"):
                asking.sealed_blocks(1, 1)
            assert len(asking.headers(1, 1)) == 1  # its headers it can serve
        finally:
            asking.close()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        single.close()


def test_a_method_is_registered_once(minter: Node) -> None:
    with pytest.raises(ValueError, match="answered already"):
        serve_history(minter.ledger.handler)
    with pytest.raises(ValueError, match="answered already"):
        minter.ledger.handler.register("eth_blockNumber", lambda: "0x0")
