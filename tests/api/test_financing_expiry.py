"""POST /v1/financing-requests/{id}/expire: a pending request closes from its expires_at on
and the escrowed value returns to the certificate; its parties may do it, no one else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.services.api_keys import issue_key
from tests.api.conftest import ApiWorld
from tests.api.writes import agreement, approval, post, sent_count
from tests.helpers import DAY, issue_certificate, mint, now


@pytest.fixture(scope="module")
def holding(api_world: ApiWorld) -> int:
    """A certificate of 500,000.00 held by tier3, issued by core, maturing in 90 days; the
    bank holds settlement tokens to approve with; the operator has an auditor's key."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier3, 500_000_00)
    mint(w, w.bank, w.bank, 100_000_00)
    api_world.sync()
    operator_id = int(w.consortium.members.call("memberOf", w.governor.address))
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    return certificate


def _request(api_world: ApiWorld, certificate: int, *, expires_in: int = 3 * DAY) -> int:
    expires_at = datetime.fromtimestamp(now(api_world.world.ledger) + expires_in, UTC)
    body = {
        "certificate_id": certificate,
        "financier_id": api_world.world.bank.id,
        "amount": "10000.00",
        "max_rate_bps": 1000,
        "agreement_hash": agreement(api_world),
        "expires_at": expires_at.isoformat(),
    }
    created = post(api_world, "tier3", "/v1/financing-requests", body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _expire(api_world: ApiWorld, who: str, request_id: int, key: str | None = None) -> Any:
    return post(api_world, who, f"/v1/financing-requests/{request_id}/expire", key=key)


def _refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["details"].get("error")


def _locked(api_world: ApiWorld, certificate: int) -> str:
    shown = api_world.client.get(f"/v1/certificates/{certificate}", headers=api_world.auth("tier3"))
    assert shown.status_code == 200, shown.text
    return str(shown.json()["locked"])


def _status(api_world: ApiWorld, request_id: int) -> str:
    listed = api_world.client.get("/v1/financing-requests", headers=api_world.auth("tier3"))
    (found,) = [r for r in listed.json()["items"] if r["id"] == request_id]
    return str(found["status"])


def test_before_expiry_the_request_stays_pending(api_world: ApiWorld, holding: int) -> None:
    request_id = _request(api_world, holding)
    for who in ("tier3", "bank"):
        refused = _expire(api_world, who, request_id)
        assert _refusal(refused) == (409, "contract_revert", "FinancingRequestNotExpired")
        assert refused.json()["error"]["details"]["args"]["requestId"] == request_id
    assert _status(api_world, request_id) == "pending"
    assert _locked(api_world, holding) == "10000.00"


def test_outsiders_and_bad_ids_learn_nothing(api_world: ApiWorld, holding: int) -> None:
    request_id = _request(api_world, holding)
    before = {who: sent_count(api_world, who) for who in ("tier1", "core")}
    for who in ("tier1", "core"):  # the certificate's issuer is no party to the request
        refused = _expire(api_world, who, request_id)
        assert _refusal(refused) == (404, "financing_request_not_found", None)
        assert "10000.00" not in refused.text
    assert {who: sent_count(api_world, who) for who in ("tier1", "core")} == before
    auditor = _expire(api_world, "auditor", request_id)
    assert _refusal(auditor) == (403, "auditor_read_only", None)  # auditors write nothing
    assert _refusal(_expire(api_world, "tier3", 999_999)) == (
        404,
        "financing_request_not_found",
        None,
    )
    for bad in ("0", "-1", "abc", str(2**64)):
        response = post(api_world, "tier3", f"/v1/financing-requests/{bad}/expire")
        assert response.status_code == 422, (bad, response.text)
    unauthenticated = api_world.client.post(f"/v1/financing-requests/{request_id}/expire")
    assert unauthenticated.status_code == 401
    assert _status(api_world, request_id) == "pending"


def test_closed_requests_cannot_expire(api_world: ApiWorld, holding: int) -> None:
    cancelled = _request(api_world, holding)
    assert post(api_world, "tier3", f"/v1/financing-requests/{cancelled}/cancel").status_code == 200
    approved = _request(api_world, holding)
    done = post(
        api_world, "bank", f"/v1/financing-requests/{approved}/approve", approval(api_world, 300)
    )
    assert done.status_code == 200, done.text
    api_world.world.ledger.increase_time(4 * DAY)  # both are past their expiry now
    for request_id, status in ((cancelled, "cancelled"), (approved, "approved")):
        refused = _expire(api_world, "tier3", request_id)
        assert _refusal(refused) == (409, "contract_revert", "FinancingInvalidStatus")
        assert refused.json()["error"]["details"]["args"]["status"] == status
    assert (_status(api_world, cancelled), _status(api_world, approved)) == (
        "cancelled",
        "approved",
    )


def test_after_expiry_a_party_releases_the_escrow(api_world: ApiWorld, holding: int) -> None:
    locked_before = _locked(api_world, holding)  # the test above expired none of these
    by_financier = _request(api_world, holding, expires_in=DAY)
    by_requester = _request(api_world, holding, expires_in=DAY)
    assert _locked(api_world, holding) != locked_before
    api_world.world.ledger.increase_time(DAY)

    sent = sent_count(api_world, "bank")
    expired = _expire(api_world, "bank", by_financier, key="expire-1")
    assert expired.status_code == 200, expired.text
    assert expired.json()["id"] == by_financier
    assert expired.json()["status"] == "expired"
    assert expired.json()["amount"] == "10000.00"
    # the same key again answers the stored response and sends nothing
    replay = _expire(api_world, "bank", by_financier, key="expire-1")
    assert (replay.status_code, replay.json()) == (200, expired.json())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert sent_count(api_world, "bank") == sent + 1
    # without the key it is a second request, which the ledger refuses
    again = _expire(api_world, "bank", by_financier)
    assert _refusal(again) == (409, "contract_revert", "FinancingInvalidStatus")

    by_requester_expired = _expire(api_world, "tier3", by_requester)
    assert by_requester_expired.json()["status"] == "expired", by_requester_expired.text
    assert _locked(api_world, holding) == locked_before
    # the released value moves again
    transfer = post(
        api_world,
        "tier3",
        f"/v1/certificates/{holding}/transfers",
        {"to_member_id": api_world.world.tier2.id, "amount": "20000.00"},
    )
    assert transfer.status_code == 201, transfer.text
