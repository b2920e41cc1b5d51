"""Home claims node to node, for a consortium on an external network that has no etcd
(``api.services.peer_homes``): a node serves the claims it published at its document
endpoint, over mutual TLS with the consortium PKI; a reader gets them from the other
allowed nodes, and a node that is down, or a client of another CA, gets or gives none.
Which claims hold is ``Homes``'s (tests/api/test_document_exchange.py); the whole exchange
between two institutions' processes is in tests/nodes/test_external_join.py."""

from __future__ import annotations

import http.client
import json
import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.readmodel.database import make_engine, migrate, session_factory
from api.services.document_exchange import (
    HomeClaim,
    Homes,
    NodeIdentity,
    Receiver,
    sign_home_claim,
)
from api.services.document_peer import DocumentPeerServer, peer_context
from api.services.documents import DocumentVault
from api.services.peer_homes import HOMES_PATH, OwnClaims, PeerHomeBoard, claims_answer
from chain.consortium.seal import NodeKey
from nodes.pki.ca import ConsortiumCA
from nodes.runtime.ports import free_port
from tests.api.document_institutions import PASSPHRASE, NodeFiles, node_certificate

CHAIN_ID = 4242


def client_context(files: NodeFiles) -> ssl.SSLContext:
    return peer_context(files.ca, files.certificate, files.key, PASSPHRASE, server=False)


def a_claim(member_id: int) -> HomeClaim:
    node = NodeIdentity(CHAIN_ID, NodeKey(secrets.token_bytes(32))).node_id
    fingerprint = "ab" * 32
    return sign_home_claim(
        secrets.token_bytes(32), CHAIN_ID, member_id, node, "https://b.example:8443", fingerprint
    )


class Peer:
    """A node's document endpoint serving the claims it published."""

    def __init__(self, directory: Path, ca: ConsortiumCA, *, serves_claims: bool = True) -> None:
        self.files = node_certificate(ca, ca.ca_file, directory / "server", "peer")
        self.claims = OwnClaims()
        engine = make_engine(f"sqlite:///{directory / 'scf.db'}")
        migrate(engine)
        identity = NodeIdentity(CHAIN_ID, NodeKey(secrets.token_bytes(32)))
        homes = Homes(self.claims, CHAIN_ID, lambda _: True)
        vault = DocumentVault.open(directory / "documents.key")
        receiver = Receiver(session_factory(engine), vault, identity, homes, lambda _: True, 1024)
        context = peer_context(
            self.files.ca, self.files.certificate, self.files.key, PASSPHRASE, server=True
        )
        self.port = free_port()
        self.server = DocumentPeerServer(
            receiver,
            context,
            "127.0.0.1",
            self.port,
            1024,
            own_claims=self.claims if serves_claims else None,
        )
        self.server.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ConsortiumCA:
    return ConsortiumCA.create(tmp_path_factory.mktemp("ca"), PASSPHRASE, "peer homes test")


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory, ca: ConsortiumCA) -> Iterator[Peer]:
    served = Peer(tmp_path_factory.mktemp("peer"), ca)
    yield served
    served.server.stop()


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory, ca: ConsortiumCA) -> NodeFiles:
    return node_certificate(ca, ca.ca_file, tmp_path_factory.mktemp("reader"), "reader")


def test_a_reader_gets_the_claims_each_allowed_node_serves(peer: Peer, reader: NodeFiles) -> None:
    theirs, other_member = a_claim(7), a_claim(8)
    peer.claims.publish(theirs)
    peer.claims.publish(other_member)
    own = OwnClaims()
    mine = a_claim(7)
    own.publish(mine)
    board = PeerHomeBoard(own, lambda: [peer.url], client_context(reader))
    assert board.claims(7) == [mine, theirs]  # signatures and all, as published
    assert board.claims(9) == []
    board.withdraw(7, bytes.fromhex(mine.node_id[2:]))
    assert board.claims(7) == [theirs]


def test_a_node_down_hides_its_claims_and_fails_nothing(
    peer: Peer, reader: NodeFiles, caplog: pytest.LogCaptureFixture
) -> None:
    peer.claims.publish(theirs := a_claim(11))
    down = f"https://127.0.0.1:{free_port()}"
    board = PeerHomeBoard(OwnClaims(), lambda: [down, peer.url], client_context(reader))
    assert board.claims(11) == [theirs]
    assert f"home claims of member 11 from {down}" in caplog.text


def test_a_client_of_another_ca_gets_no_claims(
    peer: Peer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = ConsortiumCA.create(tmp_path / "other-ca", PASSPHRASE, "another consortium")
    stranger = node_certificate(other, other.ca_file, tmp_path / "stranger", "stranger")
    peer.claims.publish(a_claim(12))
    board = PeerHomeBoard(OwnClaims(), lambda: [peer.url], client_context(stranger))
    assert board.claims(12) == []  # the handshake fails: the server trusts only its CA
    assert "home claims of member 12" in caplog.text


def test_the_endpoint_answers_only_a_member_id() -> None:
    own = OwnClaims()
    own.publish(claim := a_claim(3))
    status, body = claims_answer(own, f"{HOMES_PATH}3")
    assert status == 200
    assert [HomeClaim(**c) for c in body["claims"]] == [claim]
    assert claims_answer(own, f"{HOMES_PATH}3/../4")[0] == 404
    assert claims_answer(own, f"{HOMES_PATH}x")[0] == 404


def test_an_etcd_nodes_endpoint_serves_no_claims(tmp_path: Path, ca: ConsortiumCA) -> None:
    """Its claims are on etcd: the route is not there."""
    etcd_node = Peer(tmp_path, ca, serves_claims=False)
    try:
        etcd_node.claims.publish(a_claim(13))
        files = etcd_node.files
        connection = http.client.HTTPSConnection(
            "127.0.0.1", etcd_node.port, context=client_context(files), timeout=10
        )
        connection.request("GET", f"{HOMES_PATH}13")
        assert connection.getresponse().status == 404
        connection.close()
    finally:
        etcd_node.server.stop()


def test_an_etcd_members_certificate_of_the_consortium_ca_is_refused(
    peer: Peer, ca: ConsortiumCA, tmp_path: Path
) -> None:
    """The consortium CA signs etcd members' certificates too: they pass the handshake,
    name no node, and get neither claims nor a route (403 ``peer_not_a_node``)."""
    issued, key_pem = ca.issue_etcd_certificate("etcd-a")
    (tmp_path / "etcd-a.pem").write_bytes(issued.pem)
    (tmp_path / "etcd-a-key.pem").write_bytes(key_pem)
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    context.load_cert_chain(tmp_path / "etcd-a.pem", tmp_path / "etcd-a-key.pem")
    peer.claims.publish(a_claim(14))
    for method, path in (("GET", f"{HOMES_PATH}14"), ("POST", "/peer/v1/documents")):
        connection = http.client.HTTPSConnection(
            "127.0.0.1", peer.port, context=context, timeout=10
        )
        connection.request(method, path, body=b"{}" if method == "POST" else None)
        answer = connection.getresponse()
        assert (answer.status, json.loads(answer.read())["code"]) == (403, "peer_not_a_node")
        connection.close()
    board = PeerHomeBoard(OwnClaims(), lambda: [peer.url], context)
    assert board.claims(14) == []
