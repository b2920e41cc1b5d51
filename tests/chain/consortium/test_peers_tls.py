"""History between institutions: the peer endpoint over mutual TLS with the consortium
CA (docs/decisions/0023, 0028). Only a certificate of the consortium CA passes the
handshake; no certificate, another CA's, or a client certificate of an institution's own
members' CA is refused; an etcd member's certificate of the consortium CA is refused at
the first request, as is a node the NodeRegistry removed, from the request after the
vote; the endpoint answers the history methods and nothing else; a node holding a
proper certificate catches up from it on blocks etcd no longer keeps."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import rlp  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization

from chain.consortium.peers import (
    HEADERS_METHOD,
    Peer,
    PeerClient,
    PeerRefusedUs,
    PeerUnavailable,
    serve_history_over_tls,
)
from chain.consortium.replica import Role
from chain.consortium.seal import NodeKey, node_id
from chain.consortium.tls import peer_context
from chain.embedded.http import serve_in_background
from nodes.pki.ca import ConsortiumCA
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    WAIT,
    Network,
    Node,
    faucet_transfer,
    new_chain_id,
    new_key,
    same_chain,
    start_node,
    wait_for,
)
from tests.helpers import new_credit_code

PASSPHRASE = "node passphrase"
K = 5  # blocks etcd keeps: the minter's window
BLOCKS = 20


@dataclass(frozen=True)
class NodeFiles:
    ca: Path
    certificate: Path
    key: Path

    def context(self, *, server: bool) -> ssl.SSLContext:
        return peer_context(self.ca, self.certificate, self.key, PASSPHRASE, server=server)


def node_files(
    ca: ConsortiumCA, directory: Path, name: str, node: NodeKey | None = None, *, etcd: bool = False
) -> NodeFiles:
    """A certificate of ``ca`` (serverAuth and clientAuth, loopback) and its key,
    encrypted as a home keeps it: node ``node``'s (default: a new node's), or with
    ``etcd`` an etcd member's, which names no node."""
    named = None if etcd else node_id((node or new_key()).public_key)
    issued, key_pem = ca.issue_etcd_certificate(name, node=named)
    key = serialization.load_pem_private_key(key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pem").write_bytes(issued.pem)
    (directory / f"{name}-key.pem").write_bytes(encrypted)
    return NodeFiles(ca.ca_file, directory / f"{name}.pem", directory / f"{name}-key.pem")


@dataclass
class TlsPeer:
    minter: Node
    url: str
    consortium: ConsortiumCA
    asking: NodeFiles  # another node of the consortium


@pytest.fixture(scope="module")
def tls_peer(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPeer]:
    """A minter that keeps K blocks in etcd, minted ``BLOCKS``, and serves its history on
    a peer endpoint with its consortium certificate."""
    directory = tmp_path_factory.mktemp("peers-tls")
    consortium = ConsortiumCA.create(directory / "consortium-ca", PASSPHRASE, "Test Consortium")
    key = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key.public_key)}))
    minter = start_node(directory, network, "minter", key, retain=K)
    server = None
    try:
        wait_for(lambda: minter.role is Role.MINTER, "the minter")
        for _ in range(BLOCKS):
            raw = faucet_transfer(minter.ledger, "0x" + "33" * 20)
            tx_hash = minter.ledger.send_raw_transaction(raw)
            minter.ledger.wait_for_transaction_receipt(tx_hash, timeout=WAIT)
        serving = node_files(consortium, directory / "minter-pki", "minter")
        server = serve_history_over_tls(
            minter.ledger.node,
            serving.context(server=True),
            "127.0.0.1",
            0,
            minter.replica.allow_list,
        )
        serve_in_background(server)
        url = f"https://127.0.0.1:{server.server_address[1]}"
        asking = node_files(consortium, directory / "asking-pki", "asking")
        yield TlsPeer(minter, url, consortium, asking)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        minter.close()


def test_a_node_of_the_consortium_reads_the_history(tls_peer: TlsPeer) -> None:
    client = PeerClient(Peer(tls_peer.url, context=tls_peer.asking.context(server=False)))
    try:
        headers = client.headers(1, 3)
    finally:
        client.close()
    node = tls_peer.minter.ledger.node
    expected = [node.reader.get_canonical_block_header_by_number(n) for n in (1, 2, 3)]  # type: ignore[arg-type]
    assert headers == [rlp.encode(header) for header in expected]


def _asks_headers(url: str, context: ssl.SSLContext) -> None:
    client = PeerClient(Peer(url, context=context), timeout=5)
    try:
        client.headers(1, 1)
    finally:
        client.close()


def test_a_client_without_a_certificate_is_refused(tls_peer: TlsPeer) -> None:
    bare = ssl.create_default_context(cafile=str(tls_peer.consortium.ca_file))
    with pytest.raises(PeerUnavailable):
        _asks_headers(tls_peer.url, bare)
    with pytest.raises(PeerUnavailable):  # no TLS at all
        PeerClient(Peer(tls_peer.url.replace("https", "http")), timeout=5).headers(1, 1)


def test_a_certificate_of_another_ca_is_refused(tls_peer: TlsPeer, tmp_path: Path) -> None:
    stranger_ca = ConsortiumCA.create(tmp_path / "other", PASSPHRASE, "Other Consortium")
    stranger = node_files(stranger_ca, tmp_path / "stranger", "stranger")
    # it trusts the consortium's CA to reach the server: only its own certificate is wrong
    context = peer_context(
        tls_peer.consortium.ca_file, stranger.certificate, stranger.key, PASSPHRASE, server=False
    )
    with pytest.raises(PeerUnavailable):
        _asks_headers(tls_peer.url, context)


def test_a_members_client_certificate_of_an_institution_is_refused(
    tls_peer: TlsPeer, tmp_path: Path
) -> None:
    """An institution's API issues its members' client certificates from a CA of its own,
    never the consortium's: a member's certificate does not open the peer endpoint."""
    institution = ConsortiumCA.create(tmp_path / "pki", PASSPHRASE, "Bank of SCF Consortium 1")
    issued = institution.issue_member_certificate(
        "Supplier Co", new_credit_code(), "0x" + "11" * 20
    )
    fingerprint = issued.fingerprint.hex()
    certificate = tmp_path / "member.pem"
    certificate.write_bytes(issued.pem)
    key = tmp_path / "pki" / "member-keys" / f"{fingerprint}.pem"
    context = peer_context(tls_peer.consortium.ca_file, certificate, key, PASSPHRASE, server=False)
    with pytest.raises(PeerUnavailable):
        _asks_headers(tls_peer.url, context)


def test_the_peer_endpoint_answers_the_history_methods_only(tls_peer: TlsPeer) -> None:
    context = tls_peer.asking.context(server=False)
    with httpx.Client(verify=context, timeout=5) as http:
        for method in ("eth_blockNumber", "eth_call", "scf_forwardTransactions"):
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
            answer = http.post(tls_peer.url, json=body).json()
            assert answer["error"]["code"] == -32601, answer
        body = {"jsonrpc": "2.0", "id": 1, "method": HEADERS_METHOD, "params": ["0x1"]}
        assert http.post(tls_peer.url, json=body).json()["error"]["code"] == -32602


def test_a_node_with_a_proper_certificate_catches_up_from_the_peer(
    tls_peer: TlsPeer, tmp_path: Path, nodes: list[Node]
) -> None:
    minter = tls_peer.minter
    assert minter.replica.block_log.oldest() > 1  # the early blocks are only with peers
    allow_list = minter.replica.allow_list
    network = Network(
        minter.client.endpoints,
        minter.replica.block_log.keys.chain_id,
        allow_list.bootstrap,
        allow_list.registry,
    )
    peer = Peer(tls_peer.url, context=tls_peer.asking.context(server=False))
    learner = start_node(tmp_path, network, "learner", None, peers=[peer])
    nodes.append(learner)
    wait_for(lambda: learner.head == minter.head, "the learner to catch up over mutual TLS")
    assert len(same_chain([minter, learner])) == 1
    assert learner.replica.halted is None


def test_an_etcd_members_certificate_of_the_consortium_ca_is_refused(
    tls_peer: TlsPeer, tmp_path: Path
) -> None:
    """The consortium CA signs etcd members' certificates too, with clientAuth: they pass
    the handshake, and name no node, so the first request is answered 403."""
    etcd_member = node_files(tls_peer.consortium, tmp_path / "etcd", "etcd-a", etcd=True)
    with pytest.raises(PeerRefusedUs, match="peer_not_a_node"):
        _asks_headers(tls_peer.url, etcd_member.context(server=False))
    with httpx.Client(verify=etcd_member.context(server=False), timeout=5) as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": HEADERS_METHOD, "params": ["0x1", "0x1"]}
        answer = http.post(tls_peer.url, json=body)
    assert answer.status_code == 403
    assert answer.json()["error"]["data"] == {"code": "peer_not_a_node"}
    assert "result" not in answer.json()
