"""Settlement, financing and maturity routes refuse the wrong member, state and input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiWorld
from tests.api.writes import agreement, approval, stored_document
from tests.helpers import issue_certificate

DOC = "0x" + "12" * 32


def _post(api_world: ApiWorld, who: str, path: str, body: Any = None) -> Any:
    return api_world.client.post(path, json=body, headers=api_world.auth(who))


def _error(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.json()["error"]["details"].get("error")


@pytest.fixture(scope="module")
def holding(api_world: ApiWorld) -> int:
    """A certificate of 300,000.00 held by tier3, issued by core."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier3, 300_000_00)
    api_world.sync()
    return certificate


def _request(
    api_world: ApiWorld, certificate: int, amount: str = "100000.00", **changes: Any
) -> Any:
    now = datetime.fromtimestamp(int(api_world.world.ledger.get_block("latest")["timestamp"]), UTC)
    body = {
        "certificate_id": certificate,
        "financier_id": api_world.world.bank.id,
        "amount": amount,
        "max_rate_bps": 500,
        "agreement_hash": agreement(api_world),
        "expires_at": (now + timedelta(days=3)).isoformat(),
    }
    return _post(api_world, "tier3", "/v1/financing-requests", body | changes)


def test_settlement_refusals(api_world: ApiWorld) -> None:
    w = api_world.world
    mint = {"to_member_id": w.tier1.id, "amount": "10.00", "bank_reference": DOC}
    assert _error(_post(api_world, "tier1", "/v1/settlement/mint", mint)) == (
        403,
        "MemberUnauthorizedAccount",
    )
    burn = _post(
        api_world, "bank", "/v1/settlement/burn", {"amount": "1.00", "bank_reference": DOC}
    )
    assert burn.status_code == 409
    pay = _post(
        api_world,
        "tier2",
        "/v1/settlement/transfers",
        {"to_member_id": w.tier1.id, "amount": "1.00"},
    )
    assert pay.status_code == 409
    bad = _post(api_world, "bank", "/v1/settlement/mint", mint | {"amount": "1.001"})
    assert bad.status_code == 422
    # the operator's key is not held by this node: it is paid at its bound account
    elsewhere = _post(api_world, "bank", "/v1/settlement/mint", mint | {"to_member_id": 1})
    assert elsewhere.status_code == 201, elsewhere.text
    assert elsewhere.json()["account"] == api_world.world.governor.address
    assert elsewhere.json()["balance"] == "10.00"
    nobody = _post(api_world, "bank", "/v1/settlement/mint", mint | {"to_member_id": 999})
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (404, "member_not_found")
    assert api_world.client.get("/v1/settlement/balance").status_code == 401


def test_financing_state_machine_refusals(api_world: ApiWorld, holding: int) -> None:
    created = _request(api_world, holding)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["status"] == "pending"
    path = f"/v1/financing-requests/{request['id']}"
    assert _post(api_world, "tier2", f"{path}/reject", {"reason_hash": DOC}).status_code == 404
    w = api_world.world
    hub = w.consortium.financing.address

    def allowance(who: str) -> int:
        owner = getattr(w, who).address
        return int(w.consortium.settlement.call("allowance", owner, hub))

    before = {who: allowance(who) for who in ("tier3", "bank")}
    refused = _post(api_world, "tier3", f"{path}/approve", approval(api_world, 300))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_the_financier")
    assert (
        _post(api_world, "bank", f"{path}/approve", approval(api_world, 10_001)).status_code == 422
    )
    assert _post(api_world, "bank", f"{path}/approve", {"rate_bps": 300}).status_code == 422
    # worse terms than the requester's, or another agreement: refused by name, nothing signed
    above = _post(api_world, "bank", f"{path}/approve", approval(api_world, 501))
    assert _error(above) == (409, "FinancingRateAboveAccepted")
    assert above.json()["error"]["details"]["args"] == {
        "requestId": request["id"],
        "rateBps": 501,
        "maxRateBps": 500,
    }
    other = _post(api_world, "bank", f"{path}/approve", {"rate_bps": 300, "agreement_hash": DOC})
    assert _error(other) == (409, "FinancingAgreementMismatch")
    cancelled = _post(api_world, "tier3", f"{path}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    late = _post(api_world, "bank", f"{path}/approve", approval(api_world, 300))
    assert (late.status_code, late.json()["error"]["code"]) == (409, "financing_not_pending")
    # refused approvals leave nothing on the ledger, not even the token allowance
    assert {who: allowance(who) for who in ("tier3", "bank")} == before
    listed = api_world.client.get("/v1/financing-requests", headers=api_world.auth("bank")).json()
    assert [r["id"] for r in listed["items"]] == [request["id"]]
    assert (
        api_world.client.get("/v1/financing-requests", headers=api_world.auth("tier1")).json()[
            "total"
        ]
        == 0
    )
    too_much = _request(api_world, holding, amount="300000.01")
    assert _error(too_much) == (409, "CertificateInsufficientValue")


def test_a_request_carries_terms_and_a_stored_shared_agreement(
    api_world: ApiWorld, holding: int
) -> None:
    w = api_world.world
    before = w.ledger.get_transaction_count(w.tier3.address, "latest")
    created = _request(api_world, holding)
    assert _post(api_world, "tier3", "/v1/financing-requests", None).status_code == 422
    for changes, code in (
        ({"max_rate_bps": None}, "validation_error"),
        ({"max_rate_bps": 10_001}, "validation_error"),
        ({"max_rate_bps": -1}, "validation_error"),
        ({"agreement_hash": DOC}, "document_not_stored"),
        # stored by tier 3, but the bank is no party: it cannot have agreed to it
        ({"agreement_hash": stored_document(api_world, "tier3")}, "document_not_shared"),
    ):
        response = _request(api_world, holding, **changes)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code), changes
    assert w.ledger.get_transaction_count(w.tier3.address, "latest") == before + 1
    shown = created.json()
    assert (shown["max_rate_bps"], shown["agreement_hash"]) == (500, agreement(api_world))
    _post(api_world, "tier3", f"/v1/financing-requests/{shown['id']}/cancel")


def test_the_quote_is_the_ledgers_price(api_world: ApiWorld, holding: int) -> None:
    w = api_world.world
    params = {"amount": "100000.00", "rate_bps": "500", "certificate_id": str(holding)}
    quoted = api_world.client.get(
        "/v1/financing-requests/quote", params=params, headers=api_world.auth("tier3")
    )
    assert quoted.status_code == 200, quoted.text
    body = quoted.json()
    head = int(w.ledger.get_block("latest")["timestamp"])
    maturity = int(w.consortium.certificates.call("maturityOf", holding))
    days = int(w.consortium.financing.call("daysToMaturity", maturity, head))
    price, discount = w.consortium.financing.call("quote", 100_000_00, 500, days)
    assert body["days"] == days
    assert (body["price"], body["discount"]) == (f"{price / 100:.2f}", f"{discount / 100:.2f}")
    assert body["maturity"] == datetime.fromtimestamp(maturity, UTC).date().isoformat()
    by_day = api_world.client.get(
        "/v1/financing-requests/quote",
        params={"amount": "100000.00", "rate_bps": "500", "maturity": body["maturity"]},
        headers=api_world.auth("tier1"),
    )
    assert by_day.json()["price"] == body["price"]
    for bad in (
        {"amount": "1.00", "rate_bps": "500"},  # no maturity
        params | {"maturity": body["maturity"]},  # both
        params | {"rate_bps": "10001"},
        params | {"amount": "0.001"},
    ):
        refused = api_world.client.get(
            "/v1/financing-requests/quote", params=bad, headers=api_world.auth("tier3")
        )
        assert refused.status_code == 422, bad
    # a certificate the caller cannot see is not quoted
    hidden = api_world.client.get(
        "/v1/financing-requests/quote", params=params, headers=api_world.auth("tier1")
    )
    assert hidden.status_code == 404
    assert api_world.client.get("/v1/financing-requests/quote", params=params).status_code == 401


def test_maturity_refusals(api_world: ApiWorld, holding: int) -> None:
    assert _post(api_world, "tier1", "/v1/repayments", {"root_id": holding}).status_code == 404
    early = _post(api_world, "tier3", f"/v1/certificates/{holding}/redeem")
    assert _error(early) == (409, "CertificateRootNotRepaid")
    assert _post(api_world, "tier2", f"/v1/certificates/{holding}/redeem").status_code == 404
    assert _post(api_world, "core", "/v1/repayments", {"root_id": 0}).status_code == 422
