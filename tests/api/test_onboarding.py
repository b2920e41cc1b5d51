"""Joining over HTTP: apply, wait for the committee, then act as a member."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.readmodel.models import ApiKeyRow, ApplicationRow
from api.services.container import services_of
from api.services.rate_limit import RateLimited, TokenBucketLimiter
from api.settings import Settings, get_settings
from chain.credit_code import check_character
from nodes.pki.ca import ConsortiumCA, NodePki
from tests.api.app_services import node_writer
from tests.api.committee import CommitteeNode, committee_node, fund_gas
from tests.api.times import iso_instant
from tests.helpers import new_credit_code

APPLY = "/v1/members/applications"
DOC = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("committee"))) as built:
        yield built


@pytest.fixture(scope="module")
def admin_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("admin")), committee=False) as built:
        yield built


def application(name: str = "Tier-4 Springs Ltd", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "credit_code": new_credit_code(),
        "roles": ["SUPPLIER"],
        "contact": "finance@springs.example",
    }
    return {**body, **overrides}


def apply(node: CommitteeNode, body: dict[str, Any], *, expect: int = 201) -> Any:
    response = node.client.post(APPLY, json=body)
    assert response.status_code == expect, response.text
    return response.json()


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def proposal_count(node: CommitteeNode) -> int:
    return int(node.world.consortium.governance.call("proposalCount"))


def application_count(node: CommitteeNode) -> int:
    with node.sessions() as session:
        return session.scalar(select(func.count()).select_from(ApplicationRow)) or 0


# ---- the whole path --------------------------------------------------------------------


def test_an_applicant_is_admitted_by_the_committee_and_then_acts(node: CommitteeNode) -> None:
    body = application()
    created = apply(node, body)
    key, account = created["api_key"], created["account"]
    assert created["status"] == "pending"
    assert created["proposal_state"] == "pending"
    assert created["certificate_pem"] is None
    assert created["certificate_fingerprint"] is None
    assert key.startswith("scf_")
    # the node holds the applicant's signing key; the database only the key's hash
    assert node_writer(node.app).custody.signer(account) is not None
    with node.sessions() as session:
        row = session.get(ApplicationRow, created["id"])
        assert row is not None
        assert row.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in {row.name, row.contact, row.api_key_hash}
        assert created["created_at"] == iso_instant(row.created_at)

    # before admission the key is known but refused
    me = node.client.get("/v1/members/me", headers=node.bearer(key))
    assert me.status_code == 403
    assert error_code(me) == "application_pending"
    mine = node.client.get(f"{APPLY}/{created['id']}", headers=node.bearer(key))
    assert mine.status_code == 200
    assert mine.json()["status"] == "pending"

    proposal = node.get("bank", f"/v1/governance/proposals/{created['proposal_id']}")
    assert proposal["kind"] == "admit_member"
    assert proposal["state"] == "pending"
    assert proposal["actions"][0]["args"]["name"] == body["name"]
    assert proposal["actions"][0]["args"]["roles"] == ["SUPPLIER"]
    assert proposal["actions"][0]["args"]["account"] == account
    assert [(v["member_id"], v["support"], v["weight"]) for v in proposal["votes"]] == [
        (1, "for", 2)
    ]

    # the operator's weight alone is not enough: the bank's vote admits
    voted = node.post(
        "bank", f"/v1/governance/proposals/{created['proposal_id']}/votes", {"support": "for"}
    )
    assert voted["state"] == "executed"
    assert voted["execution_error"] is None

    me = node.client.get("/v1/members/me", headers=node.bearer(key))
    assert me.status_code == 200, me.text
    member = me.json()
    assert member["name"] == body["name"]
    assert member["roles"] == ["SUPPLIER"]
    assert member["accounts"] == [account]
    status = node.client.get(f"{APPLY}/{created['id']}", headers=node.bearer(key)).json()
    assert status["status"] == "admitted"
    assert status["member_id"] == member["id"]

    # a member like any other: paid in settlement tokens, registering an invoice
    fund_gas(node, account)
    node.post(
        "bank",
        "/v1/settlement/mint",
        {"to_member_id": member["id"], "amount": "1500.00", "bank_reference": DOC},
    )
    balance = node.client.get("/v1/settlement/balance", headers=node.bearer(key)).json()
    assert balance["balance"] == "1500.00"
    assert balance["account"] == account
    document = node.client.post(
        "/v1/documents",
        json={"content": base64.b64encode(b"invoice 40000001").decode(), "party_ids": []},
        headers=node.bearer(key),
    )
    assert document.status_code == 201, document.text
    invoice = node.client.post(
        "/v1/invoices",
        json={
            "seller_credit_code": body["credit_code"],
            "invoice_code": "3100231130",
            "invoice_number": "40000001",
            "buyer_id": node.world.core.id,
            "amount": "800.00",
            "issue_date": "2026-11-01",
            "due_date": "2027-01-31",
            "document_hash": document.json()["hash"],
        },
        headers=node.bearer(key),
    )
    assert invoice.status_code == 201, invoice.text
    assert invoice.json()["seller_id"] == member["id"]


def test_a_rejected_application_keeps_its_key_refused(node: CommitteeNode) -> None:
    body = application("Shady Trading Co")
    created = apply(node, body)
    path = f"/v1/governance/proposals/{created['proposal_id']}/votes"
    node.post("bank", path, {"support": "against"})
    decided = node.post("core2", path, {"support": "against"})
    assert decided["state"] == "rejected"

    me = node.client.get("/v1/members/me", headers=node.bearer(created["api_key"]))
    assert me.status_code == 403
    assert error_code(me) == "application_rejected"
    status = node.get("regulator", f"{APPLY}/{created['id']}")
    assert (status["status"], status["proposal_state"]) == ("rejected", "rejected")
    # a rejected company may apply again
    again = apply(node, {**body, "contact": "new management"})
    assert again["status"] == "pending"
    assert again["proposal_id"] != created["proposal_id"]


def test_an_application_is_admitted_when_read_after_votes_made_elsewhere(
    node: CommitteeNode,
) -> None:
    """The status follows the ledger even when the deciding vote did not go through this
    API (another node, the CLI): reading the application brings it up to date."""
    created = apply(node, application("Elsewhere Voted Ltd"))
    gov = node.world.consortium.governance
    gov.transact(node.world.bank.signer, "vote", created["proposal_id"], 1)
    node_writer(node.app).indexer.sync()
    status = node.get("regulator", f"{APPLY}/{created['id']}")
    assert status["status"] == "admitted"
    me = node.client.get("/v1/members/me", headers=node.bearer(created["api_key"]))
    assert me.status_code == 200
    assert me.json()["id"] == status["member_id"]


# ---- bad input, duplicates, visibility ----------------------------------------------------


def test_bad_credit_codes_and_bodies_are_422_and_change_nothing(node: CommitteeNode) -> None:
    before = (proposal_count(node), application_count(node))
    code = new_credit_code()
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    response = node.client.post(APPLY, json=application(credit_code=wrong))
    assert response.status_code == 422
    assert error_code(response) == "invalid_credit_code"
    assert response.json()["error"]["details"]["expected_check"] == check_character(code[:17])
    for bad in (
        application(credit_code="91110000123"),  # too short
        application(credit_code="9111000012345678I" + "0"),  # I is not in the alphabet
        application(roles=[]),
        application(roles=["KING"]),
        application(name="   "),
        {"name": "No Code Ltd", "roles": ["SUPPLIER"]},
    ):
        response = node.client.post(APPLY, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert error_code(response) in ("invalid_credit_code", "validation_error")
    assert (proposal_count(node), application_count(node)) == before


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("Acme\x00 Ltd", "U+0000"),  # NUL
        ("Acme \u202eDTL", "U+202E"),  # right-to-left override: reads as another name
        ("Ac\u200bme Ltd", "U+200B"),  # zero-width space: looks like "Acme Ltd"
        ("<script>alert(1)</script> Ltd", "U+003C"),
        ("Acme\nLtd", "U+000A"),
    ],
)
def test_names_are_printable_text_and_nothing_is_stored_otherwise(
    node: CommitteeNode, name: str, refused: str
) -> None:
    before = (proposal_count(node), application_count(node))
    response = node.client.post(APPLY, json=application(name=name))
    assert response.status_code == 422, response.text
    assert refused in response.text
    assert (proposal_count(node), application_count(node)) == before


def test_names_in_any_script_with_ordinary_punctuation_are_taken(node: CommitteeNode) -> None:
    for name in ("深圳市前海供应链管理有限公司（分公司）", "O'Neil & Sons (Shenzhen) Co., Ltd."):
        assert apply(node, application(name=name))["name"] == name


def test_full_width_and_spaced_codes_are_normalized(node: CommitteeNode) -> None:
    code = new_credit_code()
    full_width = " ".join(
        chr(ord(c) + 0xFEE0) for c in code
    )  # full-width digits and letters, spaced
    created = apply(node, application(credit_code=full_width))
    assert created["credit_code"] == code


def test_duplicate_applications_are_409(node: CommitteeNode) -> None:
    member = node.client.post(APPLY, json=application(credit_code=node.world.core.credit_code))
    assert member.status_code == 409
    assert error_code(member) == "member_already_registered"
    # the caller is anonymous: it learns the code is taken, not which member holds it
    assert member.json()["error"]["details"] == {}
    assert member.json()["error"]["message"] == (
        f"credit code {node.world.core.credit_code} belongs to a member already"
    )

    body = application()
    apply(node, body)
    count = proposal_count(node)
    second = node.client.post(APPLY, json={**body, "name": "Same Code Other Name"})
    assert second.status_code == 409
    assert error_code(second) == "application_already_pending"
    assert second.json()["error"]["details"] == {}
    assert second.json()["error"]["message"] == (
        f"an application for credit code {body['credit_code']} is pending already"
    )
    assert proposal_count(node) == count


def test_simultaneous_applications_of_one_company_admit_one(node: CommitteeNode) -> None:
    body = application("Twin Request Ltd")
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: node.client.post(APPLY, json=body).status_code, "ab"))
    assert statuses == [201, 409]


def test_a_keyed_application_retried_makes_one_proposal(node: CommitteeNode) -> None:
    """A client that lost the answer retries with its Idempotency-Key: the same
    application, API key and admission proposal come back; nothing is proposed twice."""
    body, key = application("Retrying Applicant Ltd"), "retry-" + "7f3a" * 8
    headers = {"Idempotency-Key": key}
    first = node.client.post(APPLY, json=body, headers=headers)
    assert first.status_code == 201, first.text
    count = (proposal_count(node), application_count(node))
    again = node.client.post(APPLY, json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["proposal_id"] is not None
    assert (proposal_count(node), application_count(node)) == count
    other = node.client.post(APPLY, json={**body, "roles": ["FINANCIER"]}, headers=headers)
    assert other.status_code == 422
    assert error_code(other) == "idempotency_key_reused"
    assert (proposal_count(node), application_count(node)) == count


def test_an_application_is_visible_to_its_applicant_governors_and_auditors_only(
    node: CommitteeNode,
) -> None:
    created = apply(node, application("Private Applicant Ltd"))
    path = f"{APPLY}/{created['id']}"
    for who in ("operator", "bank", "regulator"):
        assert node.get(who, path)["name"] == "Private Applicant Ltd"
    hidden = node.client.get(path, headers=node.auth("tier1"))
    assert hidden.status_code == 404
    assert error_code(hidden) == "application_not_found"
    other = apply(node, application("Curious Applicant Ltd"))
    peek = node.client.get(path, headers=node.bearer(other["api_key"]))
    assert peek.status_code == 403
    assert error_code(peek) == "application_pending"
    assert node.client.get(path).status_code == 401
    assert node.client.get(path, headers=node.bearer("scf_nonsense")).status_code == 401
    assert node.client.get(f"{APPLY}/999999", headers=node.auth("bank")).status_code == 404

    listed = node.get("regulator", f"{APPLY}?status=pending")
    assert created["id"] in [item["id"] for item in listed["items"]]
    assert all(item["status"] == "pending" for item in listed["items"])
    refused = node.client.get(APPLY, headers=node.auth("tier1"))
    assert refused.status_code == 403
    assert error_code(refused) == "not_a_governor"


def test_an_application_already_under_proposal_cannot_be_sponsored(node: CommitteeNode) -> None:
    created = apply(node, application("Proposed Already Ltd"))
    response = node.client.post(
        "/v1/governance/proposals",
        json={"kind": "admit_member", "application_id": created["id"]},
        headers=node.auth("bank"),
    )
    assert response.status_code == 409
    assert error_code(response) == "application_not_awaiting_sponsor"


# ---- certificates ------------------------------------------------------------------------


def test_with_a_ca_the_certificate_fingerprint_goes_on_chain(
    node: CommitteeNode, tmp_path: Path
) -> None:
    ca = ConsortiumCA.create(tmp_path / "pki", "ca passphrase", "Test Consortium")
    services_of(node.app).certificate_authority = NodePki(ca, node.world.consortium)
    try:
        created = apply(node, application("Certified Parts Ltd"))
    finally:
        services_of(node.app).certificate_authority = None
    certificate = x509.load_pem_x509_certificate(created["certificate_pem"].encode())
    fingerprint = "0x" + hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    assert created["certificate_fingerprint"] == fingerprint
    proposal_args = node.get("bank", f"/v1/governance/proposals/{created['proposal_id']}")[
        "actions"
    ][0]["args"]
    assert proposal_args["certificateFingerprint"] == fingerprint

    node.post(
        "bank", f"/v1/governance/proposals/{created['proposal_id']}/votes", {"support": "for"}
    )
    member_id = int(node.world.consortium.members.call("memberOf", created["account"]))
    on_chain = node.world.consortium.members.call("getMember", member_id)[3]
    assert "0x" + bytes(on_chain).hex() == fingerprint


# ---- rate limit --------------------------------------------------------------------------


def test_applications_are_rate_limited_per_client_address(node: CommitteeNode) -> None:
    node.app.dependency_overrides[get_settings] = lambda: Settings(
        application_burst=2, application_refill_per_minute=0.5
    )
    flooding = TestClient(node.app, client=("203.0.113.7", 40000))
    other = TestClient(node.app, client=("203.0.113.8", 40000))
    try:
        # malformed requests spend tokens too: the limit guards the node, not the schema
        for _ in range(2):
            assert flooding.post(APPLY, json={"name": "x"}).status_code == 422
        limited = flooding.post(APPLY, json=application())
        assert limited.status_code == 429
        assert error_code(limited) == "rate_limited"
        assert int(limited.headers["Retry-After"]) == 120  # one token per two minutes
        assert limited.json()["error"]["details"]["retry_after"] == 120
        assert other.post(APPLY, json={"name": "x"}).status_code == 422  # its own bucket
    finally:
        node.app.dependency_overrides[get_settings] = lambda: Settings(application_burst=10_000)


def test_token_bucket_refills_over_time_and_forgets_old_clients() -> None:
    now = [1000.0]
    limiter = TokenBucketLimiter(clock=lambda: now[0], max_clients=2)
    limiter.take("a", burst=2, per_second=0.5)
    limiter.take("a", burst=2, per_second=0.5)
    with pytest.raises(RateLimited) as refused:
        limiter.take("a", burst=2, per_second=0.5)
    assert refused.value.headers == {"Retry-After": "2"}
    now[0] += 2.0
    limiter.take("a", burst=2, per_second=0.5)  # one token back
    with pytest.raises(RateLimited):
        limiter.take("a", burst=2, per_second=0.5)
    limiter.take("b", burst=1, per_second=0)
    limiter.take("c", burst=1, per_second=0)  # "a", least recently seen, is forgotten
    limiter.take("a", burst=1, per_second=0)
    with pytest.raises(RateLimited) as never:
        limiter.take("c", burst=1, per_second=0)
    assert never.value.details["retry_after"] == 86_400  # no refill: a day, not infinity


# ---- admin mode --------------------------------------------------------------------------


def test_in_admin_mode_an_application_waits_for_a_governor_to_sponsor_it(
    admin_node: CommitteeNode,
) -> None:
    node = admin_node
    count = proposal_count(node)
    created = apply(node, application("Walk-in Supplier Ltd"))
    assert created["proposal_id"] is None
    assert created["status"] == "pending"
    assert proposal_count(node) == count  # an anonymous request proposed nothing
    me = node.client.get("/v1/members/me", headers=node.bearer(created["api_key"]))
    assert me.status_code == 403
    assert error_code(me) == "application_pending"

    sponsor = {"kind": "admit_member", "application_id": created["id"]}
    refused = node.client.post("/v1/governance/proposals", json=sponsor, headers=node.auth("tier1"))
    assert refused.status_code == 403
    assert error_code(refused) == "not_a_governor"
    missing = node.client.post(
        "/v1/governance/proposals",
        json={**sponsor, "application_id": 987654},
        headers=node.auth("operator"),
    )
    assert missing.status_code == 404
    assert error_code(missing) == "application_not_found"

    proposal = node.post("operator", "/v1/governance/proposals", sponsor)
    assert (proposal["kind"], proposal["state"]) == ("admit_member", "executed")
    me = node.client.get("/v1/members/me", headers=node.bearer(created["api_key"]))
    assert me.status_code == 200
    assert me.json()["name"] == "Walk-in Supplier Ltd"
    with node.sessions() as session:
        key_row = session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.label == f"application {created['id']}")
        ).one()
        assert key_row.member_id == me.json()["id"]

    again = node.client.post(
        "/v1/governance/proposals", json=sponsor, headers=node.auth("operator")
    )
    assert again.status_code == 409
    assert error_code(again) == "application_not_awaiting_sponsor"
