"""Mutual TLS over a real uvicorn HTTPS server: a member's registered certificate logs in as
that member; no certificate leaves API keys in charge; foreign, expired, revoked and
unregistered certificates are refused; the CA and the CRL are published."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.readmodel.models import OperationRow
from api.services.container import services_of
from api.services.mtls import uvicorn_tls_options, with_tls_extension
from nodes.pki.ca import ConsortiumCA, IssuedCertificate, NodePki
from nodes.runtime.ports import free_port as _free_port
from tests.api.conftest import ApiWorld
from tests.api.writes import invoice_body, wait_for
from tests.helpers import Member, govern, new_credit_code

PASSPHRASE = "mtls test passphrase"


@dataclass
class TlsNode:
    api: ApiWorld
    ca: ConsortiumCA
    base_url: str
    certs: Path

    def client_files(self, member: Member, issued: IssuedCertificate, label: str) -> Path:
        """Write a member's certificate and its (custodial, encrypted) key as one PEM."""
        key = self.ca.member_private_key_pem(issued.fingerprint)
        assert key is not None
        path = self.certs / f"{label}.pem"
        path.write_bytes(issued.pem + key)
        return path

    def client(self, cert_file: Path | None = None, **kwargs: Any) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca.ca_file))
        if cert_file is not None:
            context.load_cert_chain(cert_file, password=PASSPHRASE)
        return httpx.Client(base_url=self.base_url, verify=context, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def tls_node(api_world: ApiWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    home = tmp_path_factory.mktemp("tls-home")
    ca = ConsortiumCA.create(home / "pki", PASSPHRASE, "SCF Chain Consortium Test")
    ca.issue_node_certificate()
    app = api_world.client.app
    services_of(app).certificate_authority = NodePki(ca, api_world.world.consortium)
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        **uvicorn_tls_options(ca.node_certificate_file, ca.node_key_file, PASSPHRASE, ca.ca_file),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tls-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the HTTPS server did not start"
        assert time.monotonic() < deadline, "the HTTPS server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield TlsNode(api_world, ca, f"https://127.0.0.1:{port}", home)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _registered(node: TlsNode, member: Member) -> Path:
    """Issue the member's certificate, record its fingerprint on chain, write client files."""
    issued = node.ca.issue_member_certificate(member.name, member.credit_code, member.address)
    consortium, governor = node.api.world.consortium, node.api.world.governor
    members = consortium.members
    govern(
        consortium,
        governor,
        (members, "setCertificateFingerprint", (member.id, issued.fingerprint)),
    )
    return node.client_files(member, issued, f"member-{member.id}")


def _error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_registered_certificate_logs_in_as_its_member(tls_node: TlsNode) -> None:
    tier1 = tls_node.api.world.tier1
    cert_file = _registered(tls_node, tier1)
    with tls_node.client(cert_file) as client:
        me = client.get("/v1/members/me")
        assert me.status_code == 200, me.text
        assert me.json()["id"] == tier1.id
        assert tier1.address in me.json()["accounts"]
        # the same certificate with the member's own API key agrees
        both = client.get("/v1/members/me", headers=tls_node.api.auth("tier1"))
        assert both.status_code == 200
        assert both.json()["id"] == tier1.id
        # with another member's API key it does not
        clash = client.get("/v1/members/me", headers=tls_node.api.auth("core"))
        assert clash.status_code == 401
        assert "different members" in clash.json()["error"]["message"]


def test_without_a_certificate_api_keys_still_work_and_nothing_else_does(
    tls_node: TlsNode,
) -> None:
    with tls_node.client() as client:
        anonymous = client.get("/v1/members/me")
        assert anonymous.status_code == 401
        assert _error_code(anonymous) == "unauthenticated"
        keyed = client.get("/v1/members/me", headers=tls_node.api.auth("core"))
        assert keyed.status_code == 200
        assert keyed.json()["id"] == tls_node.api.world.core.id


def test_a_certificate_of_another_ca_never_gets_a_connection(
    tls_node: TlsNode, tmp_path: Path
) -> None:
    impostor = ConsortiumCA.create(tmp_path / "impostor", PASSPHRASE, "Impostor Consortium")
    tier2 = tls_node.api.world.tier2
    issued = impostor.issue_member_certificate(tier2.name, tier2.credit_code, tier2.address)
    key = impostor.member_private_key_pem(issued.fingerprint)
    assert key is not None
    cert_file = tmp_path / "impostor.pem"
    cert_file.write_bytes(issued.pem + key)
    with tls_node.client(cert_file) as client, pytest.raises(httpx.TransportError):
        client.get("/v1/members/me", headers=tls_node.api.auth("tier2"))


def test_an_expired_certificate_never_gets_a_connection(tls_node: TlsNode) -> None:
    tier3 = tls_node.api.world.tier3
    issued = tls_node.ca.issue_member_certificate(
        tier3.name,
        tier3.credit_code,
        tier3.address,
        now=datetime.now(UTC) - timedelta(days=40),
        validity=timedelta(days=30),
    )
    cert_file = tls_node.client_files(tier3, issued, "expired")
    with tls_node.client(cert_file) as client, pytest.raises(httpx.TransportError):
        client.get("/v1/members/me")


def test_a_certificate_not_registered_on_chain_is_refused(tls_node: TlsNode) -> None:
    core2 = tls_node.api.world.core2  # issued, but its fingerprint never went on chain
    issued = tls_node.ca.issue_member_certificate(core2.name, core2.credit_code, core2.address)
    with tls_node.client(tls_node.client_files(core2, issued, "unregistered")) as client:
        refused = client.get("/v1/members/me")
    assert refused.status_code == 401
    assert _error_code(refused) == "certificate_rejected"


def test_a_suspended_members_certificate_is_revoked_and_on_the_crl(tls_node: TlsNode) -> None:
    world = tls_node.api.world
    bank2 = world.bank2
    cert_file = _registered(tls_node, bank2)
    serial = x509.load_pem_x509_certificate(cert_file.read_bytes()).serial_number
    members = world.consortium.members
    govern(world.consortium, world.governor, (members, "suspendMember", (bank2.id,)))
    try:
        with tls_node.client(cert_file) as client:
            refused = client.get("/v1/members/me")
            assert refused.status_code == 401
            assert _error_code(refused) == "certificate_rejected"
            assert "revoked" in refused.json()["error"]["message"]
            crl_response = client.get("/v1/pki/crl")
        assert crl_response.headers["content-type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(crl_response.content)
        assert crl.is_signature_valid(tls_node.ca.certificate.public_key())  # type: ignore[arg-type]
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason == x509.ReasonFlags.certificate_hold
    finally:
        govern(world.consortium, world.governor, (members, "reinstateMember", (bank2.id,)))
    with tls_node.client(cert_file) as client:
        assert client.get("/v1/members/me").json()["id"] == bank2.id
        pem_crl = client.get("/v1/pki/crl", params={"format": "pem"})
    assert (
        x509.load_pem_x509_crl(pem_crl.content).get_revoked_certificate_by_serial_number(serial)
        is None
    )


def test_the_ca_certificate_is_published(tls_node: TlsNode) -> None:
    with tls_node.client() as client:
        response = client.get("/v1/pki/ca")
        bad_format = client.get("/v1/pki/crl", params={"format": "xml"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    assert x509.load_pem_x509_certificate(response.content) == tls_node.ca.certificate
    assert bad_format.status_code == 422


def test_the_application_rechecks_what_the_tls_layer_let_through(tls_node: TlsNode) -> None:
    """Defence in depth: a certificate reaching the app (e.g. through a future proxy path)
    is checked again, so a foreign or expired one is still 401, never a login."""
    world = tls_node.api.world
    other = ConsortiumCA.create(tls_node.certs / "other-pki", PASSPHRASE, "Other Consortium")
    foreign = other.issue_member_certificate(
        world.tier1.name, new_credit_code(), world.tier1.address
    )
    expired = tls_node.ca.issue_member_certificate(
        world.tier1.name,
        world.tier1.credit_code,
        world.tier1.address,
        now=datetime.now(UTC) - timedelta(days=40),
        validity=timedelta(days=30),
    )
    for issued in (foreign, expired):
        tls = {"client_cert_chain": [issued.pem.decode()], "tls_version": 0x0304}
        wrapped = with_tls_extension(tls_node.api.client.app, tls)
        with TestClient(wrapped) as client:
            response = client.get("/v1/members/me")
        assert response.status_code == 401
        assert _error_code(response) == "certificate_rejected"


def test_without_a_ca_the_pki_routes_say_so(api_world: ApiWorld) -> None:
    app = create_app(api_world.world.ledger, api_world.sessions)
    with TestClient(app) as client:
        response = client.get("/v1/pki/ca")
    assert response.status_code == 404
    assert _error_code(response) == "pki_not_configured"


def test_the_node_certificate_is_what_clients_verify(tls_node: TlsNode) -> None:
    pem = ssl.get_server_certificate(("127.0.0.1", int(tls_node.base_url.rsplit(":", 1)[1])))
    served = x509.load_pem_x509_certificate(pem.encode())
    served.verify_directly_issued_by(tls_node.ca.certificate)
    assert served.public_bytes(serialization.Encoding.PEM) == (
        tls_node.ca.node_certificate_file.read_bytes()
    )


# ---- Idempotency-Key and ?wait=false for members authenticated by certificate only ----


def _ledger_transactions(node: TlsNode, member: Member) -> int:
    return node.api.world.ledger.get_transaction_count(member.address, "latest")


def test_a_keyed_post_over_mtls_alone_is_replayed_once(tls_node: TlsNode) -> None:
    tier1 = tls_node.api.world.tier1
    cert_file = _registered(tls_node, tier1)
    body = invoice_body(tls_node.api)
    before = _ledger_transactions(tls_node, tier1)
    with tls_node.client(cert_file) as client:
        key = {"Idempotency-Key": "mtls-replay-1"}
        first = client.post("/v1/invoices", json=body, headers=key)
        again = client.post("/v1/invoices", json=body, headers=key)
        other = client.post("/v1/invoices", json=invoice_body(tls_node.api), headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert first.json()["seller_id"] == tier1.id
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Transaction-Hash"] == first.headers["X-Transaction-Hash"]
    assert other.status_code == 422
    assert _error_code(other) == "idempotency_key_reused"
    assert _ledger_transactions(tls_node, tier1) == before + 1
    # the key belongs to the certificate's member: the same member's API key finds it
    with tls_node.client() as client:
        by_key = client.post("/v1/invoices", json=body, headers=key | tls_node.api.auth("tier1"))
    assert by_key.status_code == 201
    assert by_key.headers["Idempotent-Replayed"] == "true"
    assert _ledger_transactions(tls_node, tier1) == before + 1


def test_wait_false_over_mtls_alone_is_an_operation_of_that_member(tls_node: TlsNode) -> None:
    tier1 = tls_node.api.world.tier1
    cert_file = _registered(tls_node, tier1)
    before = _ledger_transactions(tls_node, tier1)
    with tls_node.client(cert_file) as client:
        accepted = client.post(
            "/v1/invoices", json=invoice_body(tls_node.api), params={"wait": "false"}
        )
        assert accepted.status_code == 202, accepted.text
        path = accepted.headers["Location"]

        def finished() -> dict[str, Any] | None:
            response = client.get(path)
            assert response.status_code == 200, response.text
            operation: dict[str, Any] = response.json()
            return None if operation["status"] == "pending" else operation

        operation = wait_for(finished)
    assert (operation["status"], operation["status_code"]) == ("succeeded", 201)
    assert operation["body"]["seller_id"] == tier1.id
    assert _ledger_transactions(tls_node, tier1) == before + 1
    with tls_node.client() as client:
        assert client.get(path, headers=tls_node.api.auth("tier1")).status_code == 200
        for other in ("tier2", "core"):
            hidden = client.get(path, headers=tls_node.api.auth(other))
            assert hidden.status_code == 404, other
        assert client.get(path).status_code == 401


def test_a_certificate_and_an_api_key_of_different_members_keep_nothing(
    tls_node: TlsNode,
) -> None:
    world = tls_node.api.world
    cert_file = _registered(tls_node, world.tier1)
    before = _ledger_transactions(tls_node, world.core)
    with tls_node.client(cert_file) as client:
        clash = client.post(
            "/v1/invoices",
            json=invoice_body(tls_node.api),
            headers={"Idempotency-Key": "mtls-clash-1"} | tls_node.api.auth("core"),
            params={"wait": "false"},
        )
    assert clash.status_code == 401, clash.text
    assert "different members" in clash.json()["error"]["message"]
    with tls_node.api.sessions() as session:
        kept = session.scalars(
            select(OperationRow).where(OperationRow.idempotency_key == "mtls-clash-1")
        ).all()
    assert kept == []
    assert _ledger_transactions(tls_node, world.core) == before
