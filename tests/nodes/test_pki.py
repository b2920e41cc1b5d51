"""The consortium PKI: the root CA, member and node certificates as specified, refusals of
foreign, expired, revoked and unregistered certificates, the CRL from chain state, and
`scf-node init` creating it all (with the operator's fingerprint on chain)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from api.services.pki_protocol import CertificateAuthority, CertificateRejected
from chain.accounts import Signer
from chain.backends import open_ledger
from chain.backends.embedded import EmbeddedLedger
from chain.credit_code import InvalidCreditCode
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.roles import Role
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.pki.ca import (
    CertificateRequestInvalid,
    ConsortiumCA,
    NodePki,
    PkiUnavailable,
    account_of,
)
from nodes.pki.home import ensure_home_pki
from tests.helpers import Member, admit_member, govern, new_credit_code, new_signer

PASSPHRASE = "pki test passphrase"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ConsortiumCA:
    return ConsortiumCA.create(
        tmp_path_factory.mktemp("home") / "pki", PASSPHRASE, "SCF Chain Consortium 8888"
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _account() -> str:
    return Signer.create().address


# ---- the root CA ----------------------------------------------------------------------------


def test_root_ca_is_a_constrained_p256_ca_for_ten_years(ca: ConsortiumCA) -> None:
    cert = ca.certificate
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "SCF Chain Consortium 8888"
    )
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=3640) < lifetime < timedelta(days=3660)
    cert.verify_directly_issued_by(cert)  # self-signed


def test_ca_key_is_encrypted_with_the_passphrase_and_private(ca: ConsortiumCA) -> None:
    key_file = ca.directory / "ca-key.pem"
    assert _mode(key_file) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    with pytest.raises(TypeError):  # no password: refused
        serialization.load_pem_private_key(key_file.read_bytes(), None)
    reopened = ConsortiumCA.open(ca.directory, PASSPHRASE)
    assert reopened.certificate == ca.certificate
    with pytest.raises(PkiUnavailable, match="wrong passphrase"):
        ConsortiumCA.open(ca.directory, "not the passphrase")


def test_create_refuses_to_replace_a_ca(ca: ConsortiumCA) -> None:
    before = ca.ca_file.read_bytes()
    with pytest.raises(PkiUnavailable, match="refusing to replace"):
        ConsortiumCA.create(ca.directory, PASSPHRASE, "Another")
    assert ca.ca_file.read_bytes() == before


def test_open_without_a_ca_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(PkiUnavailable, match=r"ca\.pem is missing"):
        ConsortiumCA.open(tmp_path, PASSPHRASE)


# ---- member certificates --------------------------------------------------------------------


def test_member_certificate_names_the_company_and_binds_its_account(ca: ConsortiumCA) -> None:
    code, account = new_credit_code(), _account()
    issued = ca.issue_member_certificate("Tier-1 Parts Ltd", code, account)
    cert = x509.load_pem_x509_certificate(issued.pem)

    cert.verify_directly_issued_by(ca.certificate)  # the CA's signature over it
    ca.verify_client(cert)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    assert issued.fingerprint == digest.finalize()
    assert len(issued.fingerprint) == 32

    def attribute(oid: x509.ObjectIdentifier) -> str:
        return str(cert.subject.get_attributes_for_oid(oid)[0].value)

    assert attribute(NameOID.ORGANIZATION_NAME) == "Tier-1 Parts Ltd"
    assert attribute(NameOID.COMMON_NAME) == "Tier-1 Parts Ltd"
    assert attribute(NameOID.ORGANIZATION_IDENTIFIER) == f"NTRCN-{code}"
    assert attribute(NameOID.COUNTRY_NAME) == "CN"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:scf:account:{account.lower()}"
    ]
    assert account_of(cert) == account.lower()
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.value.digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=365) <= lifetime <= timedelta(days=731)


def test_custodial_member_key_is_kept_encrypted_and_private(ca: ConsortiumCA) -> None:
    issued = ca.issue_member_certificate("Core Motors Group", new_credit_code(), _account())
    record = ca.directory / "issued" / f"{issued.fingerprint.hex()}.pem"
    assert record.read_bytes() == issued.pem
    key_file = ca.directory / "member-keys" / f"{issued.fingerprint.hex()}.pem"
    assert _mode(key_file) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASSPHRASE.encode())
    assert key.public_key() == issued.certificate.public_key()
    assert ca.member_private_key_pem(issued.fingerprint) == key_file.read_bytes()


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "I am the CA")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def test_a_csr_keeps_the_key_with_the_member_and_cannot_choose_the_subject(
    ca: ConsortiumCA,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.issue_member_certificate(
        "Bank of Tests", new_credit_code(), _account(), csr_pem=_csr(key)
    )
    assert issued.certificate.public_key() == key.public_key()
    assert issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Bank of Tests"
    )
    assert ca.member_private_key_pem(issued.fingerprint) is None


def test_bad_requests_are_refused_before_anything_is_issued(ca: ConsortiumCA) -> None:
    records = ca.directory / "issued"
    before = sorted(records.glob("*.pem")) if records.exists() else []
    code, account = new_credit_code(), _account()
    with pytest.raises(InvalidCreditCode):
        ca.issue_member_certificate(
            "Company", code[:-1] + ("0" if code[-1] != "0" else "1"), account
        )
    with pytest.raises(CertificateRequestInvalid, match="account"):
        ca.issue_member_certificate("Company", code, "0x1234")
    with pytest.raises(CertificateRequestInvalid, match="64 characters"):
        ca.issue_member_certificate("X" * 65, code, account)
    with pytest.raises(CertificateRequestInvalid, match="organization name"):
        ca.issue_member_certificate("   ", code, account)
    with pytest.raises(CertificateRequestInvalid, match="not a PEM CSR"):
        ca.issue_member_certificate("Company", code, account, csr_pem=b"hello")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CertificateRequestInvalid, match="2048"):
        ca.issue_member_certificate("Company", code, account, csr_pem=_csr(weak))
    forged = bytearray(
        x509.load_pem_x509_csr(_csr(ec.generate_private_key(ec.SECP256R1()))).public_bytes(
            serialization.Encoding.DER
        )
    )
    forged[-3] ^= 0x01  # inside the signature
    forged_pem = x509.load_der_x509_csr(bytes(forged)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateRequestInvalid, match="signature"):
        ca.issue_member_certificate("Company", code, account, csr_pem=forged_pem)
    after = sorted(records.glob("*.pem")) if records.exists() else []
    assert after == before


# ---- node certificates ----------------------------------------------------------------------


def test_node_certificate_serves_localhost_and_is_renewed_for_new_hosts(
    ca: ConsortiumCA,
) -> None:
    ca.issue_node_certificate()
    cert = x509.load_pem_x509_certificate(ca.node_certificate_file.read_bytes())
    cert.verify_directly_issued_by(ca.certificate)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert _mode(ca.node_key_file) == 0o600

    ca.ensure_node_certificate(("localhost", "127.0.0.1"))  # covered: kept
    assert x509.load_pem_x509_certificate(ca.node_certificate_file.read_bytes()) == cert
    ca.ensure_node_certificate(("localhost", "127.0.0.1", "10.1.2.3"))
    renewed = x509.load_pem_x509_certificate(ca.node_certificate_file.read_bytes())
    san = renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.1.2.3" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


# ---- verification ---------------------------------------------------------------------------


def test_a_certificate_of_another_ca_is_refused(ca: ConsortiumCA, tmp_path: Path) -> None:
    other = ConsortiumCA.create(tmp_path / "other", PASSPHRASE, "Impostor Consortium")
    foreign = other.issue_member_certificate("Tier-1 Parts Ltd", new_credit_code(), _account())
    with pytest.raises(CertificateRejected, match="not valid for this consortium"):
        ca.verify_client(foreign.certificate)


def test_an_expired_or_not_yet_valid_certificate_is_refused(ca: ConsortiumCA) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=800)
    expired = ca.issue_member_certificate(
        "Old Co", new_credit_code(), _account(), now=long_ago, validity=timedelta(days=30)
    )
    with pytest.raises(CertificateRejected, match="not valid"):
        ca.verify_client(expired.certificate)
    fresh = ca.issue_member_certificate("New Co", new_credit_code(), _account())
    ca.verify_client(fresh.certificate)
    with pytest.raises(CertificateRejected):
        ca.verify_client(fresh.certificate, now=datetime.now(UTC) - timedelta(days=1))


# ---- chain-bound authentication and the CRL -------------------------------------------------


@pytest.fixture(scope="module")
def chain_pki(ca: ConsortiumCA) -> Iterator[tuple[NodePki, Consortium, Signer]]:
    ledger = open_ledger("tester")
    governor = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    consortium = deploy_consortium(ledger, governor, spec)
    yield NodePki(ca, consortium), consortium, governor
    ledger.close()


def _certified_member(
    pki: NodePki, consortium: Consortium, governor: Signer, name: str
) -> tuple[Member, bytes]:
    member = admit_member(consortium, governor, [Role.SUPPLIER], name=name)
    issued = pki.issue_member_certificate(name, member.credit_code, member.address)
    _set_fingerprint(consortium, governor, member.id, issued.fingerprint)
    return member, issued.certificate.public_bytes(serialization.Encoding.DER)


def _set_fingerprint(
    consortium: Consortium, governor: Signer, member_id: int, fingerprint: bytes
) -> None:
    members = consortium.members
    govern(consortium, governor, (members, "setCertificateFingerprint", (member_id, fingerprint)))


def _crl_reasons(pki: NodePki) -> dict[int, x509.ReasonFlags]:
    crl = x509.load_der_x509_crl(pki.crl_der())
    assert crl.is_signature_valid(pki.ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.ca.certificate.subject
    return {
        entry.serial_number: entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        for entry in crl
    }


def test_the_registered_certificate_of_an_active_member_authenticates(
    chain_pki: tuple[NodePki, Consortium, Signer],
) -> None:
    pki, consortium, governor = chain_pki
    authority: CertificateAuthority = pki  # the node implements the API's protocol
    member, der = _certified_member(pki, consortium, governor, "Active Parts Ltd")
    assert authority.authenticate_client_certificate(der) == member.id
    assert x509.load_der_x509_certificate(der).serial_number not in _crl_reasons(pki)


def test_a_suspended_members_certificate_is_revoked_until_reinstated(
    chain_pki: tuple[NodePki, Consortium, Signer],
) -> None:
    pki, consortium, governor = chain_pki
    member, der = _certified_member(pki, consortium, governor, "Suspended Parts Ltd")
    serial = x509.load_der_x509_certificate(der).serial_number
    members = consortium.members
    govern(consortium, governor, (members, "suspendMember", (member.id,)))
    with pytest.raises(CertificateRejected, match="revoked"):
        pki.authenticate_client_certificate(der)
    assert _crl_reasons(pki)[serial] == x509.ReasonFlags.certificate_hold

    govern(consortium, governor, (members, "reinstateMember", (member.id,)))
    assert serial not in _crl_reasons(pki)
    assert pki.authenticate_client_certificate(der) == member.id


def test_a_replaced_certificate_is_superseded(
    chain_pki: tuple[NodePki, Consortium, Signer],
) -> None:
    pki, consortium, governor = chain_pki
    member, old_der = _certified_member(pki, consortium, governor, "Rotating Parts Ltd")
    new = pki.issue_member_certificate(member.name, member.credit_code, member.address)
    _set_fingerprint(consortium, governor, member.id, new.fingerprint)
    with pytest.raises(CertificateRejected, match="revoked"):
        pki.authenticate_client_certificate(old_der)
    reasons = _crl_reasons(pki)
    assert reasons[x509.load_der_x509_certificate(old_der).serial_number] == (
        x509.ReasonFlags.superseded
    )
    assert new.serial_number not in reasons
    new_der = new.certificate.public_bytes(serialization.Encoding.DER)
    assert pki.authenticate_client_certificate(new_der) == member.id


def test_certificates_not_registered_on_chain_authenticate_no_one(
    chain_pki: tuple[NodePki, Consortium, Signer],
) -> None:
    pki, consortium, governor = chain_pki
    # issued for an applicant whose admission has not happened
    applicant = pki.issue_member_certificate("Applicant Ltd", new_credit_code(), _account())
    with pytest.raises(CertificateRejected, match="not the one registered"):
        pki.authenticate_client_certificate(
            applicant.certificate.public_bytes(serialization.Encoding.DER)
        )
    # a member whose on-chain fingerprint is still empty
    member = admit_member(consortium, governor, [Role.SUPPLIER], name="Unregistered Ltd")
    issued = pki.issue_member_certificate(member.name, member.credit_code, member.address)
    with pytest.raises(CertificateRejected, match="not the one registered"):
        pki.authenticate_client_certificate(
            issued.certificate.public_bytes(serialization.Encoding.DER)
        )
    with pytest.raises(CertificateRejected, match="DER"):
        pki.authenticate_client_certificate(b"not a certificate")


def test_an_older_home_gets_a_pki_and_the_operator_fingerprint_on_chain(
    tmp_path: Path,
) -> None:
    ledger = open_ledger("tester")
    try:
        governor = new_signer(ledger)
        code = new_credit_code()
        consortium = deploy_consortium(
            ledger, governor, MemberSpec("Operator Ltd", code, [Role.AUDITOR], governor.address)
        )
        home = NodeHome(tmp_path)
        assert bytes(consortium.members.call("getMember", 1)[3]) == b"\0" * 32
        ca, note = ensure_home_pki(home, PASSPHRASE, 8888, consortium, governor, code)
        fingerprint = bytes(consortium.members.call("getMember", 1)[3])
        assert note is not None
        assert fingerprint.hex() in note
        assert (home.pki_dir / "issued" / f"{fingerprint.hex()}.pem").exists()
        assert ca.node_certificate_file.exists()
        der = x509.load_pem_x509_certificate(
            (home.pki_dir / "issued" / f"{fingerprint.hex()}.pem").read_bytes()
        ).public_bytes(serialization.Encoding.DER)
        assert NodePki(ca, consortium).authenticate_client_certificate(der) == 1
        # the next start opens it and changes nothing
        again, note = ensure_home_pki(home, PASSPHRASE, 8888, consortium, governor, code)
        assert note is None
        assert again.certificate == ca.certificate
    finally:
        ledger.close()


# ---- scf-node init --------------------------------------------------------------------------


def test_init_creates_the_pki_and_admits_the_operator_with_its_fingerprint(
    tmp_path: Path,
) -> None:
    home = NodeHome(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "nodes", "init", "--home", str(home.path), "--dev"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pki = home.pki_dir
    for public in ("ca.pem", "node.pem"):
        assert (pki / public).exists()
    for private in ("ca-key.pem", "node-key.pem"):
        assert _mode(pki / private) == 0o600, private
        assert b"ENCRYPTED PRIVATE KEY" in (pki / private).read_bytes()
    ca = ConsortiumCA.open(pki, DEV_PASSPHRASE)
    (record,) = list((pki / "issued").glob("*.pem"))
    operator_cert = x509.load_pem_x509_certificate(record.read_bytes())
    operator_cert.verify_directly_issued_by(ca.certificate)
    (key_file,) = list((pki / "member-keys").glob("*.pem"))
    assert _mode(key_file) == 0o600

    governor = home.read_keystore(DEV_PASSPHRASE)
    assert account_of(operator_cert) == governor.address.lower()
    ledger = EmbeddedLedger(home.chain_dir, chain_id=8888)
    try:
        consortium = Consortium.load(ledger, home.deployment)
        on_chain = bytes(consortium.members.call("getMember", 1)[3])
    finally:
        ledger.close()
    assert on_chain.hex() == record.stem
    assert on_chain == operator_cert.fingerprint(hashes.SHA256())
