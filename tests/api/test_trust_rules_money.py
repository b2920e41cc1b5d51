"""Issue 21 items 4 and 5 over HTTP: a financier's issuance cap, escrow and MIN_SPLIT, and
suspended members paying and collecting what is owed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chain.deploy import DEFAULT_ISSUANCE_CAP
from tests.api.conftest import ApiWorld
from tests.api.writes import agreement
from tests.helpers import (
    DAY,
    MIN_SPLIT,
    govern,
    issue_certificate,
    mint,
    root,
    set_parameter,
    suspend,
    travel_to,
)

DOC = "0x" + "34" * 32
MINT = "/v1/settlement/mint"


def _post(api_world: ApiWorld, who: str, path: str, body: Any = None) -> Any:
    return api_world.client.post(path, json=body, headers=api_world.auth(who))


def _get(api_world: ApiWorld, who: str, path: str) -> Any:
    return api_world.client.get(path, headers=api_world.auth(who))


def _issuance(api_world: ApiWorld, who: str = "bank") -> dict[str, Any]:
    response = _get(api_world, who, f"/v1/settlement/issuance/{api_world.world.bank.id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_financier_reads_its_issuance_and_no_one_else_does(api_world: ApiWorld) -> None:
    w = api_world.world
    before = _issuance(api_world)
    assert before["member_id"] == w.bank.id
    assert before["cap"] == f"{DEFAULT_ISSUANCE_CAP // 100}.00"
    assert before["own_cap"] is False
    for who, member_id in (("tier1", w.bank.id), ("bank", w.tier1.id), ("bank", 999)):
        hidden = _get(api_world, who, f"/v1/settlement/issuance/{member_id}")
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["error"]["code"] == "financier_not_found"
    assert api_world.client.get(f"/v1/settlement/issuance/{w.bank.id}").status_code == 401


def test_minting_beyond_the_cap_is_refused_by_name_and_burning_frees_room(
    api_world: ApiWorld,
) -> None:
    w = api_world.world
    outstanding = int(w.consortium.settlement.call("issuanceOf", w.bank.id)[0])
    cap = outstanding + 1_000_00
    govern(w.consortium, w.governor, (w.consortium.settlement, "setIssuanceCap", (w.bank.id, cap)))
    shown = _issuance(api_world)
    assert (shown["available"], shown["own_cap"]) == ("1000.00", True)

    body = {"to_member_id": w.tier1.id, "amount": "600.00", "bank_reference": DOC}
    assert _post(api_world, "bank", MINT, body).status_code == 201
    refused = _post(api_world, "bank", MINT, body)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]["error"]) == (
        "contract_revert",
        "SettlementIssuanceCapExceeded",
    )
    assert error["details"]["args"] == {
        "financierId": w.bank.id,
        "outstanding": f"{(outstanding + 600_00) // 100}.00",
        "amount": "600.00",
        "cap": f"{cap // 100}.00",
    }
    assert _issuance(api_world)["available"] == "400.00"

    own = body | {"to_member_id": w.bank.id, "amount": "300.00"}  # its own deposit
    assert _post(api_world, "bank", MINT, own).status_code == 201
    assert _issuance(api_world)["available"] == "100.00"
    withdrawal = {"amount": "300.00", "bank_reference": DOC}
    burned = _post(api_world, "bank", "/v1/settlement/burn", withdrawal)
    assert burned.status_code == 200, burned.text
    assert _issuance(api_world)["available"] == "400.00"  # the burn freed its room
    assert _post(api_world, "bank", MINT, body | {"amount": "400.00"}).status_code == 201
    settlement = w.consortium.settlement
    govern(
        w.consortium, w.governor, (settlement, "setIssuanceCap", (w.bank.id, DEFAULT_ISSUANCE_CAP))
    )


def test_a_second_escrow_may_not_leave_a_piece_below_the_minimum(api_world: ApiWorld) -> None:
    w = api_world.world
    set_parameter(w.consortium, w.governor, MIN_SPLIT, 100_00)
    certificate = issue_certificate(w, w.core, w.tier3, 1_000_00)
    api_world.sync()
    now = datetime.fromtimestamp(int(w.ledger.get_block("latest")["timestamp"]), UTC)
    request = {
        "certificate_id": certificate,
        "financier_id": w.bank.id,
        "amount": "500.00",
        "max_rate_bps": 500,
        "agreement_hash": agreement(api_world),
        "expires_at": (now + timedelta(days=3)).isoformat(),
    }
    assert _post(api_world, "tier3", "/v1/financing-requests", request).status_code == 201
    second = _post(api_world, "tier3", "/v1/financing-requests", request | {"amount": "450.00"})
    assert second.status_code == 422, second.text
    assert second.json()["error"]["details"]["error"] == "CertificateBelowMinimumSplit"
    assert second.json()["error"]["details"]["args"] == {"amount": "50.00", "minimum": "100.00"}
    third = _post(api_world, "tier3", "/v1/financing-requests", request | {"amount": "400.00"})
    assert third.status_code == 201, third.text
    set_parameter(w.consortium, w.governor, MIN_SPLIT, 0)


def test_suspended_members_still_repay_and_redeem_but_do_nothing_else(
    api_world: ApiWorld,
) -> None:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier2, 2_000_00, maturity_in=20 * DAY)
    mint(w, w.bank2, w.core, 2_000_00)
    suspend(w, w.core)
    suspend(w, w.tier2)
    api_world.sync()
    try:
        for who in ("core", "tier2"):
            frozen = _get(api_world, who, "/v1/certificates")
            assert (frozen.status_code, frozen.json()["error"]["code"]) == (403, "forbidden")
        pay = {"to_member_id": w.tier1.id, "amount": "1.00"}
        frozen = _post(api_world, "core", "/v1/settlement/transfers", pay)
        assert frozen.status_code == 403

        repaid = _post(api_world, "core", "/v1/repayments", {"root_id": certificate})
        assert repaid.status_code == 201, repaid.text
        assert repaid.json()["repaid"] is True
        travel_to(w.ledger, root(w.consortium, certificate).maturity)
        redeemed = _post(api_world, "tier2", f"/v1/certificates/{certificate}/redeem")
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["amount"] == "2000.00"
        assert int(w.consortium.settlement.call("balanceOf", w.tier2.address)) == 2_000_00
    finally:
        for member in (w.core, w.tier2):
            govern(
                w.consortium, w.governor, (w.consortium.members, "reinstateMember", (member.id,))
            )
        api_world.sync()
