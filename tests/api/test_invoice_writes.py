"""POST /v1/invoices, /confirm, /dispute: success, every failure, idempotency."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiWorld

DOC = "0x" + "ab" * 32


def _body(api_world: ApiWorld, number: str, **changes: Any) -> dict[str, Any]:
    body = {
        "seller_credit_code": api_world.world.tier1.credit_code,
        "invoice_code": "3100231130",
        "invoice_number": number,
        "buyer_id": api_world.world.core.id,
        "amount": "125000.50",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
        "document_hash": DOC,
    }
    return body | changes


def _post(api_world: ApiWorld, who: str, path: str, body: Any, key: str | None = None) -> Any:
    headers = api_world.auth(who) | ({"Idempotency-Key": key} if key else {})
    return api_world.client.post(path, json=body, headers=headers)


def _nonce(api_world: ApiWorld, who: str) -> int:
    member = getattr(api_world.world, who)
    return api_world.world.ledger.get_transaction_count(member.address, "latest")


def test_register_confirm_and_read_back(api_world: ApiWorld) -> None:
    created = _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001001"))
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert invoice["status"] == "registered"
    assert invoice["amount"] == "125000.50"
    assert invoice["seller_id"] == api_world.world.tier1.id
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-11-01", "2027-02-01")
    assert created.headers["X-Transaction-Hash"].startswith("0x")

    confirmed = _post(api_world, "core", f"/v1/invoices/{invoice['key']}/confirm", None)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    listed = api_world.client.get("/v1/invoices", headers=api_world.auth("core")).json()["items"]
    read_back = next(i for i in listed if i["key"] == invoice["key"])
    assert (read_back["issue_date"], read_back["due_date"]) == ("2026-11-01", "2027-02-01")


def test_the_same_invoice_typed_differently_is_a_duplicate(api_world: ApiWorld) -> None:
    first = _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001002"))
    assert first.status_code == 201
    before = _nonce(api_world, "tier1")
    again = _body(api_world, " ００００１００２ ", amount="1.00")  # full-width, spaces
    duplicate = _post(api_world, "tier1", "/v1/invoices", again)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"
    # the attempt is a failed transaction on the ledger (the test ledger, like the embedded
    # one, does not rehearse writes); the registered invoice is unchanged
    assert _nonce(api_world, "tier1") == before + 1
    path = f"/v1/invoices/{first.json()['key']}"
    assert api_world.client.get(path, headers=api_world.auth("tier1")).json() == first.json()


def test_a_rehearsing_ledger_sends_nothing_for_a_refused_write(
    api_world: ApiWorld, monkeypatch: Any
) -> None:
    """External networks (gas may cost money) execute a write as a call first."""
    monkeypatch.setattr(type(api_world.world.ledger), "rehearse_writes", True)
    assert (
        _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001005")).status_code == 201
    )
    before = _nonce(api_world, "tier1")
    duplicate = _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001005"))
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"
    assert _nonce(api_world, "tier1") == before  # refused in rehearsal: no transaction sent


def test_bad_input_is_refused_before_the_ledger(api_world: ApiWorld) -> None:
    before = _nonce(api_world, "tier1")
    other_code = api_world.world.tier2.credit_code
    bad_check = "91350100M000100Y44"
    cases = [
        (_body(api_world, "1", amount="1.234"), 422, "validation_error"),
        (_body(api_world, "1", amount="0"), 422, "invalid_amount"),
        (_body(api_world, "1", document_hash="0x12"), 422, "validation_error"),
        (_body(api_world, "", invoice_code="X"), 422, "validation_error"),
        (_body(api_world, "1", seller_credit_code=other_code), 403, "seller_mismatch"),
        (_body(api_world, "1", seller_credit_code=bad_check), 422, "invalid_credit_code"),
    ]
    for body, status, code in cases:
        response = _post(api_world, "tier1", "/v1/invoices", body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert _post(api_world, "tier1", "/v1/invoices", "not json").status_code == 422
    assert _nonce(api_world, "tier1") == before
    # what only the contract knows is wrong: failed transactions, answered with its error
    refused = [
        (_body(api_world, "1", buyer_id=999), 409, "InvoiceInvalidBuyer"),
        (_body(api_world, "1", due_date="2026-10-01"), 422, "InvoiceInvalidDates"),
    ]
    for body, status, error in refused:
        response = _post(api_world, "tier1", "/v1/invoices", body)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == "contract_revert"
        assert response.json()["error"]["details"]["error"] == error
    assert _nonce(api_world, "tier1") == before + len(refused)


def test_idempotency_key_replays_once_and_refuses_a_different_body(api_world: ApiWorld) -> None:
    body = _body(api_world, "00001003")
    before = _nonce(api_world, "tier1")
    first = _post(api_world, "tier1", "/v1/invoices", body, key="order-1003")
    second = _post(api_world, "tier1", "/v1/invoices", body, key="order-1003")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert first.headers["X-Transaction-Hash"] == second.headers["X-Transaction-Hash"]
    assert _nonce(api_world, "tier1") == before + 1
    other = _post(api_world, "tier1", "/v1/invoices", body | {"amount": "9.99"}, key="order-1003")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_only_the_buyer_confirms_or_disputes(api_world: ApiWorld) -> None:
    key = _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001004")).json()["key"]
    by_seller = _post(api_world, "tier1", f"/v1/invoices/{key}/confirm", None)
    assert by_seller.status_code == 403
    assert by_seller.json()["error"]["details"]["error"] == "InvoiceUnauthorizedBuyer"
    assert _post(api_world, "tier2", f"/v1/invoices/{key}/confirm", None).status_code == 404
    disputed = _post(api_world, "core", f"/v1/invoices/{key}/dispute", {"reason_hash": DOC})
    assert disputed.status_code == 200
    assert disputed.json()["status"] == "disputed"
    late = _post(api_world, "core", f"/v1/invoices/{key}/confirm", None)
    assert late.status_code == 409
    assert _post(api_world, "core", f"/v1/invoices/{key}/dispute", {}).status_code == 422
