"""POST /v1/documents, GET /v1/documents/{hash} and /verify: parties only, sealed at rest."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.readmodel.models import DocumentRow, MemberRow
from api.services.anchors import DocumentNotShared, DocumentNotStored, require_stored_document
from api.services.api_keys import issue_key
from api.services.container import services_of
from api.services.documents import DocumentVault
from api.settings import Settings, get_settings
from chain.errors import ConfigurationError
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.times import iso_instant
from tests.helpers import issue_certificate, now

INVOICE_PDF = b"%PDF-1.7\n invoice 3100231130 / 00009001, Core Motors owes Tier-1 Parts\n"


@pytest.fixture(scope="module")
def docs(api_world: ApiWorld) -> ApiWorld:
    """The API world plus an auditor's key (the consortium operator)."""
    operator_id = int(
        api_world.world.consortium.members.call("memberOf", api_world.world.governor.address)
    )
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    return api_world


def _sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def _body(data: bytes, **changes: Any) -> dict[str, Any]:
    return {
        "content": base64.b64encode(data).decode(),
        "filename": "invoice-00009001.pdf",
        "content_type": "application/pdf",
        "party_ids": [],
    } | changes


def _upload(docs: ApiWorld, who: str, body: Any) -> Any:
    return docs.client.post("/v1/documents", json=body, headers=docs.auth(who))


def _get(docs: ApiWorld, who: str | None, path: str) -> Any:
    return docs.client.get(path, headers=docs.auth(who) if who else {})


def _record(session: Session, owner_id: int, digest: str) -> DocumentRow:
    """Member ``owner_id``'s own record of the document ``digest``."""
    return session.scalars(
        select(DocumentRow).where(DocumentRow.owner_id == owner_id, DocumentRow.hash == digest)
    ).one()


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def small_limit(docs: ApiWorld) -> Iterator[int]:
    app: Any = docs.client.app
    app.dependency_overrides[get_settings] = lambda: Settings(document_max_bytes=1024)
    yield 1024
    del app.dependency_overrides[get_settings]


def test_upload_then_read_by_parties_only(docs: ApiWorld) -> None:
    w = docs.world
    created = _upload(docs, "tier1", _body(INVOICE_PDF, party_ids=[w.core.id, w.tier1.id]))
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["hash"] == _sha(INVOICE_PDF)
    assert (document["owner_id"], document["party_ids"]) == (w.tier1.id, [w.core.id])
    assert (document["size"], document["content_type"]) == (len(INVOICE_PDF), "application/pdf")
    with docs.sessions() as session:
        stored_at = _record(session, w.tier1.id, document["hash"]).created_at
    assert document["created_at"] == iso_instant(stored_at)

    path = f"/v1/documents/{document['hash']}"
    for who in ("tier1", "core", "auditor"):
        response = _get(docs, who, path)
        assert response.status_code == 200, (who, response.text)
        assert response.content == INVOICE_PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"

    # a non-party cannot tell a stranger's document from one that does not exist
    stranger = _get(docs, "tier2", path)
    missing = _get(docs, "tier2", f"/v1/documents/0x{'00' * 32}")
    assert _error(stranger) == _error(missing) == (404, "document_not_found")
    assert _error(_get(docs, "bank", path + "/verify")) == (404, "document_not_found")
    assert _error(_get(docs, None, path)) == (401, "unauthenticated")
    assert _error(docs.client.post("/v1/documents", json=_body(b"x"))) == (401, "unauthenticated")


def test_stored_encrypted_under_the_node_key(docs: ApiWorld) -> None:
    content = b"supply agreement, clause 7: net 90 days"
    digest = _upload(docs, "tier1", _body(content)).json()["hash"]
    with docs.sessions() as session:
        row = _record(session, docs.world.tier1.id, digest)
        assert content not in row.ciphertext
        assert len(row.nonce) == 12
        vault: DocumentVault = node_vault(docs.client.app)
        assert row.key_id == vault.key_id
        assert vault.open_sealed(row.nonce, row.ciphertext, digest) == content
        # the hash is associated data: the ciphertext does not open as another document
        with pytest.raises(InvalidTag):
            vault.open_sealed(row.nonce, row.ciphertext, _sha(b"other"))


def test_uploading_again_is_idempotent_and_adds_the_owners_parties(docs: ApiWorld) -> None:
    w = docs.world
    content = b"financing agreement between Tier-2 Castings and First Bank"
    first = _upload(docs, "tier2", _body(content, party_ids=[w.bank.id]))
    assert first.status_code == 201

    again = _upload(docs, "tier2", _body(content, party_ids=[w.core.id], filename="other"))
    assert again.status_code == 200
    assert again.json()["party_ids"] == sorted([w.bank.id, w.core.id])
    # the record is unchanged otherwise
    assert again.json() | {"party_ids": []} == first.json() | {"party_ids": []}
    assert _get(docs, "core", f"/v1/documents/{first.json()['hash']}").content == content
    assert _get(docs, "tier3", f"/v1/documents/{first.json()['hash']}").status_code == 404


def _shape(response: Any) -> tuple[int, list[str], list[str]]:
    """What an answer shows besides its values: status, header names, body fields."""
    names = sorted(n for n in response.headers if n not in ("content-length", "date"))
    return response.status_code, names, sorted(response.json())


def test_storing_another_members_content_reveals_nothing(docs: ApiWorld) -> None:
    """Uploading bytes another member stored privately once answered 409 document_exists:
    the upload told that someone holds them. It is now a first upload like any other."""
    w = docs.world
    private = b"tier1's private pricing sheet: 4.20 per unit to Core Motors"
    digest = _sha(private)
    owners = _upload(docs, "tier1", _body(private, filename="a-pricing.pdf", party_ids=[w.core.id]))
    assert owners.status_code == 201
    assert _get(docs, "tier2", f"/v1/documents/{digest}").status_code == 404

    fresh = _upload(docs, "tier2", _body(b"tier2's own, never stored before"))
    copy = _upload(
        docs,
        "tier2",
        _body(private, filename="b-copy.bin", content_type="application/octet-stream"),
    )
    assert _shape(copy) == _shape(fresh) == (201, *_shape(fresh)[1:])
    mine = copy.json()
    assert (mine["hash"], mine["owner_id"], mine["party_ids"]) == (digest, w.tier2.id, [])
    assert (mine["filename"], mine["content_type"]) == ("b-copy.bin", "application/octet-stream")
    with docs.sessions() as session:
        tier2s, tier1s = _record(session, w.tier2.id, digest), _record(session, w.tier1.id, digest)
    assert tier2s.id != tier1s.id
    assert mine["created_at"] == iso_instant(tier2s.created_at)  # its own, not tier1's

    # tier2 reads its own record of the bytes, never tier1's name, type or parties
    read = _get(docs, "tier2", f"/v1/documents/{digest}")
    assert read.content == private
    assert read.headers["content-type"] == "application/octet-stream"
    assert "b-copy.bin" in read.headers["content-disposition"]
    again = _upload(docs, "tier2", _body(private, party_ids=[w.bank.id]))
    assert (again.status_code, again.json()["party_ids"]) == (200, [w.bank.id])
    assert again.json()["created_at"] == mine["created_at"]

    # tier1's record and its share list are as they were
    owners_again = _upload(docs, "tier1", _body(private))
    assert owners_again.status_code == 200
    assert owners_again.json() == owners.json()
    for party, filename in (("tier1", "a-pricing.pdf"), ("core", "a-pricing.pdf")):
        shown = _get(docs, party, f"/v1/documents/{digest}")
        assert (shown.status_code, shown.headers["content-type"]) == (200, "application/pdf")
        assert filename in shown.headers["content-disposition"]
    # the bank is a party of tier2's record only: it reads that one
    assert (
        "b-copy.bin" in _get(docs, "bank", f"/v1/documents/{digest}").headers["content-disposition"]
    )
    assert _get(docs, "tier3", f"/v1/documents/{digest}").status_code == 404


def test_an_anchor_counts_only_records_the_anchoring_member_reads(docs: ApiWorld) -> None:
    """Whether a counterparty can read an agreement is judged on the records the requester
    reads: another member's sharing of the same bytes neither helps nor shows."""
    w = docs.world
    agreement = b"agreement held by tier1 (shared with the bank) and, apart, by tier3"
    digest = _sha(agreement)
    assert _upload(docs, "tier1", _body(agreement, party_ids=[w.bank.id])).status_code == 201
    with docs.sessions() as session:
        tier3 = session.get_one(MemberRow, w.tier3.id)
        with pytest.raises(DocumentNotStored):
            require_stored_document(session, tier3, digest, field="agreement_hash")
    assert _upload(docs, "tier3", _body(agreement)).status_code == 201
    with docs.sessions() as session:
        tier3 = session.get_one(MemberRow, w.tier3.id)
        require_stored_document(session, tier3, digest, field="agreement_hash")
        with pytest.raises(DocumentNotShared):
            require_stored_document(
                session, tier3, digest, field="agreement_hash", shared_with=w.bank.id
            )
        tier1 = session.get_one(MemberRow, w.tier1.id)
        require_stored_document(
            session, tier1, digest, field="agreement_hash", shared_with=w.bank.id
        )
        bank = session.get_one(MemberRow, w.bank.id)  # a party anchors its owner's record
        require_stored_document(
            session, bank, digest, field="agreement_hash", shared_with=w.tier1.id
        )


def test_bad_input_is_refused(docs: ApiWorld) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"content": "not base64!"}, "validation_error"),
        ({"content": "aGVsbG8"}, "validation_error"),  # missing padding
        ({"content": ""}, "validation_error"),  # empty document
        ({"content": 12}, "validation_error"),
        ({"content_type": "pdf"}, "validation_error"),
        ({"content_type": "text/html\r\nX-Evil: 1"}, "validation_error"),
        ({"filename": "../../etc/passwd"}, "validation_error"),
        ({"party_ids": [0]}, "validation_error"),
        ({"party_ids": [987_654]}, "member_not_found"),
        ({"party_ids": list(range(1, 100))}, "validation_error"),
    ]
    for changes, code in cases:
        response = _upload(docs, "tier1", _body(b"bad input test", **changes))
        assert _error(response) == (422, code), changes
    assert _upload(docs, "tier1", "not an object").status_code == 422
    assert _upload(docs, "tier1", {}).status_code == 422
    assert _error(_get(docs, "tier1", "/v1/documents/0x1234")) == (422, "validation_error")
    assert _get(docs, "tier2", f"/v1/documents/{_sha(b'bad input test')}").status_code == 404


def test_too_large_is_refused_with_413(docs: ApiWorld, small_limit: int) -> None:
    over = _upload(docs, "tier1", _body(b"x" * (small_limit + 1)))
    assert _error(over) == (413, "payload_too_large")
    assert over.json()["error"]["details"] == {"limit": small_limit, "size": small_limit + 1}
    assert _upload(docs, "tier1", _body(b"y" * small_limit)).status_code == 201

    # a body far beyond any document is refused before it is parsed, declared or streamed
    huge = b'{"content": "' + b"A" * (small_limit * 2 + 70_000) + b'"}'
    headers = docs.auth("tier1") | {"Content-Type": "application/json"}
    declared = docs.client.post("/v1/documents", content=huge, headers=headers)
    assert _error(declared) == (413, "payload_too_large")
    streamed = docs.client.post(
        "/v1/documents", content=iter([huge[:50_000], huge[50_000:]]), headers=headers
    )
    assert _error(streamed) == (413, "payload_too_large")


def test_verify_reports_anchors_and_detects_tampering(docs: ApiWorld) -> None:
    w = docs.world
    content = b"invoice file that gets anchored on chain"
    digest = _upload(docs, "tier1", _body(content, party_ids=[w.core.id, w.bank.id])).json()["hash"]
    invoice = docs.client.post(
        "/v1/invoices",
        json={
            "seller_credit_code": w.tier1.credit_code,
            "invoice_code": "3100231130",
            "invoice_number": "00009001",
            "buyer_id": w.core.id,
            "amount": "5000.00",
            "issue_date": "2026-11-01",
            "due_date": "2027-02-01",
            "document_hash": digest,
        },
        headers=docs.auth("tier1"),
    )
    assert invoice.status_code == 201, invoice.text
    # the same hash as a financing agreement of tier1's certificate at the bank
    certificate_id = issue_certificate(w, w.core, w.tier1, 1_000_00)
    hub = w.consortium.financing
    receipt = hub.transact(
        w.tier1.signer,
        "requestFinancing",
        certificate_id,
        w.bank.id,
        500_00,
        500,
        bytes.fromhex(digest[2:]),
        now(w.ledger) + 86_400,
    )
    request_id = int(hub.event_args(receipt, "FinancingRequested")["requestId"])
    docs.sync()

    path = f"/v1/documents/{digest}/verify"
    report = _get(docs, "tier1", path).json()
    assert report == {
        "hash": digest,
        "intact": True,
        "problem": None,
        "anchors": {"invoice_keys": [invoice.json()["key"]], "financing_request_ids": [request_id]},
    }
    # each party sees the anchors it may see: the buyer its invoice, not tier1's request
    assert _get(docs, "core", path).json()["anchors"]["financing_request_ids"] == []
    assert _get(docs, "bank", path).json()["anchors"] == {
        "invoice_keys": [],
        "financing_request_ids": [request_id],
    }
    assert _get(docs, "auditor", path).json()["anchors"] == report["anchors"]

    with docs.sessions.begin() as session:
        row = _record(session, docs.world.tier1.id, digest)
        row.ciphertext = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
    tampered = _get(docs, "tier1", path).json()
    assert (tampered["intact"], tampered["anchors"]) == (False, report["anchors"])
    assert "authenticate" in tampered["problem"]
    assert _error(_get(docs, "core", f"/v1/documents/{digest}")) == (500, "document_corrupted")


def test_without_a_document_key_the_node_answers_503(docs: ApiWorld) -> None:
    app: Any = docs.client.app
    vault = node_vault(app)
    services_of(app).document_vault = None
    try:
        refused = _upload(docs, "tier1", _body(b"no key"))
        assert _error(refused) == (503, "writes_unavailable")
        assert _get(docs, "tier1", f"/v1/documents/{_sha(b'no key')}").status_code == 503
    finally:
        services_of(app).document_vault = vault


def test_the_node_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "documents.key"
    vault = DocumentVault.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert DocumentVault.open(path).key_id == vault.key_id
    nonce, sealed = vault.seal(b"hello", _sha(b"hello"))
    assert DocumentVault.open(path).open_sealed(nonce, sealed, _sha(b"hello")) == b"hello"
    assert DocumentVault.open(tmp_path / "other.key").key_id != vault.key_id
    path.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="restore it from a backup"):
        DocumentVault.open(path)


def test_an_idempotency_key_replays_the_upload(docs: ApiWorld) -> None:
    body = _body(b"uploaded once under a key")
    headers = docs.auth("tier1") | {"Idempotency-Key": "doc-upload-1"}
    first = docs.client.post("/v1/documents", json=body, headers=headers)
    second = docs.client.post("/v1/documents", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    other = docs.client.post("/v1/documents", json=_body(b"something else"), headers=headers)
    assert other.status_code == 422
