"""A node's certificate from the consortium CA, by a request its founding operator signs.

Only the founding home holds the consortium CA's key, in ``<home>/consortium-ca/``
(``ca.pem``, ``ca-key.pem``), apart from ``<home>/pki/``: that is the institution's own
CA, for its API's TLS and its members' client certificates, as in every home. The
consortium CA certifies nodes and etcd members only (docs/decisions/0023). It is made
first (``scf-node node create-ca``) when etcd runs with TLS from the founding, since the
etcd members' certificates must exist before etcd starts, or by ``init --consortium``.

A joining institution's node makes its own key (encrypted with the home's passphrase)
and a certificate signing request in ``<home>/pki/consortium/``; it sends ``node.csr``
to the founding operator, who checks who asks and signs it (``scf-node node
certify``); the node installs the certificate (``scf-node node install-certificate``),
which must chain to the descriptor's CA and hold the node's key. The founding node's
own certificate is issued at ``init``. The certificate is the node's identity to etcd
(client TLS, ``consortium.etcd_tls``) and to peers (documents, history).

``<home>/pki/consortium/``: ``ca.pem`` (the descriptor's CA), ``node-key.pem``,
``node.csr``, ``node.pem``.

An etcd member's key and request (``write_etcd_request``, ``scf-node node etcd-request``)
are made on its own machine; its key stays unencrypted there, since etcd cannot read an
encrypted one; the founding operator signs the request with ``node certify`` as a node's.

A node's request binds its node key (secp256k1, its NodeRegistry identity) to its TLS
key: an extension (``NODE_BINDING_OID``) holds the node's public key and its signature,
by the node key, over the request's TLS public key. ``certify`` checks the signature and
names the node id in the certificate (``chain.consortium.tls.node_uri``); a request
without the extension (an etcd member's) gets a certificate that names no node, which
the peer endpoints refuse (docs/decisions/0023 and 0028). So only the holder of a node
key gets a certificate for that node's id, and an etcd member's certificate is never a
node's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID, ObjectIdentifier
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from nodes.pki.ca import ConsortiumCA

from chain.consortium.seal import SEAL_BYTES, NodeKey, node_id, recover_public_key
from chain.errors import ScfError
from nodes.consortium.descriptor import ExternalNetworkDescriptor, NetworkDescriptor
from nodes.home import NodeHome


class NodeCertificateInvalid(ScfError):
    code = "node_certificate_invalid"


@dataclass(frozen=True)
class NodeCertificateFiles:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def key(self) -> Path:
        return self.directory / "node-key.pem"

    @property
    def request(self) -> Path:
        return self.directory / "node.csr"

    @property
    def certificate(self) -> Path:
        return self.directory / "node.pem"


# An OID from a UUID (ITU-T X.667: the 2.25 arc needs no registration).
NODE_BINDING_OID = ObjectIdentifier("2.25.196956898814488490131558239142550450500")
_PUBLIC_KEY_BYTES = 64
_BINDING_DOMAIN = b"scf-node certificate key\0"


def _binding_digest(tls_public_key: CertificatePublicKeyTypes) -> bytes:
    spki = tls_public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bytes(keccak(_BINDING_DOMAIN + spki))


def _octet_string(content: bytes) -> bytes:
    """DER OCTET STRING of 128 to 255 bytes (the binding's size)."""
    assert 128 <= len(content) < 256
    return b"\x04\x81" + bytes([len(content)]) + content


def node_binding(
    node_key: NodeKey, tls_public_key: CertificatePublicKeyTypes
) -> x509.UnrecognizedExtension:
    """The request extension by which ``node_key`` vouches for ``tls_public_key``."""
    signature = node_key.seal(_binding_digest(tls_public_key))
    return x509.UnrecognizedExtension(
        NODE_BINDING_OID, _octet_string(node_key.public_key + signature)
    )


def requested_node(request: x509.CertificateSigningRequest) -> bytes | None:
    """The node id a request proves it holds the key of; None when it claims no node
    (an etcd member's request). ``NodeCertificateInvalid`` when the proof is wrong."""
    try:
        extension = request.extensions.get_extension_for_oid(NODE_BINDING_OID)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    size = _PUBLIC_KEY_BYTES + SEAL_BYTES
    if raw[:3] != b"\x04\x81" + bytes([size]) or len(raw) != 3 + size:
        raise NodeCertificateInvalid("the request's node key binding is malformed")
    public_key, signature = raw[3 : 3 + _PUBLIC_KEY_BYTES], raw[3 + _PUBLIC_KEY_BYTES :]
    digest = _binding_digest(request.public_key())
    if recover_public_key(signature, digest) != public_key:
        raise NodeCertificateInvalid(
            "the request's node key binding is not signed by the node key it names"
        )
    return node_id(public_key)


def node_certificate_files(home: NodeHome) -> NodeCertificateFiles:
    return NodeCertificateFiles(home.pki_dir / "consortium")


CONSORTIUM_CA_DIR = "consortium-ca"


def consortium_ca_dir(home: NodeHome) -> Path:
    """Where the founding home keeps the consortium CA."""
    return home.path / CONSORTIUM_CA_DIR


def create_consortium_ca(home: NodeHome, passphrase: str, name: str) -> ConsortiumCA:
    """The consortium CA in ``<home>/consortium-ca/``; refuses to replace one."""
    from nodes.pki.ca import ConsortiumCA

    return ConsortiumCA.create(home.path / CONSORTIUM_CA_DIR, passphrase, name)


def open_consortium_ca(home: NodeHome, passphrase: str) -> ConsortiumCA:
    from nodes.pki.ca import ConsortiumCA, PkiUnavailable

    directory = consortium_ca_dir(home)
    if not (directory / "ca.pem").exists():
        raise PkiUnavailable(
            f"{home.path} holds no consortium CA ({directory}): only the founding home does"
        )
    return ConsortiumCA.open(directory, passphrase)


def has_certificate(home: NodeHome) -> bool:
    files = node_certificate_files(home)
    return files.certificate.exists() and files.key.exists()


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


def _encrypted(key: ec.EllipticCurvePrivateKey, passphrase: str) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def write_node_request(
    home: NodeHome,
    descriptor: NetworkDescriptor | ExternalNetworkDescriptor,
    passphrase: str,
    name: str,
    node_key: NodeKey,
) -> Path:
    """The node's TLS key and CSR, bound to ``node_key`` (``node_binding``), and the
    consortium CA, from the descriptor; the CSR's path."""
    files = node_certificate_files(home)
    _write(files.ca, descriptor.ca_certificate.encode(), 0o644)
    key = ec.generate_private_key(ec.SECP256R1())
    _write(files.key, _encrypted(key, passphrase), 0o600)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]))
        .add_extension(node_binding(node_key, key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(files.request, request.public_bytes(serialization.Encoding.PEM), 0o644)
    return files.request


def write_renewal_request(home: NodeHome, passphrase: str, node_key: NodeKey) -> Path:
    """A new request for the node's TLS key as it is (``node-key.pem``), bound to
    ``node_key``: to renew the certificate before it expires, or to have one that names
    the node in place of one issued before certificates named their node. The node
    keeps serving with its current certificate until ``install`` replaces it (same key)."""
    files = node_certificate_files(home)
    if not files.key.exists():
        raise NodeCertificateInvalid(
            f"{files.key} is missing: this home never made a node certificate request"
        )
    key = serialization.load_pem_private_key(files.key.read_bytes(), passphrase.encode())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise NodeCertificateInvalid(f"{files.key} is not an EC key")
    name = f"node-{node_id(node_key.public_key).hex()[:16]}"
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(node_binding(node_key, key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(files.request, request.public_bytes(serialization.Encoding.PEM), 0o644)
    return files.request


def write_etcd_request(directory: Path, name: str) -> tuple[Path, Path]:
    """An etcd member's key (unencrypted, 0600: etcd reads it as is) and its certificate
    request, in ``directory``: ``<name>-key.pem`` and ``<name>.csr``."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_path, request_path = directory / f"{name}-key.pem", directory / f"{name}.csr"
    if key_path.exists() or request_path.exists():
        raise NodeCertificateInvalid(f"{key_path} or {request_path} exists; not replaced")
    plain = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, plain, 0o600)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]))
        .sign(key, hashes.SHA256())
    )
    _write(request_path, request.public_bytes(serialization.Encoding.PEM), 0o644)
    return key_path, request_path


def issue_own_certificate(
    home: NodeHome,
    passphrase: str,
    name: str,
    node_public_key: bytes,
    hosts: list[str] | None = None,
) -> None:
    """The founding node's certificate, issued by the consortium CA its home holds, for
    ``hosts`` (where other nodes reach its peer endpoint; default: loopback), naming the
    node of ``node_public_key`` (its home made the key: no request to check)."""
    from nodes.pki.ca import NODE_HOSTS

    ca = open_consortium_ca(home, passphrase)
    files = node_certificate_files(home)
    issued, key_pem = ca.issue_etcd_certificate(
        name, hosts or list(NODE_HOSTS), node=node_id(node_public_key)
    )
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    _write(files.ca, ca.ca_certificate_pem(), 0o644)
    _write(files.key, _encrypted(key, passphrase), 0o600)
    _write(files.certificate, issued.pem, 0o644)


def certify(
    home: NodeHome, passphrase: str, request_pem: bytes, name: str, hosts: list[str]
) -> bytes:
    """On the home holding the consortium CA: sign a node's (or an etcd member's)
    request; the certificate PEM. A node's request proves its node key
    (``requested_node``) and the certificate names that node; an etcd member's names
    none."""
    from nodes.pki.ca import NODE_HOSTS, CertificateRequestInvalid

    ca = open_consortium_ca(home, passphrase)
    try:
        request = x509.load_pem_x509_csr(request_pem)
    except ValueError:
        raise CertificateRequestInvalid(
            "the certificate signing request is not a PEM CSR"
        ) from None
    node = requested_node(request)
    return ca.issue_node_request(request_pem, name, hosts or list(NODE_HOSTS), node=node).pem


def install(home: NodeHome, passphrase: str, certificate_pem: bytes) -> x509.Certificate:
    """Keep the signed certificate once it chains to the consortium CA and holds this
    node's key; ``NodeCertificateInvalid`` otherwise."""
    files = node_certificate_files(home)
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise NodeCertificateInvalid("the file is no PEM certificate") from None
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    try:
        certificate.verify_directly_issued_by(ca)
    except Exception as exc:  # InvalidSignature, or another issuer or key type
        raise NodeCertificateInvalid(f"not issued by the consortium CA: {exc!r}") from None
    key = serialization.load_pem_private_key(files.key.read_bytes(), passphrase.encode())
    if key.public_key() != certificate.public_key():
        raise NodeCertificateInvalid("the certificate is not for this node's key (node.csr)")
    _write(files.certificate, certificate_pem, 0o644)
    return certificate
