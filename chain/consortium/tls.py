"""TLS between consortium nodes: mutual, with node certificates of the consortium CA.

Both sides present a node certificate the consortium CA signed (``scf-node init
--consortium`` for the founding node, ``scf-node node certify`` for the others) and trust
that CA alone: a client without a certificate, or with one from another CA, fails the
handshake. The consortium CA certifies nodes and etcd members only, never members'
clients (each institution's API has a CA of its own for those), so passing the handshake
means "a node of this consortium". Used by the node-to-node document exchange
(``api.services.document_peer``) and the history peers (``chain.consortium.peers``).
"""

from __future__ import annotations

import ssl
from pathlib import Path


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
