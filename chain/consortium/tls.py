"""TLS between consortium nodes: mutual, with node certificates of the consortium CA.

Both sides present a node certificate the consortium CA signed (``scf-node init
--consortium`` for the founding node, ``scf-node node certify`` for the others) and trust
that CA alone: a client without a certificate, or with one from another CA, fails the
handshake. The consortium CA certifies nodes and etcd members only, never members'
clients (each institution's API has a CA of its own for those), so passing the handshake
means "a node or an etcd member of this consortium". A node's certificate names its
NodeRegistry id (keccak256 of its secp256k1 node key) as the URI
``urn:scf:node:0x<64 hex digits>`` in its SubjectAlternativeName, put there by the CA
once the request proved it holds that key; an etcd member's names none. The peer
endpoints take only a certificate that names a node (``node_of``), and ask the
NodeRegistry about that node (``chain.consortium.peer_access``). Used by the node-to-node
document exchange (``api.services.document_peer``) and the history peers
(``chain.consortium.peers``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

NODE_URI_PREFIX = "urn:scf:node:0x"
NODE_ID_BYTES = 32


def node_uri(node_id: bytes) -> str:
    """The SubjectAlternativeName URI that names node ``node_id`` in its certificate."""
    if len(node_id) != NODE_ID_BYTES:
        raise ValueError(f"a node id is {NODE_ID_BYTES} bytes, not {len(node_id)}")
    return NODE_URI_PREFIX + bytes(node_id).hex()


def node_of(certificate_der: bytes) -> bytes | None:
    """The node id a certificate names, or None (an etcd member's certificate, or one
    made before certificates named their node). Only meaningful for a certificate the
    handshake verified against the consortium CA."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return None
    found = [
        uri[len(NODE_URI_PREFIX) :]
        for uri in san.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.lower().startswith(NODE_URI_PREFIX)
    ]
    if len(found) != 1 or len(found[0]) != 2 * NODE_ID_BYTES:
        return None  # none, or more than one: it names no single node
    try:
        return bytes.fromhex(found[0])
    except ValueError:
        return None


def peer_context(
    ca: Path, certificate: Path, key: Path, passphrase: str | None, *, server: bool
) -> ssl.SSLContext:
    """TLS that trusts only the consortium CA and presents this node's certificate; a
    server's context requires the client's certificate."""
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    context = ssl.create_default_context(purpose, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate), str(key), password=passphrase)
    if server:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
