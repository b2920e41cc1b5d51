"""Settlement, financing and maturity routes refuse the wrong member, state and input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiWorld
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


def _request(api_world: ApiWorld, certificate: int, amount: str = "100000.00") -> Any:
    now = datetime.fromtimestamp(int(api_world.world.ledger.get_block("latest")["timestamp"]), UTC)
    body = {
        "certificate_id": certificate,
        "financier_id": api_world.world.bank.id,
        "amount": amount,
        "agreement_hash": DOC,
        "expires_at": (now + timedelta(days=3)).isoformat(),
    }
    return _post(api_world, "tier3", "/v1/financing-requests", body)


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
    refused = _post(api_world, "tier3", f"{path}/approve", {"rate_bps": 300})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_the_financier")
    assert _post(api_world, "bank", f"{path}/approve", {"rate_bps": 10_001}).status_code == 422
    cancelled = _post(api_world, "tier3", f"{path}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    late = _post(api_world, "bank", f"{path}/approve", {"rate_bps": 300})
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


def test_maturity_refusals(api_world: ApiWorld, holding: int) -> None:
    assert _post(api_world, "tier1", "/v1/repayments", {"root_id": holding}).status_code == 404
    early = _post(api_world, "tier3", f"/v1/certificates/{holding}/redeem")
    assert _error(early) == (409, "CertificateRootNotRepaid")
    assert _post(api_world, "tier2", f"/v1/certificates/{holding}/redeem").status_code == 404
    assert _post(api_world, "core", "/v1/repayments", {"root_id": 0}).status_code == 422
