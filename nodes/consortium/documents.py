"""A consortium node's document exchange, started beside its API (``scf-node start``).

``node.json``'s ``consortium.documents`` turns it on: ``listen`` (``host:port`` of the
document endpoint) and ``url`` (how other institutions' nodes reach it, an ``https`` URL;
default ``https://<listen>``). The endpoint and the deliverer use the node certificate
of the consortium CA (``pki/consortium``), the node key identifies the node to the
NodeRegistry, and home claims go on the consortium's etcd (``api.services.
document_exchange``). Without the setting, or before the node has its certificate,
documents stay on this node as on a single node.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from api.services.container import services_of
from api.services.document_exchange import (
    Deliverer,
    DocumentExchange,
    EtcdHomeBoard,
    HomePublisher,
    Homes,
    NodeIdentity,
    Receiver,
    certificate_fingerprint,
)
from api.services.document_peer import DocumentPeerServer, HttpsTransport, peer_context
from api.settings import get_settings
from chain.consortium.etcd import EtcdClient
from chain.errors import ConfigurationError
from nodes.consortium.certificates import node_certificate_files
from nodes.consortium.descriptor import descriptor_of, settings_of
from nodes.consortium.stack import etcd_tls, node_key_of
from nodes.home import NodeHome

log = logging.getLogger(__name__)


def documents_setting(raw: Any) -> tuple[str, int, str]:
    """``listen`` host and port, and the advertised URL, from ``consortium.documents``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("listen"), str):
        raise ConfigurationError(
            'node.json consortium.documents is {"listen": "host:port", "url": "https://..."}'
        )
    host, _, port = raw["listen"].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"consortium.documents.listen is host:port, not {raw['listen']!r}")
    url = str(raw.get("url") or f"https://{raw['listen']}")
    if not url.startswith("https://"):
        raise ConfigurationError(f"consortium.documents.url is an https URL, not {url!r}")
    return host, int(port), url


def start_document_exchange(
    home: NodeHome, passphrase: str, app: Any, running: contextlib.ExitStack
) -> str | None:
    """Serve and deliver documents for the node's API ``app``; the advertised URL, or None
    when this node keeps documents to itself."""
    settings = settings_of(home)
    if settings is None or "documents" not in settings.extra:
        return None
    host, port, url = documents_setting(settings.extra["documents"])
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
    descriptor = descriptor_of(home)
    identity = NodeIdentity(descriptor.chain_id, node_key_of(home, passphrase))
    etcd = EtcdClient(settings.etcd, tls=etcd_tls(home, settings, passphrase))
    running.callback(etcd.close)
    board = EtcdHomeBoard(etcd, descriptor.chain_id)

    def is_node_allowed(node: bytes) -> bool:
        return bool(consortium.nodes.call("isNodeAllowed", node))

    homes = Homes(board, descriptor.chain_id, is_node_allowed)
    max_bytes = get_settings().document_max_bytes
    receiver = Receiver(services.sessions, vault, identity, homes, is_node_allowed, max_bytes)
    server = DocumentPeerServer(
        receiver,
        peer_context(files.ca, files.certificate, files.key, passphrase, server=True),
        host,
        port,
        max_bytes,
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
        HttpsTransport(
            peer_context(files.ca, files.certificate, files.key, passphrase, server=False)
        ),
        publisher=HomePublisher(board, identity, url, own_certificate, key_of),
    )
    deliverer.start()
    running.callback(deliverer.stop)
    services.document_exchange = DocumentExchange(identity, homes)
    log.info("documents: served at %s (listening on %s:%d)", url, host, port)
    return url
