"""The whole supply-chain-finance story driven only through HTTP, balances to the fen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from api.money import format_amount
from api.wire import utc_midnight
from chain.pricing import quote_at
from tests.api.conftest import ApiWorld
from tests.api.times import iso_instant
from tests.api.writes import agreement, approval, stored_document

DOC = "0x" + "ef" * 32
DAY = 86_400


def test_core_to_tier3_discount_maturity_and_redemption(api_world: ApiWorld) -> None:
    w, client = api_world.world, api_world.client

    def post(who: str, path: str, body: Any = None) -> Any:
        response = client.post(path, json=body, headers=api_world.auth(who))
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    def balance(who: str) -> str:
        return str(
            client.get("/v1/settlement/balance", headers=api_world.auth(who)).json()["balance"]
        )

    chain_now = int(w.ledger.get_block("latest")["timestamp"])
    maturity_day = (datetime.fromtimestamp(chain_now, UTC) + timedelta(days=30)).date()

    # money in: the bank's deposits, and the core enterprise's cash for repayment
    post(
        "bank",
        "/v1/settlement/mint",
        {"to_member_id": w.bank.id, "amount": "10000000.00", "bank_reference": DOC},
    )
    post(
        "bank",
        "/v1/settlement/mint",
        {"to_member_id": w.core.id, "amount": "1000000.00", "bank_reference": DOC},
    )
    line = post(
        "bank",
        "/v1/credit-lines",
        {"borrower_id": w.core.id, "limit": "5000000.00", "expires_on": "2030-01-01"},
    )

    invoice_body = {
        "seller_credit_code": w.tier1.credit_code,
        "invoice_code": "4400231130",
        "invoice_number": "88000001",
        "buyer_id": w.core.id,
        "amount": "1000000.00",
        "issue_date": "2026-11-01",
        "due_date": "2027-01-31",
        "document_hash": stored_document(api_world, "tier1", "core"),
    }
    invoice = post("tier1", "/v1/invoices", invoice_body)
    post("core", f"/v1/invoices/{invoice['key']}/confirm")
    root = post(
        "core",
        "/v1/certificates",
        {
            "holder_id": w.tier1.id,
            "face_value": "1000000.00",
            "maturity": maturity_day.isoformat(),
            "credit_line_id": line["id"],
            "invoice_keys": [invoice["key"]],
        },
    )
    to_tier2 = post(
        "tier1",
        f"/v1/certificates/{root['id']}/transfers",
        {"to_member_id": w.tier2.id, "amount": "600000.00"},
    )
    to_tier3 = post(
        "tier2",
        f"/v1/certificates/{to_tier2['id']}/transfers",
        {"to_member_id": w.tier3.id, "amount": "200000.00"},
    )

    # a fraud attempt: the same invoice registered again is refused consortium-wide
    fraud = client.post(
        "/v1/invoices", json=invoice_body | {"amount": "999999.00"}, headers=api_world.auth("tier1")
    )
    assert fraud.status_code == 409
    assert fraud.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"

    # tier 3 discounts its certificate at the bank on its terms: it asks for a quote, then
    # accepts at most 5.00 %; a deadline given in Beijing time (+08:00) is answered in UTC
    quote = client.get(
        "/v1/financing-requests/quote",
        params={"amount": "200000.00", "rate_bps": "500", "certificate_id": to_tier3["id"]},
        headers=api_world.auth("tier3"),
    ).json()
    beijing = timezone(timedelta(hours=8))
    expires = datetime.fromtimestamp(chain_now + 7 * DAY, beijing).isoformat()
    request = post(
        "tier3",
        "/v1/financing-requests",
        {
            "certificate_id": to_tier3["id"],
            "financier_id": w.bank.id,
            "amount": "200000.00",
            "max_rate_bps": 500,
            "agreement_hash": agreement(api_world),
            "expires_at": expires,
        },
    )
    assert request["expires_at"] == iso_instant(chain_now + 7 * DAY)
    path = f"/v1/financing-requests/{request['id']}/approve"
    worse = client.post(path, json=approval(api_world, 501), headers=api_world.auth("bank"))
    assert worse.json()["error"]["details"]["error"] == "FinancingRateAboveAccepted"
    approved = post("bank", path, approval(api_world, 500))
    assert approved["status"] == "approved"
    at = int(w.ledger.get_block("latest")["timestamp"])
    expected = quote_at(200_000_00, 500, utc_midnight(maturity_day), at)
    assert approved["price"] == format_amount(expected.price)
    assert expected.price >= int(quote["price"].replace(".", ""))  # never less than quoted
    assert balance("tier3") == format_amount(expected.price)

    # maturity: the core enterprise repays, every holder redeems
    w.ledger.increase_time(31 * DAY)
    assert post("core", "/v1/repayments", {"root_id": root["id"]})["repaid"] is True
    assert post("tier1", f"/v1/certificates/{root['id']}/redeem")["amount"] == "400000.00"
    assert post("tier2", f"/v1/certificates/{to_tier2['id']}/redeem")["amount"] == "400000.00"
    financed = approved["financed_certificate_id"]
    assert post("bank", f"/v1/certificates/{financed}/redeem")["amount"] == "200000.00"

    assert balance("tier1") == "400000.00"
    assert balance("tier2") == "400000.00"
    assert balance("core") == "0.00"
    assert balance("bank") == format_amount(10_000_000_00 - expected.price + 200_000_00)
    tree = client.get(
        f"/v1/certificates/{root['id']}/lineage", headers=api_world.auth("core")
    ).json()
    assert tree["value"] == "0.00"
    assert tree["maturity"] == tree["children"][0]["maturity"] == maturity_day.isoformat()
    assert [c["holder_id"] for c in tree["children"]] == [w.tier2.id]
