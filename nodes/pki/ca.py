"""The consortium's PKI: a root CA kept in the node home, member and node certificates, the CRL.

Layout of ``<home>/pki/`` (directory mode 0700, private keys 0600):

- ``ca.pem`` the root CA certificate; ``ca-key.pem`` its EC P-256 key, PKCS#8 encrypted with
  the keystore passphrase;
- ``node.pem`` / ``node-key.pem`` the node's TLS server certificate and its encrypted key;
- ``issued/<sha256 hex>.pem`` every member certificate the CA issued: the source of the CRL;
- ``member-keys/<sha256 hex>.pem`` the private key of a member certificate the node generated
  (custodial mode, like the members' signing keys), encrypted with the passphrase. A member
  that sends a CSR keeps its own key and nothing is stored here.

A member certificate names the company in its subject (C=CN, O and CN = the member's name,
organizationIdentifier = ``NTRCN-<unified social credit code>``, the ETSI EN 319 412-1 form
for a national trade-register number) and binds its on-chain signing account in the
SubjectAlternativeName as the URI ``urn:scf:account:0x<40 lowercase hex digits>``: a URI is
the SAN type meant for identifiers that are not host names or mail addresses. The SHA-256 of
the certificate's DER is its fingerprint, recorded on chain in ``MemberRegistry``.

Revocation follows chain state: a member certificate is on the CRL while its member is
suspended (reason certificateHold: reinstatement lifts it) or once the member's on-chain
fingerprint names another certificate (reason superseded).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from eth_utils.address import is_hex_address, to_checksum_address

from api.services.pki_protocol import CertificateRejected
from chain.consortium.tls import node_uri
from chain.credit_code import validate_credit_code
from chain.deploy import Consortium
from chain.errors import ScfError
from chain.scf import MemberStatus, get_member

log = logging.getLogger(__name__)

CA_VALIDITY = timedelta(days=3650)
MEMBER_VALIDITY = timedelta(days=730)
NODE_VALIDITY = timedelta(days=397)
NODE_RENEW_BEFORE = timedelta(days=30)
CRL_VALIDITY = timedelta(hours=1)  # nextUpdate: relying parties fetch a fresh CRL hourly
NODE_HOSTS = ("localhost", "127.0.0.1", "::1")
ACCOUNT_URI_PREFIX = "urn:scf:account:"
MAX_NAME_LENGTH = 64  # X.520 upper bound of commonName and organizationName
NO_FINGERPRINT = b"\0" * 32


class PkiUnavailable(ScfError):
    code = "pki_unavailable"
    http_status = 503


class CertificateRequestInvalid(ScfError):
    code = "certificate_request_invalid"
    http_status = 422


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the CA signed; ``fingerprint`` is the on-chain value."""

    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> bytes:
        return fingerprint_of(self.certificate)

    @property
    def serial_number(self) -> int:
        return self.certificate.serial_number


def fingerprint_of(certificate: x509.Certificate) -> bytes:
    """SHA-256 of the DER encoding: 32 bytes."""
    return certificate.fingerprint(hashes.SHA256())


def account_uri(account: str) -> str:
    return ACCOUNT_URI_PREFIX + account.lower()


def account_of(certificate: x509.Certificate) -> str | None:
    """The on-chain account the certificate binds (lower-case 0x hex), or None."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for uri in san.value.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.lower().startswith(ACCOUNT_URI_PREFIX):
            account = uri[len(ACCOUNT_URI_PREFIX) :].lower()
            return account if is_hex_address(account) else None
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write atomically, created with ``mode`` from the start (no window where a key is
    readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def _encrypted(key: ec.EllipticCurvePrivateKey, passphrase: str) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def _key_usage(*, certificate_authority: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs only; an end entity signs (TLS handshakes) only."""
    return x509.KeyUsage(
        digital_signature=not certificate_authority,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def _ski(public_key: CertificatePublicKeyTypes) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _checked_request_key(csr_pem: bytes) -> CertificatePublicKeyTypes:
    """The public key of a well-formed, self-signed CSR with a key fit for TLS client auth."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise CertificateRequestInvalid(
            "the certificate signing request is not a PEM CSR"
        ) from None
    if not csr.is_signature_valid:
        raise CertificateRequestInvalid("the CSR's signature does not match its public key")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in (
        "secp256r1",
        "secp384r1",
    ):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise CertificateRequestInvalid(
        "the CSR's key must be EC P-256, EC P-384 or RSA of at least 2048 bits"
    )


class ConsortiumCA:
    """The root CA in ``directory``: issues member and node certificates, builds CRLs."""

    def __init__(
        self,
        directory: Path,
        certificate: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        passphrase: str,
    ) -> None:
        self.directory = directory
        self.certificate = certificate
        self._key = key
        self._passphrase = passphrase

    # ---- files -------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def node_certificate_file(self) -> Path:
        return self.directory / "node.pem"

    @property
    def node_key_file(self) -> Path:
        return self.directory / "node-key.pem"

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / "ca.pem").exists()

    @classmethod
    def create(
        cls, directory: Path, passphrase: str, consortium_name: str, now: datetime | None = None
    ) -> ConsortiumCA:
        """A new root CA; refuses to replace one."""
        if (directory / "ca.pem").exists() or (directory / "ca-key.pem").exists():
            raise PkiUnavailable(f"{directory} already holds a CA; refusing to replace it")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        start = now or _now()
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, consortium_name[:MAX_NAME_LENGTH]),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{consortium_name} Root CA"[:64]),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - timedelta(minutes=5))
            .not_valid_after(start + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                _key_usage(certificate_authority=True),
                critical=True,
            )
            .add_extension(_ski(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_file(directory / "ca-key.pem", _encrypted(key, passphrase), 0o600)
        _write_file(
            directory / "ca.pem", certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )
        log.info("created the consortium root CA %s in %s", name.rfc4514_string(), directory)
        return cls(directory, certificate, key, passphrase)

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> ConsortiumCA:
        try:
            certificate = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
            key = serialization.load_pem_private_key(
                (directory / "ca-key.pem").read_bytes(), passphrase.encode()
            )
        except FileNotFoundError as exc:
            raise PkiUnavailable(
                f"no consortium CA in {directory}: {exc.filename} is missing"
            ) from None
        except ValueError:
            raise PkiUnavailable(
                f"cannot read the CA key in {directory}: wrong passphrase or a damaged file"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or (
            key.public_key() != certificate.public_key()
        ):
            raise PkiUnavailable(f"the CA key in {directory} does not match its certificate")
        return cls(directory, certificate, key, passphrase)

    @classmethod
    def open_or_create(cls, directory: Path, passphrase: str, consortium_name: str) -> ConsortiumCA:
        if cls.exists(directory):
            return cls.open(directory, passphrase)
        return cls.create(directory, passphrase, consortium_name)

    def ca_certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    # ---- issuing -------------------------------------------------------------------------

    def _builder(
        self,
        subject: x509.Name,
        public_key: CertificatePublicKeyTypes,
        start: datetime,
        validity: timedelta,
    ) -> x509.CertificateBuilder:
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - timedelta(minutes=5))  # tolerate small clock skew
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(certificate_authority=False),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .add_extension(_ski(public_key), critical=False)
        )

    def issue_member_certificate(
        self,
        name: str,
        credit_code: str,
        account: str,
        *,
        csr_pem: bytes | None = None,
        now: datetime | None = None,
        validity: timedelta = MEMBER_VALIDITY,
    ) -> IssuedCertificate:
        """A clientAuth certificate naming the company and binding ``account``.

        With ``csr_pem`` the member keeps its private key and only the CSR's public key is
        used (its subject is ignored: the CA decides what the certificate says). Without it
        the node generates the key and keeps it encrypted in ``member-keys/``.
        """
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise CertificateRequestInvalid(
                f"the organization name must have 1 to {MAX_NAME_LENGTH} characters "
                "(the X.509 limit)",
                details={"name": name},
            )
        code = validate_credit_code(credit_code)
        if not is_hex_address(account):
            raise CertificateRequestInvalid(
                "the account must be a 0x-prefixed 20-byte hex address",
                details={"account": account},
            )
        key: ec.EllipticCurvePrivateKey | None = None
        if csr_pem is not None:
            public_key = _checked_request_key(csr_pem)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{code}"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        certificate = (
            self._builder(subject, public_key, now or _now(), validity)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(account_uri(account))]),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        issued = IssuedCertificate(certificate)
        fingerprint = issued.fingerprint.hex()
        if key is not None:
            keys = self.directory / "member-keys"
            keys.mkdir(mode=0o700, exist_ok=True)
            _write_file(keys / f"{fingerprint}.pem", _encrypted(key, self._passphrase), 0o600)
        records = self.directory / "issued"
        records.mkdir(mode=0o700, exist_ok=True)
        _write_file(records / f"{fingerprint}.pem", issued.pem, 0o644)
        log.info(
            "issued member certificate %s (serial %x) for %s, account %s",
            fingerprint,
            certificate.serial_number,
            name,
            account.lower(),
        )
        return issued

    def member_private_key_pem(self, fingerprint: bytes) -> bytes | None:
        """The encrypted PEM of a custodial member key (None when the member sent a CSR)."""
        path = self.directory / "member-keys" / f"{fingerprint.hex()}.pem"
        return path.read_bytes() if path.exists() else None

    def issued_certificates(self) -> list[x509.Certificate]:
        records = self.directory / "issued"
        if not records.exists():
            return []
        return [x509.load_pem_x509_certificate(p.read_bytes()) for p in records.glob("*.pem")]

    def issue_node_certificate(
        self, hosts: Sequence[str] = NODE_HOSTS, now: datetime | None = None
    ) -> IssuedCertificate:
        """The node's serverAuth certificate for ``hosts`` (names or IP addresses), written
        with its encrypted key to ``node.pem`` / ``node-key.pem``."""
        issued, key = self._issue_host_certificate(
            hosts[0], hosts, [ExtendedKeyUsageOID.SERVER_AUTH], now
        )
        _write_file(self.node_key_file, _encrypted(key, self._passphrase), 0o600)
        _write_file(self.node_certificate_file, issued.pem, 0o644)
        log.info("issued the node certificate for %s", ", ".join(hosts))
        return issued

    def issue_etcd_certificate(
        self,
        name: str,
        hosts: Sequence[str] = NODE_HOSTS,
        now: datetime | None = None,
        *,
        node: bytes | None = None,
    ) -> tuple[IssuedCertificate, bytes]:
        """A certificate for an etcd member or client named ``name``, valid for ``hosts``:
        serverAuth and clientAuth, because etcd members dial each other with it (peer
        TLS with client certificates) and a node's etcd client authenticates with it.
        With ``node`` (a NodeRegistry node id) it is that node's certificate, naming the
        id (``chain.consortium.tls.node_uri``); without, an etcd member's, which no peer
        endpoint takes. Returns the key as unencrypted PKCS#8 PEM, since etcd cannot read
        an encrypted one: the caller writes it mode 0600."""
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        issued, key = self._issue_host_certificate(name, hosts, usages, now, node)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return issued, key_pem

    def issue_node_request(
        self,
        csr_pem: bytes,
        name: str,
        hosts: Sequence[str] = NODE_HOSTS,
        *,
        node: bytes | None = None,
    ) -> IssuedCertificate:
        """Sign another institution's consortium node certificate from its CSR (the node
        keeps its key): serverAuth and clientAuth, for etcd and node-to-node TLS. The CA
        decides the subject (``name``), the hosts and the node id it names (``node``,
        checked by the caller: ``nodes.consortium.certificates.certify``; None for an etcd
        member); the CSR gives only the key."""
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        public_key = _checked_request_key(csr_pem)
        return self._host_certificate(name, hosts, usages, public_key, None, node)

    def _issue_host_certificate(
        self,
        common_name: str,
        hosts: Sequence[str],
        usages: list[x509.ObjectIdentifier],
        now: datetime | None,
        node: bytes | None = None,
    ) -> tuple[IssuedCertificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        issued = self._host_certificate(common_name, hosts, usages, key.public_key(), now, node)
        return issued, key

    def _host_certificate(
        self,
        common_name: str,
        hosts: Sequence[str],
        usages: list[x509.ObjectIdentifier],
        public_key: CertificatePublicKeyTypes,
        now: datetime | None,
        node: bytes | None = None,
    ) -> IssuedCertificate:
        names: list[x509.GeneralName] = []
        for host in dict.fromkeys(hosts):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        if node is not None:  # what makes it a node's certificate at the peer endpoints
            names.append(x509.UniformResourceIdentifier(node_uri(node)))
        subject = x509.Name(
            [
                *self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name[:MAX_NAME_LENGTH]),
            ]
        )
        certificate = (
            self._builder(subject, public_key, now or _now(), NODE_VALIDITY)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(certificate)

    def ensure_node_certificate(self, hosts: Sequence[str] = NODE_HOSTS) -> None:
        """Keep the node certificate if it covers ``hosts`` and is not about to expire."""
        if self.node_certificate_file.exists() and self.node_key_file.exists():
            current = x509.load_pem_x509_certificate(self.node_certificate_file.read_bytes())
            san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            covered = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
            covered |= set(san.get_values_for_type(x509.DNSName))
            fresh = current.not_valid_after_utc - _now() > NODE_RENEW_BEFORE
            if fresh and all(str(_host(h)) in covered for h in hosts):
                return
        self.issue_node_certificate(hosts)

    # ---- verifying and revoking -------------------------------------------------------------

    def verify_client(self, certificate: x509.Certificate, now: datetime | None = None) -> None:
        """Chain to this CA, validity period and clientAuth usage (RFC 5280 path validation
        by ``cryptography``); raise ``CertificateRejected`` otherwise."""
        verifier = (
            PolicyBuilder()
            .store(Store([self.certificate]))
            .time(now or _now())
            .build_client_verifier()
        )
        try:
            verifier.verify(certificate, [])
        except VerificationError as exc:
            raise CertificateRejected(
                f"the client certificate is not valid for this consortium: {exc}",
                details={"serial_number": f"{certificate.serial_number:x}"},
            ) from None

    def build_crl(
        self,
        revoked: Sequence[tuple[x509.Certificate, x509.ReasonFlags]],
        now: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL signed by the CA listing ``revoked`` (expired ones are left out)."""
        at = now or _now()
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(at)
            .next_update(at + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(int(at.timestamp() * 1000)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
        )
        for certificate, reason in revoked:
            if certificate.not_valid_after_utc <= at:
                continue
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(certificate.serial_number)
                .revocation_date(at)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(self._key, hashes.SHA256())


def _host(host: str) -> str | ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return host


class MemberState(NamedTuple):
    member_id: int
    status: MemberStatus
    fingerprint: bytes


def _revocation_reason(state: MemberState | None, fingerprint: bytes) -> x509.ReasonFlags | None:
    if state is None:
        return None  # not (or no longer) bound to a member: it authenticates no one
    if state.status is MemberStatus.SUSPENDED:
        return x509.ReasonFlags.certificate_hold  # lifted if the member is reinstated
    if state.fingerprint not in (NO_FINGERPRINT, fingerprint):
        return x509.ReasonFlags.superseded
    return None


class NodePki:
    """The CA bound to chain state: what the API uses (``api.services.pki_protocol``)."""

    def __init__(self, ca: ConsortiumCA, consortium: Consortium) -> None:
        self.ca = ca
        self._consortium = consortium
        self._crl_cache: tuple[int, bytes] | None = None
        self._lock = threading.Lock()

    def ca_certificate_pem(self) -> bytes:
        return self.ca.ca_certificate_pem()

    def issue_member_certificate(
        self, name: str, credit_code: str, account: str, *, csr_pem: bytes | None = None
    ) -> IssuedCertificate:
        return self.ca.issue_member_certificate(name, credit_code, account, csr_pem=csr_pem)

    def member_state(self, account: str) -> MemberState | None:
        """The member bound to ``account`` on chain, or None."""
        members = self._consortium.members
        member_id = int(members.call("memberOf", to_checksum_address(account)))
        if member_id == 0:
            return None
        member = get_member(self._consortium, member_id)
        return MemberState(member_id, member.status, bytes(member.certificate_fingerprint))

    def revocation_reason(self, certificate: x509.Certificate) -> x509.ReasonFlags | None:
        """Why chain state revokes this member certificate, or None while it stands."""
        account = account_of(certificate)
        state = self.member_state(account) if account is not None else None
        return _revocation_reason(state, fingerprint_of(certificate))

    def crl(self, now: datetime | None = None) -> x509.CertificateRevocationList:
        revoked = []
        for certificate in self.ca.issued_certificates():
            reason = self.revocation_reason(certificate)
            if reason is not None:
                revoked.append((certificate, reason))
        return self.ca.build_crl(revoked, now)

    def crl_der(self) -> bytes:
        """The current CRL, rebuilt when the ledger has a new block."""
        head = self._consortium.ledger.block_number()
        with self._lock:
            if self._crl_cache is not None and self._crl_cache[0] == head:
                return self._crl_cache[1]
        der = self.crl().public_bytes(serialization.Encoding.DER)
        with self._lock:
            self._crl_cache = (head, der)
        return der

    def authenticate_client_certificate(self, der: bytes) -> int:
        """The active member whose on-chain fingerprint is this certificate's; the
        certificate must chain to the CA, be within its validity and not be revoked."""
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CertificateRejected("the client certificate is not valid DER") from None
        self.ca.verify_client(certificate)
        account = account_of(certificate)
        if account is None:
            raise CertificateRejected("the client certificate binds no consortium account")
        state = self.member_state(account)
        # The same rule that builds the published CRL, applied to this one certificate.
        reason = _revocation_reason(state, fingerprint_of(certificate))
        if reason is not None:
            raise CertificateRejected(
                f"the client certificate is revoked ({reason.value})",
                details={"serial_number": f"{certificate.serial_number:x}"},
            )
        if state is None or state.fingerprint != fingerprint_of(certificate):
            raise CertificateRejected(
                "the client certificate is not the one registered on chain for its account",
                details={"account": account},
            )
        if state.status is not MemberStatus.ACTIVE:
            raise CertificateRejected(f"member {state.member_id} is not active")
        return state.member_id
