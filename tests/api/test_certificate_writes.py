"""POST /v1/credit-lines, /v1/certificates and /transfers: the issuing story over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ApiWorld
from tests.api.writes import stored_document


def _post(api_world: ApiWorld, who: str, path: str, body: Any) -> Any:
    return api_world.client.post(path, json=body, headers=api_world.auth(who))


def _error(response: Any) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["details"].get("error")


@pytest.fixture(scope="module")
def issued(api_world: ApiWorld) -> dict[str, Any]:
    """bank → core line of 5,000,000.00; tier1 invoices core 1,200,000.00; core confirms."""
    w = api_world.world
    line = _post(
        api_world,
        "bank",
        "/v1/credit-lines",
        {"borrower_id": w.core.id, "limit": "5000000.00", "expires_on": "2030-01-01"},
    )
    assert line.status_code == 201, line.text
    invoice = _post(
        api_world,
        "tier1",
        "/v1/invoices",
        {
            "seller_credit_code": w.tier1.credit_code,
            "invoice_code": "3100231130",
            "invoice_number": "77000001",
            "buyer_id": w.core.id,
            "amount": "1200000.00",
            "issue_date": "2026-11-01",
            "due_date": "2027-03-01",
            "document_hash": stored_document(api_world, "tier1", "core"),
        },
    ).json()
    assert (
        _post(api_world, "core", f"/v1/invoices/{invoice['key']}/confirm", None).status_code == 200
    )
    return {"line": line.json(), "invoice_key": invoice["key"]}


def _issue_body(api_world: ApiWorld, issued: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "holder_id": api_world.world.tier1.id,
        "face_value": "1000000.00",
        "maturity": "2030-06-30",
        "credit_line_id": issued["line"]["id"],
        "invoice_keys": [issued["invoice_key"]],
    } | changes


def test_issue_then_split_down_the_chain(api_world: ApiWorld, issued: dict[str, Any]) -> None:
    w = api_world.world
    assert issued["line"]["available"] == "5000000.00"
    assert issued["line"]["expires_at"] == "2030-01-01"  # the day asked for, as a date
    refused = _post(api_world, "tier2", "/v1/certificates", _issue_body(api_world, issued))
    assert _error(refused) == (403, "contract_revert", "MemberUnauthorizedAccount")
    created = _post(api_world, "core", "/v1/certificates", _issue_body(api_world, issued))
    assert created.status_code == 201, created.text
    root = created.json()
    assert (root["holder_id"], root["value"], root["parent_id"]) == (w.tier1.id, "1000000.00", 0)
    assert root["maturity"] == "2030-06-30"
    lines = api_world.client.get("/v1/credit-lines", headers=api_world.auth("core")).json()
    assert lines["items"][0]["used"] == "1000000.00"
    # the invoice now backs the certificate: it cannot back another one
    again = _post(api_world, "core", "/v1/certificates", _issue_body(api_world, issued))
    assert again.status_code == 409

    child = _post(
        api_world,
        "tier1",
        f"/v1/certificates/{root['id']}/transfers",
        {"to_member_id": w.tier2.id, "amount": "250000.25"},
    )
    assert child.status_code == 201, child.text
    body = child.json()
    assert (body["parent_id"], body["holder_id"], body["value"]) == (
        root["id"],
        w.tier2.id,
        "250000.25",
    )
    assert body["maturity"] == "2030-06-30"  # a split keeps the root's maturity day
    source = api_world.client.get(f"/v1/certificates/{root['id']}", headers=api_world.auth("tier1"))
    assert source.json()["value"] == "749999.75"

    too_much = _post(
        api_world,
        "tier2",
        f"/v1/certificates/{body['id']}/transfers",
        {"to_member_id": w.tier3.id, "amount": "250000.26"},
    )
    assert _error(too_much) == (409, "contract_revert", "CertificateInsufficientValue")
    not_yours = _post(
        api_world,
        "tier3",
        f"/v1/certificates/{root['id']}/transfers",
        {"to_member_id": w.tier3.id, "amount": "1.00"},
    )
    assert not_yours.status_code == 404
    to_core = _post(
        api_world,
        "tier2",
        f"/v1/certificates/{body['id']}/transfers",
        {"to_member_id": w.core.id, "amount": "1.00"},
    )
    assert _error(to_core) == (409, "contract_revert", "CertificateInvalidRecipient")


def test_bad_input_is_422(api_world: ApiWorld, issued: dict[str, Any]) -> None:
    cases = [
        _issue_body(api_world, issued, face_value="-1"),
        _issue_body(api_world, issued, invoice_keys=[]),
        _issue_body(api_world, issued, invoice_keys=["0x12"]),
        _issue_body(api_world, issued, maturity="tomorrow"),
        _issue_body(api_world, issued, holder_id=0),
    ]
    for body in cases:
        assert _post(api_world, "core", "/v1/certificates", body).status_code == 422, body
    past = _post(
        api_world, "core", "/v1/certificates", _issue_body(api_world, issued, maturity="2020-01-01")
    )
    assert _error(past) == (422, "contract_revert", "CertificateInvalidMaturity")
    line = _post(
        api_world,
        "tier1",
        "/v1/credit-lines",
        {"borrower_id": api_world.world.core.id, "limit": "1.00", "expires_on": "2030-01-01"},
    )
    assert _error(line) == (403, "contract_revert", "MemberUnauthorizedAccount")
