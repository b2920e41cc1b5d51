"""The financier's financing inbox: requests addressed to it with the ledger's quote,
approval at a rate within the terms (held for an approver under maker-checker), and
rejection with reasons the requester reads; refusals in words."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import (
    PortalUser,
    create_user,
    csrf_of,
    idempotency_key_of,
    signed_in,
)
from tests.helpers import AGREEMENT, issue_certificate, mint, request_financing

REASON = "Outside our limit for this core enterprise this quarter"


@pytest.fixture(scope="module")
def held(api_world: ApiWorld) -> int:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, 1_000_000_00)
    mint(w, w.bank, w.bank, 1_000_000_00)
    api_world.sync()
    return certificate


@pytest.fixture(scope="module")
def credit_officer(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "bank", "operator")


def _ask(api_world: ApiWorld, certificate: int, amount: int) -> int:
    w = api_world.world
    request = request_financing(w, w.tier1, certificate, w.bank, amount, max_rate_bps=600)
    api_world.sync()
    return request


def _request(api_world: ApiWorld, request: int) -> dict[str, Any]:
    listed = api_world.client.get(
        "/v1/financing-requests", params={"limit": 500}, headers=api_world.auth("bank")
    ).json()["items"]
    [found] = [r for r in listed if r["id"] == request]
    return dict(found)


def _decide(client: TestClient, request: int, verb: str, **form: str) -> Response:
    page = client.get("/portal/inbox")
    data = {"csrf_token": csrf_of(page), "idempotency_key": idempotency_key_of(page), **form}
    answer: Response = client.post(f"/portal/inbox/{request}/{verb}", data=data)
    return answer


def _approve(client: TestClient, request: int, rate: int) -> Response:
    return _decide(client, request, "approve", rate_bps=str(rate), agreement_hash=_agreement())


def _agreement() -> str:
    return "0x" + AGREEMENT.hex()


def test_the_inbox_shows_the_request_and_its_terms(
    api_world: ApiWorld, held: int, credit_officer: PortalUser
) -> None:
    request = _ask(api_world, held, 100_000_00)
    page = signed_in(api_world, credit_officer).get("/portal/inbox")
    card = page.text.split(f'data-request="{request}"')[1].split("</article>")[0]
    assert "Tier-1 Parts Ltd" in card
    assert "100000.00" in card
    assert "<dd>600</dd>" in card  # the highest rate the requester accepts
    assert f'name="agreement_hash" value="{_agreement()}"' in card
    # the price before approval: the ledger's quote at the requester's highest rate, to
    # the certificate's maturity, which the financier may read while it is asked
    quote = api_world.client.get(
        "/v1/financing-requests/quote",
        params={"amount": "100000.00", "rate_bps": 600, "certificate_id": held},
        headers=api_world.auth("tier1"),
    ).json()
    assert f'<dd data-quoted="{request}">{quote["price"]}</dd>' in card
    assert "1000000.00 — Core Motors Group" in card  # the root's face value and issuer
    # another financier's inbox does not show it
    other = signed_in(api_world, create_user(api_world, "core", "operator")).get("/portal/inbox")
    assert f'data-request="{request}"' not in other.text


def test_the_financier_approves_within_the_terms(
    api_world: ApiWorld, held: int, credit_officer: PortalUser
) -> None:
    request = _ask(api_world, held, 50_000_00)
    client = signed_in(api_world, credit_officer)
    too_dear = _approve(client, request, 700)
    assert too_dear.status_code >= 400
    assert "The rate is above what the requester accepts." in too_dear.text
    assert _request(api_world, request)["status"] == "pending"
    before = api_world.client.get("/v1/settlement/balance", headers=api_world.auth("tier1"))
    done = _approve(client, request, 500)
    assert done.status_code == 200, done.text
    approved = _request(api_world, request)
    assert (approved["status"], approved["rate_bps"]) == ("approved", 500)
    assert f"{approved['price']} was paid to Tier-1 Parts Ltd." in done.text
    after = api_world.client.get("/v1/settlement/balance", headers=api_world.auth("tier1"))
    paid = Decimal(after.json()["balance"]) - Decimal(before.json()["balance"])
    assert f"{paid:.2f}" == approved["price"]
    row = done.text.split(f'<tr data-request="{request}">')[1].split("</tr>")[0]
    assert "approved and paid" in row
    # decided: a second approval is refused in words, not paid twice
    again = _approve(client, request, 500)
    assert again.status_code == 409
    assert "no longer waiting for a decision" in again.text


def test_the_financier_rejects_with_reasons_the_requester_reads(
    api_world: ApiWorld, held: int, credit_officer: PortalUser
) -> None:
    request = _ask(api_world, held, 20_000_00)
    client = signed_in(api_world, credit_officer)
    assert _decide(client, request, "reject", reason="").status_code == 422
    done = _decide(client, request, "reject", reason=REASON)
    assert done.status_code == 200, done.text
    assert f"Financing request #{request} is now rejected." in done.text
    assert _request(api_world, request)["status"] == "rejected"
    reasons = "0x" + hashlib.sha256(REASON.encode()).hexdigest()
    seen = api_world.client.get(f"/v1/documents/{reasons}", headers=api_world.auth("tier1"))
    assert seen.status_code == 200, seen.text


def test_only_the_financier_decides_and_a_viewer_does_not(api_world: ApiWorld, held: int) -> None:
    request = _ask(api_world, held, 10_000_00)
    requester = signed_in(api_world, create_user(api_world, "tier1", "approver"))
    page = requester.get("/portal/inbox")
    assert f'data-request="{request}"' not in page.text
    refused = requester.post(
        f"/portal/inbox/{request}/approve",
        data={
            "csrf_token": csrf_of(page),
            "idempotency_key": "requester-try",
            "rate_bps": "500",
            "agreement_hash": _agreement(),
        },
    )
    assert refused.status_code == 403, refused.text
    assert "Only the financier the request names may decide it." in refused.text
    viewer = signed_in(api_world, create_user(api_world, "bank", "viewer"))
    page = viewer.get("/portal/inbox")
    assert 'action="/portal/inbox/' not in page.text
    tried = viewer.post(
        f"/portal/inbox/{request}/approve",
        data={
            "csrf_token": csrf_of(page),
            "idempotency_key": "viewer-try",
            "rate_bps": "500",
            "agreement_hash": _agreement(),
        },
    )
    assert tried.status_code == 403
    assert _request(api_world, request)["status"] == "pending"


def test_under_maker_checker_an_approval_waits_for_the_approver(
    api_world: ApiWorld, held: int, credit_officer: PortalUser
) -> None:
    request = _ask(api_world, held, 30_000_00)
    on = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("bank")
    )
    assert on.status_code == 200
    try:
        prepared = _approve(signed_in(api_world, credit_officer), request, 550)
        assert prepared.status_code == 200, prepared.text
        found = re.search(r"Prepared as action #(\d+)", prepared.text)
        assert found, prepared.text
        assert _request(api_world, request)["status"] == "pending"
        approver = signed_in(api_world, create_user(api_world, "bank", "approver"))
        waiting = approver.get("/portal/approvals")
        card = waiting.text.split(f'id="action-{found.group(1)}"')[1].split("</article>")[0]
        assert f"POST /v1/financing-requests/{request}/approve" in card
        assert "Financing approval" in card
        confirmed = approver.post(
            f"/portal/approvals/{found.group(1)}/confirm", data={"csrf_token": csrf_of(waiting)}
        )
        assert confirmed.status_code == 200, confirmed.text
        approved = _request(api_world, request)
        assert (approved["status"], approved["rate_bps"]) == ("approved", 550)
    finally:
        api_world.client.post(
            "/v1/portal/maker-checker", json={"enabled": False}, headers=api_world.auth("bank")
        )
