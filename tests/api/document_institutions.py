"""Three institutions' API nodes over one ledger, each with its read model, its data key,
its node key on the NodeRegistry allow-list and a node certificate of one consortium CA;
home claims on a real etcd; each node's document endpoint on real TLS.

The ledger is shared (in a consortium every node holds the same chain); everything a node
keeps of its own (read model, data key, node key, certificate) is its own.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.readmodel.database import make_engine, session_factory
from api.services.container import services_of
from api.services.document_exchange import (
    Deliverer,
    DocumentExchange,
    EtcdHomeBoard,
    Homes,
    NodeIdentity,
    Receiver,
    certificate_fingerprint,
    sign_home_claim,
)
from api.services.document_peer import DocumentPeerServer, HttpsTransport, peer_context
from api.services.documents import DocumentVault
from chain.consortium.etcd import EtcdClient
from chain.consortium.seal import NodeKey
from nodes.consortium.certificates import node_binding, requested_node
from nodes.pki.ca import NODE_HOSTS, ConsortiumCA
from tests.api.conftest import ApiTemplate
from tests.api.databases import fresh_database
from tests.helpers import World, govern

MAX_BYTES = 1024 * 1024
PASSPHRASE = "consortium test passphrase"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class NodeFiles:
    ca: Path
    certificate: Path
    key: Path


def node_certificate(
    ca: ConsortiumCA, ca_file: Path, directory: Path, name: str, node: NodeKey | None = None
) -> NodeFiles:
    """A node's TLS key and the certificate ``ca`` signs for it from its CSR, bound to the
    node key ``node`` (default: a new one), as ``join`` and ``scf-node node certify``
    make them."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    node_key = node or NodeKey(secrets.token_bytes(32))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(node_binding(node_key, key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = ca.issue_node_request(
        request.public_bytes(serialization.Encoding.PEM),
        name,
        NODE_HOSTS,
        node=requested_node(request),
    )
    files = NodeFiles(ca_file, directory / "node.pem", directory / "node-key.pem")
    files.certificate.write_bytes(issued.pem)
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    return files


@dataclass
class Institution:
    name: str
    identity: NodeIdentity
    files: NodeFiles
    sessions: sessionmaker[Session]
    vault: DocumentVault
    client: TestClient
    port: int
    receiver: Receiver
    deliverer: Deliverer
    server: DocumentPeerServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str:
        """The SHA-256 of the node's TLS certificate, as its home claims name it."""
        return fingerprint_of(self.files)

    def serve(self) -> None:
        """Start (or start again) the node's document endpoint, on its port."""
        context = peer_context(
            self.files.ca, self.files.certificate, self.files.key, PASSPHRASE, server=True
        )
        self.server = DocumentPeerServer(self.receiver, context, "127.0.0.1", self.port, MAX_BYTES)
        self.server.start()

    def down(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.down()


def fingerprint_of(files: NodeFiles) -> str:
    pem = files.certificate.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return certificate_fingerprint(der)


def transport_of(files: NodeFiles) -> HttpsTransport:
    """What a node sends documents with: its certificate, trusting ``files.ca``."""
    return HttpsTransport(
        peer_context(files.ca, files.certificate, files.key, PASSPHRASE, server=False)
    )


@dataclass
class Consortium3:
    world: World
    institutions: dict[str, Institution]
    keys: dict[str, str]  # member name -> API key (every read model copied the template's)
    homes: Homes
    ca_file: Path
    directory: Path
    board: EtcdHomeBoard
    stack: ExitStack = field(default_factory=ExitStack)

    def __getitem__(self, name: str) -> Institution:
        return self.institutions[name]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def is_node_allowed(world: World, node: bytes) -> bool:
    return bool(world.consortium.nodes.call("isNodeAllowed", node))


def build_consortium(
    template: ApiTemplate, etcd_endpoints: list[str], directory: Path
) -> Iterator[Consortium3]:
    """Institutions A, B, C; the cast's homes: core at A, tier1 and bank at B, tier3 at C."""
    world = template.worlds.restore()
    chain_id = world.ledger.chain_id
    stack = ExitStack()
    ca = ConsortiumCA.create(directory / "ca", PASSPHRASE, "Document Consortium")
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.ca_certificate_pem())
    etcd = stack.enter_context(EtcdClient(etcd_endpoints))
    board = EtcdHomeBoard(etcd, chain_id)
    homes = Homes(board, chain_id, lambda node: is_node_allowed(world, node))
    institutions: dict[str, Institution] = {}
    for name in ("A", "B", "C"):
        identity = NodeIdentity(chain_id, NodeKey(secrets.token_bytes(32)))
        govern(
            world.consortium,
            world.governor,
            (
                world.consortium.nodes,
                "addNode",
                (identity.key.public_key, 1, f"node-{name}.example:8545"),
            ),
        )
        # the name is the certifying operator's choice (``node certify --name``)
        files = node_certificate(ca, ca_file, directory / name, f"institution-{name}", identity.key)
        (directory / f"db-{name}").mkdir()
        url = stack.enter_context(fresh_database(directory / f"db-{name}", template.database))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        sessions = session_factory(engine)
        vault = DocumentVault.open(directory / name / "documents.key")
        app = create_app(world.ledger, sessions, consortium=world.consortium, document_vault=vault)
        services_of(app).document_exchange = DocumentExchange(identity, homes)
        client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        receiver = Receiver(
            sessions, vault, identity, homes, lambda node: is_node_allowed(world, node), MAX_BYTES
        )
        deliverer = Deliverer(sessions, vault, identity, homes, transport_of(files))
        institution = Institution(
            name, identity, files, sessions, vault, client, free_port(), receiver, deliverer
        )
        institution.serve()
        stack.callback(institution.stop)
        institutions[name] = institution
    for member, name in (("core", "A"), ("tier1", "B"), ("bank", "B"), ("tier3", "C")):
        node = institutions[name]
        board.publish(
            sign_home_claim(
                getattr(world, member).signer.key,
                chain_id,
                getattr(world, member).id,
                node.identity.node_id,
                node.url,
                node.fingerprint,
            )
        )
    with stack:
        yield Consortium3(
            world, institutions, dict(template.keys), homes, ca_file, directory, board
        )
    template.worlds.restore()
