"""A joining node's certificate from the consortium CA, by the CSR its founding operator
signs (``scf-node node certify`` / ``install-certificate``), and the node's etcd client
authenticating with it to an etcd that requires client certificates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chain.consortium.etcd import EtcdClient
from chain.consortium.seal import NodeKey, node_id
from chain.consortium.tls import node_of
from nodes.consortium.certificates import (
    NodeCertificateInvalid,
    certify,
    create_consortium_ca,
    install,
    node_binding,
    node_certificate_files,
    write_etcd_request,
    write_node_request,
    write_renewal_request,
)
from nodes.consortium.descriptor import ConsortiumSettings, NetworkDescriptor
from nodes.consortium.stack import etcd_tls
from nodes.home import NodeHome
from nodes.pki.ca import CertificateRequestInvalid, ConsortiumCA, PkiUnavailable
from tests.chain.consortium.etcd_cluster import EtcdCluster, ServerTls

FOUNDER_PASSPHRASE = "founder passphrase"
BANK_PASSPHRASE = "bank passphrase"


def _descriptor(ca: ConsortiumCA) -> NetworkDescriptor:
    return NetworkDescriptor(
        chain_id=7,
        genesis_timestamp=0,
        genesis_hash="0x" + "00" * 32,
        dev=True,
        contracts={"NodeRegistry": "0x" + "11" * 20},
        ca_certificate=ca.ca_certificate_pem().decode(),
        etcd_endpoints=["http://127.0.0.1:2379"],
        bootstrap_nodes=[],
    )


@pytest.fixture
def founder(tmp_path: Path) -> tuple[NodeHome, ConsortiumCA]:
    home = NodeHome(tmp_path / "founder")
    return home, create_consortium_ca(home, FOUNDER_PASSPHRASE, "Test Consortium")


def _joined(
    tmp_path: Path, name: str, ca: ConsortiumCA, node_key: NodeKey | None = None
) -> tuple[NodeHome, bytes]:
    home = NodeHome(tmp_path / name)
    key = node_key or NodeKey(os.urandom(32))
    request = write_node_request(home, _descriptor(ca), BANK_PASSPHRASE, name, key)
    return home, request.read_bytes()


def test_a_signed_request_authenticates_the_node_to_etcd(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    founding, ca = founder
    bank, request = _joined(tmp_path, "bank", ca)
    signed = certify(founding, FOUNDER_PASSPHRASE, request, "bank", ["127.0.0.1", "localhost"])
    installed = install(bank, BANK_PASSPHRASE, signed)
    assert "CN=bank" in installed.subject.rfc4514_string()
    files = node_certificate_files(bank)
    assert files.key.stat().st_mode & 0o077 == 0  # the node key is the node's alone
    with pytest.raises(TypeError):  # and encrypted with the home's passphrase
        serialization.load_pem_private_key(files.key.read_bytes(), None)

    server, server_key = ca.issue_etcd_certificate("etcd", ("localhost", "127.0.0.1"))
    (tmp_path / "etcd.pem").write_bytes(server.pem)
    (tmp_path / "etcd-key.pem").write_bytes(server_key)
    (tmp_path / "etcd-key.pem").chmod(0o600)
    settings = ConsortiumSettings(["https://127.0.0.1:2379"], etcd_tls=True)
    client_tls = etcd_tls(bank, settings, BANK_PASSPHRASE)
    assert client_tls is not None
    server_tls = ServerTls(ca.ca_file, tmp_path / "etcd.pem", tmp_path / "etcd-key.pem")
    cluster = EtcdCluster(1, tmp_path / "etcd", tls=server_tls, client_tls=client_tls)
    try:
        with EtcdClient(cluster.endpoints, tls=client_tls) as client:
            client.put(b"/scf/test", b"bank")
            found = client.get(b"/scf/test")
            assert found is not None
            assert found.value == b"bank"
    finally:
        cluster.stop()
    assert etcd_tls(bank, ConsortiumSettings(["http://127.0.0.1:1"]), BANK_PASSPHRASE) is None


def test_a_certificate_is_installed_only_from_the_consortium_ca_for_this_node(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    founding, ca = founder
    bank, _ = _joined(tmp_path, "bank", ca)
    _, other_request = _joined(tmp_path, "other-node", ca)
    for_another_key = certify(founding, FOUNDER_PASSPHRASE, other_request, "bank", [])
    with pytest.raises(NodeCertificateInvalid, match="this node's key"):
        install(bank, BANK_PASSPHRASE, for_another_key)
    rogue = ConsortiumCA.create(tmp_path / "rogue", FOUNDER_PASSPHRASE, "Rogue Consortium")
    _, own_request = _joined(tmp_path, "bank-again", ca)
    from_rogue = rogue.issue_node_request(own_request, "bank")
    with pytest.raises(NodeCertificateInvalid, match="not issued by the consortium CA"):
        install(bank, BANK_PASSPHRASE, from_rogue.pem)
    with pytest.raises(NodeCertificateInvalid, match="no PEM certificate"):
        install(bank, BANK_PASSPHRASE, b"not a certificate")
    assert not node_certificate_files(bank).certificate.exists()
    with pytest.raises(CertificateRequestInvalid):
        certify(founding, FOUNDER_PASSPHRASE, b"not a request", "bank", [])


def test_only_the_home_holding_the_consortium_ca_certifies(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    """A joined home's own CA (``pki/``, its members') never signs a node's request."""
    _, ca = founder
    bank, request = _joined(tmp_path, "bank", ca)
    ConsortiumCA.create(bank.pki_dir, BANK_PASSPHRASE, "Bank of Test Consortium")
    with pytest.raises(PkiUnavailable, match="only the founding home"):
        certify(bank, BANK_PASSPHRASE, request, "other", [])


def test_an_etcd_members_request_is_signed_for_server_and_peer_tls(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    founding, ca = founder
    key_file, request_file = write_etcd_request(tmp_path / "etcd-b", "etcd-b")
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)  # etcd reads it as is
    request = request_file.read_bytes()
    signed = certify(founding, FOUNDER_PASSPHRASE, request, "etcd-b", ["10.0.0.2"])
    certificate = x509.load_pem_x509_certificate(signed)
    assert certificate.public_key() == key.public_key()
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.2"]
    ca.verify_client(certificate)
    with pytest.raises(NodeCertificateInvalid, match="not replaced"):
        write_etcd_request(tmp_path / "etcd-b", "etcd-b")  # the key is never overwritten


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def test_a_nodes_certificate_names_the_node_whose_key_made_the_request(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    """What the peer endpoints hold a client to: the NodeRegistry id of the node key that
    vouched for the request's TLS key; an etcd member's certificate names no node."""
    founding, ca = founder
    node_key = NodeKey(os.urandom(32))
    _, request = _joined(tmp_path, "bank", ca, node_key)
    signed = certify(founding, FOUNDER_PASSPHRASE, request, "bank", [])
    assert node_of(_der(signed)) == node_id(node_key.public_key)
    _, etcd_request = write_etcd_request(tmp_path / "etcd-a", "etcd-a")
    etcd_signed = certify(founding, FOUNDER_PASSPHRASE, etcd_request.read_bytes(), "etcd-a", [])
    assert node_of(_der(etcd_signed)) is None


def test_a_request_whose_node_key_vouched_for_another_tls_key_is_not_signed(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    """A binding copied from another request (the node key signed another TLS key) does
    not get a certificate for that node."""
    founding, _ = founder
    node_key = NodeKey(os.urandom(32))
    vouched_for = ec.generate_private_key(ec.SECP256R1()).public_key()
    own = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "thief")]))
        .add_extension(node_binding(node_key, vouched_for), critical=False)
        .sign(own, hashes.SHA256())
    )
    pem = request.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(NodeCertificateInvalid, match="not signed by the node key"):
        certify(founding, FOUNDER_PASSPHRASE, pem, "thief", [])


def test_a_renewal_request_keeps_the_tls_key_and_names_the_node(
    tmp_path: Path, founder: tuple[NodeHome, ConsortiumCA]
) -> None:
    """A node whose certificate names no node (issued before they did) gets one that
    does, for the key it already serves with: installed over the old one."""
    founding, ca = founder
    node_key = NodeKey(os.urandom(32))
    bank, _ = _joined(tmp_path, "bank", ca, node_key)
    files = node_certificate_files(bank)
    tls_key = serialization.load_pem_private_key(files.key.read_bytes(), BANK_PASSPHRASE.encode())
    old, _ = ca.issue_etcd_certificate("bank")  # names no node, for another key
    files.certificate.write_bytes(old.pem)
    request = write_renewal_request(bank, BANK_PASSPHRASE, node_key).read_bytes()
    signed = certify(founding, FOUNDER_PASSPHRASE, request, "bank", [])
    installed = install(bank, BANK_PASSPHRASE, signed)
    assert installed.public_key() == tls_key.public_key()
    assert node_of(_der(files.certificate.read_bytes())) == node_id(node_key.public_key)
    with pytest.raises(NodeCertificateInvalid, match="never made"):
        write_renewal_request(NodeHome(tmp_path / "empty"), BANK_PASSPHRASE, node_key)
