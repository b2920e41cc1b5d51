"""POST /v1/invoices, /confirm, /dispute: success, every failure, idempotency; the invoice
identity rule and the plausibility checks (issue 21, item 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chain.credit_code import credit_code_hash
from chain.invoice_key import invoice_key
from tests.api.conftest import ApiWorld
from tests.api.writes import stored_document

DOC = "0x" + "ab" * 32
_stored: dict[int, str] = {}


def _document(api_world: ApiWorld) -> str:
    """One stored invoice document of tier 1 per API world (an invoice may share it)."""
    if id(api_world) not in _stored:
        _stored[id(api_world)] = stored_document(api_world, "tier1", "core")
    return _stored[id(api_world)]


def _body(api_world: ApiWorld, number: str, **changes: Any) -> dict[str, Any]:
    body = {
        "seller_credit_code": api_world.world.tier1.credit_code,
        "invoice_code": "3100231130",
        "invoice_number": number,
        "buyer_id": api_world.world.core.id,
        "amount": "125000.50",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
        "document_hash": _document(api_world),
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
    assert (invoice["invoice_code"], invoice["invoice_number"]) == ("3100231130", "00001001")
    seller_hash = credit_code_hash(api_world.world.tier1.credit_code)
    assert invoice["key"] == "0x" + invoice_key(seller_hash, "3100231130", "00001001").hex()
    assert created.headers["X-Transaction-Hash"].startswith("0x")

    confirmed = _post(api_world, "core", f"/v1/invoices/{invoice['key']}/confirm", None)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    listed = api_world.client.get("/v1/invoices", headers=api_world.auth("core")).json()["items"]
    read_back = next(i for i in listed if i["key"] == invoice["key"])
    assert (read_back["issue_date"], read_back["due_date"]) == ("2026-11-01", "2027-02-01")


def test_the_same_invoice_again_is_a_duplicate(api_world: ApiWorld) -> None:
    first = _post(api_world, "tier1", "/v1/invoices", _body(api_world, "00001002"))
    assert first.status_code == 201
    before = _nonce(api_world, "tier1")
    again = _body(api_world, "00001002", amount="1.00", seller_credit_code=None)
    duplicate = _post(api_world, "tier1", "/v1/invoices", again)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"
    # the attempt is a failed transaction on the ledger (the test ledger, like the embedded
    # one, does not rehearse writes); the registered invoice is unchanged
    assert _nonce(api_world, "tier1") == before + 1
    path = f"/v1/invoices/{first.json()['key']}"
    assert api_world.client.get(path, headers=api_world.auth("tier1")).json() == first.json()


@pytest.mark.parametrize(
    ("code", "number", "problem"),
    [
        # the spellings of invoice ("4403123400", "00000001") that issue 21 registered anew
        ("4403123400", "000000001", "a VAT invoice_number has 8 digits, not 9"),
        ("", "440312340000000001", "whose invoice_number has 20 digits, not 18"),
        ("044031234", "00000001", "a VAT invoice_code has 10 or 12 digits, not 9"),
        ("4403123400", " ００００００01 ", "may contain only the digits 0-9"),
        ("4403123400", "", "a VAT invoice_number has 8 digits, not 0"),
        ("X", "", "may contain only the digits 0-9"),
    ],
)
def test_another_spelling_is_refused_naming_the_rule_not_normalized(
    api_world: ApiWorld, code: str, number: str, problem: str
) -> None:
    before = _nonce(api_world, "tier1")
    response = _post(
        api_world, "tier1", "/v1/invoices", _body(api_world, number, invoice_code=code)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_invoice_identity"
    assert problem in error["message"]
    assert "fully digital e-invoice" in error["details"]["rule"]
    assert _nonce(api_world, "tier1") == before  # refused before anything was signed


def test_a_fully_digital_e_invoice_has_no_code(api_world: ApiWorld) -> None:
    body = _body(api_world, "26440000000000001001", invoice_code="")
    created = _post(api_world, "tier1", "/v1/invoices", body)
    assert created.status_code == 201, created.text
    assert (created.json()["invoice_code"], created.json()["invoice_number"]) == (
        "",
        "26440000000000001001",
    )


def test_a_seller_registers_only_under_its_own_credit_code(api_world: ApiWorld) -> None:
    """The same code and number registered by two sellers are two invoices, each keyed by
    its own seller: no seller can take another's key first (squatting)."""
    number = "00001006"
    mine = _post(api_world, "tier1", "/v1/invoices", _body(api_world, number))
    body = _body(
        api_world,
        number,
        seller_credit_code=None,
        document_hash=stored_document(api_world, "tier2", "core"),
    )
    theirs = _post(api_world, "tier2", "/v1/invoices", body)
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert mine.json()["key"] != theirs.json()["key"]
    assert theirs.json()["seller_id"] == api_world.world.tier2.id
    claimed = _body(api_world, "00001007", seller_credit_code=api_world.world.tier1.credit_code)
    refused = _post(api_world, "tier2", "/v1/invoices", claimed)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "seller_mismatch")


def test_the_document_must_be_stored_on_the_platform_and_readable(api_world: ApiWorld) -> None:
    before = _nonce(api_world, "tier1")
    unknown = _post(
        api_world, "tier1", "/v1/invoices", _body(api_world, "00001008", document_hash=DOC)
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["error"]["code"] == "document_not_stored"
    assert unknown.json()["error"]["details"] == {"field": "document_hash", "hash": DOC}
    # stored, but by another member that did not share it with the seller
    strangers = stored_document(api_world, "tier2")
    hidden = _post(
        api_world, "tier1", "/v1/invoices", _body(api_world, "00001008", document_hash=strangers)
    )
    assert hidden.json()["error"]["code"] == "document_not_stored"
    shared = stored_document(api_world, "tier2", "tier1")  # tier 1 is a party: it may use it
    assert (
        _post(
            api_world, "tier1", "/v1/invoices", _body(api_world, "00001008", document_hash=shared)
        ).status_code
        == 201
    )
    assert _nonce(api_world, "tier1") == before + 1


def test_dates_must_be_plausible(api_world: ApiWorld) -> None:
    head = api_world.world.ledger.get_block("latest")["timestamp"]
    today = datetime.fromtimestamp(head, UTC).date()
    cases = [
        # not in the future: two days ahead is not "today" in any time zone
        (today + timedelta(days=2), today + timedelta(days=30), "InvoiceIssueDateInFuture"),
        # the due date after the issue date
        (today, today, "InvoiceInvalidDates"),
        # within the maximum tenor (365 days while governance set none)
        (today, today + timedelta(days=366), "InvoiceTenorTooLong"),
    ]
    for number, (issued, due, error) in enumerate(cases, start=1010):
        body = _body(
            api_world, f"{number:08d}", issue_date=issued.isoformat(), due_date=due.isoformat()
        )
        response = _post(api_world, "tier1", "/v1/invoices", body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["error"] == error
    too_long = response.json()["error"]["details"]["args"]
    assert too_long["maxTenorSeconds"] == 365 * 86_400
    ok = _body(
        api_world,
        "00001013",
        issue_date=today.isoformat(),
        due_date=(today + timedelta(days=365)).isoformat(),
    )
    assert _post(api_world, "tier1", "/v1/invoices", ok).status_code == 201


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
        (_body(api_world, "00000001", amount="0"), 422, "invalid_amount"),
        (_body(api_world, "1", document_hash="0x12"), 422, "validation_error"),
        (_body(api_world, "1", invoice_number="1" * 65), 422, "validation_error"),
        (_body(api_world, "1"), 422, "invalid_invoice_identity"),
        (_body(api_world, "00000001", seller_credit_code=other_code), 403, "seller_mismatch"),
        (_body(api_world, "00000001", seller_credit_code=bad_check), 422, "invalid_credit_code"),
        (_body(api_world, "00000001", document_hash=DOC), 422, "document_not_stored"),
    ]
    for body, status, code in cases:
        response = _post(api_world, "tier1", "/v1/invoices", body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert _post(api_world, "tier1", "/v1/invoices", "not json").status_code == 422
    assert _nonce(api_world, "tier1") == before
    # what only the contract knows is wrong: failed transactions, answered with its error
    refused = [
        (_body(api_world, "00000001", buyer_id=999), 409, "InvoiceInvalidBuyer"),
        (_body(api_world, "00000001", due_date="2026-10-01"), 422, "InvoiceInvalidDates"),
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
