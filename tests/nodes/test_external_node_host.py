"""``init --ledger-url --node-host``: the founder's document endpoint on an external
network is reachable from other machines.

The founder's node certificate (its document endpoint's TLS, ADR 26) used to name
loopback only: another institution's node, which checks the endpoint's host against the
certificate, could reach it only on the same machine. ``--node-host`` names the hosts,
as on the etcd route (``init --consortium``). Checked with a real document endpoint
served with the founder's certificate on 127.0.0.2 (an address of this machine other
than 127.0.0.1, as another machine's address would be) and read by another node's
client of the same consortium CA.
"""

from __future__ import annotations

import secrets
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

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
from api.services.peer_homes import OwnClaims, PeerHomeBoard
from chain.consortium.seal import NodeKey
from nodes.consortium.certificates import node_certificate_files, open_consortium_ca
from nodes.consortium.descriptor import ExternalNetworkDescriptor, read_descriptor
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_port
from tests.api.document_institutions import PASSPHRASE, node_certificate
from tests.chain.anvil import anvil
from tests.nodes.test_external_join import cli
from tests.nodes.test_external_ledger import ANVIL_CHAIN_ID, ZERO_FEES

OTHER_ADDRESS = "127.0.0.2"  # this machine, but not the loopback name the default covers
NAME = "founder.example"


@dataclass(frozen=True)
class Founders:
    named: NodeHome  # init --ledger-url --node-host NAME --node-host OTHER_ADDRESS
    plain: NodeHome  # init --ledger-url, as before: loopback
    said: str  # what init said for the named one
    said_plain: str


@pytest.fixture(scope="module")
def founders(tmp_path_factory: pytest.TempPathFactory) -> Founders:
    directory = tmp_path_factory.mktemp("node-host")
    named, plain = NodeHome(directory / "named"), NodeHome(directory / "plain")
    with anvil(*ZERO_FEES) as url:
        said = cli(
            "init", "--home", str(named.path), "--ledger-url", url, "--dev",
            "--node-host", NAME, "--node-host", OTHER_ADDRESS,
        )  # fmt: skip
        said_plain = cli("init", "--home", str(plain.path), "--ledger-url", url, "--dev")
    return Founders(named, plain, said, said_plain)


def certificate_of(home: NodeHome) -> x509.Certificate:
    return x509.load_pem_x509_certificate(node_certificate_files(home).certificate.read_bytes())


def hosts_of(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return names.get_values_for_type(x509.DNSName), [
        str(ip) for ip in names.get_values_for_type(x509.IPAddress)
    ]


def test_the_founders_certificate_names_the_hosts_given(founders: Founders) -> None:
    assert hosts_of(certificate_of(founders.named)) == ([NAME], [OTHER_ADDRESS])
    assert f"Node certificate (the document endpoint's TLS) for: {NAME}, {OTHER_ADDRESS}" in (
        founders.said
    )
    # the next step init prints names an endpoint URL on the first host
    assert f"--endpoint https://{NAME}:<port> --home {founders.named.path}" in founders.said
    # without --node-host, as before: loopback
    assert hosts_of(certificate_of(founders.plain)) == (["localhost"], ["127.0.0.1", "::1"])
    assert "for: loopback only (--node-host names others)" in founders.said_plain
    assert "--endpoint <document url>" in founders.said_plain


def test_the_certificate_is_the_consortium_cas_and_the_descriptor_unchanged(
    founders: Founders,
) -> None:
    """The hosts change nothing else: the certificate is issued by the CA the descriptor
    carries, which names the network and no endpoint (an endpoint is a NodeRegistry
    entry's, ADR 26)."""
    path = founders.named.path / "network.json"
    descriptor = read_descriptor(path)
    assert isinstance(descriptor, ExternalNetworkDescriptor)
    assert descriptor.chain_id == ANVIL_CHAIN_ID
    ca = x509.load_pem_x509_certificate(descriptor.ca_certificate.encode())
    certificate_of(founders.named).verify_directly_issued_by(ca)
    text = path.read_text()
    assert NAME not in text
    assert OTHER_ADDRESS not in text


@dataclass
class Endpoint:
    """A founder's document endpoint served with its node certificate on OTHER_ADDRESS,
    publishing one home claim, and another node's TLS client of the same consortium."""

    server: DocumentPeerServer
    claim: HomeClaim
    reader: ssl.SSLContext

    @property
    def url(self) -> str:
        return f"https://{OTHER_ADDRESS}:{self.server.server_address[1]}"


Serve = Callable[[NodeHome], Endpoint]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    started: list[DocumentPeerServer] = []

    def start(home: NodeHome) -> Endpoint:
        files = node_certificate_files(home)
        context = peer_context(files.ca, files.certificate, files.key, DEV_PASSPHRASE, server=True)
        engine = make_engine(f"sqlite:///{tmp_path / f'{len(started)}.db'}")
        migrate(engine)
        identity = NodeIdentity(ANVIL_CHAIN_ID, NodeKey(secrets.token_bytes(32)))
        own = OwnClaims()
        homes = Homes(own, ANVIL_CHAIN_ID, lambda _: True)
        vault = DocumentVault.open(tmp_path / f"{len(started)}.key")
        receiver = Receiver(session_factory(engine), vault, identity, homes, lambda _: True, 1024)
        server = DocumentPeerServer(
            receiver, context, OTHER_ADDRESS, free_port(), 1024, own_claims=own
        )
        server.start()
        started.append(server)
        claim = sign_home_claim(
            secrets.token_bytes(32), ANVIL_CHAIN_ID, 1, identity.node_id, "https://x", "ab" * 32
        )
        own.publish(claim)
        # another institution's node: a certificate the founder's consortium CA signed
        ca = open_consortium_ca(home, DEV_PASSPHRASE)
        theirs = node_certificate(ca, ca.ca_file, tmp_path / "reader", "reader")
        reader = peer_context(theirs.ca, theirs.certificate, theirs.key, PASSPHRASE, server=False)
        return Endpoint(server, claim, reader)

    yield start
    for server in started:
        server.stop()


def handshake(endpoint: Endpoint, server_name: str) -> None:
    """A TLS handshake with the endpoint, checking its certificate for ``server_name``."""
    port = endpoint.server.server_address[1]
    with (
        socket.create_connection((OTHER_ADDRESS, port), timeout=10) as raw,
        endpoint.reader.wrap_socket(raw, server_hostname=server_name),
    ):
        pass


def test_another_node_reaches_the_founders_endpoint_at_a_host_given(
    founders: Founders, serve: Serve
) -> None:
    endpoint = serve(founders.named)
    board = PeerHomeBoard(OwnClaims(), lambda: [endpoint.url], endpoint.reader)
    assert board.claims(1) == [endpoint.claim]  # over TLS, the host checked: an IP address
    handshake(endpoint, NAME)  # and by its name


def test_a_loopback_certificate_is_refused_at_another_address(
    founders: Founders, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """What --node-host fixes: served elsewhere than loopback, the default certificate
    does not match the endpoint's host, and the other node gets nothing from it."""
    endpoint = serve(founders.plain)
    board = PeerHomeBoard(OwnClaims(), lambda: [endpoint.url], endpoint.reader)
    assert board.claims(1) == []
    assert f"home claims of member 1 from {endpoint.url}" in caplog.text
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(endpoint, NAME)


def test_node_host_needs_a_route_that_uses_it(tmp_path: Path) -> None:
    home = tmp_path / "single"
    said = cli("init", "--home", str(home), "--dev", "--node-host", NAME, code=2)
    assert "--node-host needs --consortium or --ledger-url" in said
    assert not home.exists()
