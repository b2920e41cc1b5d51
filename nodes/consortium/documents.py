"""A consortium node's document exchange, started beside its API (``scf-node start``).

``node.json``'s ``consortium.documents`` turns it on: ``listen`` (``host:port`` of the
document endpoint) and ``url`` (how other institutions' nodes reach it, an ``https`` URL;
default ``https://<listen>``). The endpoint and the deliverer use the node certificate
of the consortium CA (``pki/consortium``), the node key identifies the node to the
NodeRegistry, and home claims go on the consortium's etcd (``api.services.
document_exchange``). Without the setting, or before the node has its certificate,
documents stay on this node as on a single node.

A node on an external JSON-RPC network has no etcd: ``node.json``'s ``documents`` (same
fields) turns its exchange on, it serves the claims it publishes at its document
endpoint and reads the others' from the document URL each allowed node's NodeRegistry
entry names (``api.services.peer_homes``); the rest is the same.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from api.services.container import services_of
from api.services.document_exchange import (
    Deliverer,
    DocumentExchange,
    EtcdHomeBoard,
    HomeBoard,
    HomePublisher,
    Homes,
    NodeIdentity,
    Receiver,
    certificate_fingerprint,
)
from api.services.document_peer import DocumentPeerServer, HttpsTransport, peer_context
from api.services.peer_homes import OwnClaims, PeerHomeBoard
from api.settings import get_settings
from chain.consortium.etcd import EtcdClient
from chain.deploy import Consortium
from chain.errors import ConfigurationError
from nodes.consortium.certificates import node_certificate_files
from nodes.consortium.descriptor import descriptor_of, settings_of
from nodes.consortium.stack import etcd_tls, node_key_of
from nodes.home import NodeHome

log = logging.getLogger(__name__)


def documents_setting(raw: Any, where: str = "consortium.documents") -> tuple[str, int, str]:
    """``listen`` host and port, and the advertised URL, from ``node.json``'s ``where``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("listen"), str):
        raise ConfigurationError(
            f'node.json {where} is {{"listen": "host:port", "url": "https://..."}}'
        )
    host, _, port = raw["listen"].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"{where}.listen is host:port, not {raw['listen']!r}")
    url = str(raw.get("url") or f"https://{raw['listen']}")
    if not url.startswith("https://"):
        raise ConfigurationError(f"{where}.url is an https URL, not {url!r}")
    return host, int(port), url


def start_document_exchange(
    home: NodeHome, passphrase: str, app: Any, running: contextlib.ExitStack
) -> str | None:
    """Serve and deliver documents for the node's API ``app`` (an etcd consortium's node,
    home claims on etcd); the advertised URL, or None when this node keeps documents to
    itself."""
    settings = settings_of(home)
    if settings is None or "documents" not in settings.extra:
        return None
    descriptor = descriptor_of(home)

    def on_etcd(consortium: Consortium, own: bytes, client: ssl.SSLContext) -> Boards:
        etcd = EtcdClient(settings.etcd, tls=etcd_tls(home, settings, passphrase))
        running.callback(etcd.close)
        board = EtcdHomeBoard(etcd, descriptor.chain_id)
        return board, board, None

    served = documents_setting(settings.extra["documents"])
    return _exchange(home, passphrase, app, running, served, descriptor.chain_id, on_etcd)


def start_external_document_exchange(
    home: NodeHome, passphrase: str, app: Any, running: contextlib.ExitStack
) -> str | None:
    """The same for a node on an external JSON-RPC network (``node.json``'s ``documents``,
    beside ``ledger_url``): home claims served node to node (``api.services.peer_homes``),
    the other nodes' document URLs read from their NodeRegistry entries."""
    settings = home.read_settings()
    if "documents" not in settings:
        return None
    if not home.node_keystore.exists():
        log.warning(
            "no node key in %s (a home made before external networks' nodes had one): "
            "documents stay on this node",
            home.node_keystore,
        )
        return None

    def from_peers(consortium: Consortium, own: bytes, client: ssl.SSLContext) -> Boards:
        claims = OwnClaims()
        board = PeerHomeBoard(claims, lambda: registry_document_urls(consortium, own), client)
        return board, claims, claims

    served = documents_setting(settings["documents"], "documents")
    chain_id = int(settings["chain_id"])
    return _exchange(home, passphrase, app, running, served, chain_id, from_peers)


# where claims are read, where this node publishes its own, and what it serves to peers
Boards = tuple[HomeBoard, HomeBoard, OwnClaims | None]


def registry_document_urls(consortium: Consortium, own: bytes) -> list[str]:
    """The document URL of every other node the NodeRegistry allows (its entry's
    endpoint, on an external network)."""
    registry = consortium.nodes
    urls = []
    for raw_id in registry.call("nodeIds"):
        found = registry.call_struct("getNode", raw_id)
        endpoint = str(found["endpoint"])
        if found["allowed"] and bytes(raw_id) != own and endpoint.startswith("https://"):
            urls.append(endpoint)
    return urls


def _exchange(
    home: NodeHome,
    passphrase: str,
    app: Any,
    running: contextlib.ExitStack,
    served: tuple[str, int, str],  # listen host and port, advertised URL
    chain_id: int,
    boards: Callable[[Consortium, bytes, ssl.SSLContext], Boards],
) -> str | None:
    host, port, url = served
    files = node_certificate_files(home)
    if not files.certificate.exists():
        log.warning(
            "no node certificate in %s yet (scf-node node install-certificate): documents "
            "stay on this node",
            files.directory,
        )
        return None
    own_certificate = certificate_fingerprint(
        x509.load_pem_x509_certificate(files.certificate.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    services = services_of(app)
    consortium, vault = services.consortium, services.document_vault
    if consortium is None or vault is None or services.writer is None:
        return None
    identity = NodeIdentity(chain_id, node_key_of(home, passphrase))
    client = peer_context(files.ca, files.certificate, files.key, passphrase, server=False)
    board, own_board, shared = boards(consortium, identity.node_id, client)

    def is_node_allowed(node: bytes) -> bool:
        return bool(consortium.nodes.call("isNodeAllowed", node))

    homes = Homes(board, chain_id, is_node_allowed)
    max_bytes = get_settings().document_max_bytes
    receiver = Receiver(services.sessions, vault, identity, homes, is_node_allowed, max_bytes)
    server = DocumentPeerServer(
        receiver,
        peer_context(files.ca, files.certificate, files.key, passphrase, server=True),
        host,
        port,
        max_bytes,
        own_claims=shared,
    )
    server.start()
    running.callback(server.stop)
    custody = services.writer.custody

    def key_of(address: str) -> bytes | None:
        signer = custody.signer(address)
        return None if signer is None else signer.key

    deliverer = Deliverer(
        services.sessions,
        vault,
        identity,
        homes,
        HttpsTransport(client),
        publisher=HomePublisher(own_board, identity, url, own_certificate, key_of),
    )
    deliverer.start()
    running.callback(deliverer.stop)
    services.document_exchange = DocumentExchange(identity, homes)
    log.info("documents: served at %s (listening on %s:%d)", url, host, port)
    return url
