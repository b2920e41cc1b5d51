"""A core enterprise issues a root certificate from the portal against invoices it
confirmed, drawing on one of its credit lines (``POST /v1/certificates``): what the form
offers, the certificate the API then shows, the contract's refusals in words, viewers
and suppliers refused, and the issuance held for an approver under maker-checker."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
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
from tests.helpers import confirmed_invoice, grant_line


@pytest.fixture(scope="module")
def core_operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "core", "operator")


@pytest.fixture(scope="module")
def line(api_world: ApiWorld) -> int:
    w = api_world.world
    granted = grant_line(w, w.bank, w.core, 500_000_00)
    api_world.sync()
    return granted


def _confirmed(api_world: ApiWorld, amount: int) -> str:
    w = api_world.world
    key = confirmed_invoice(w, w.tier1, w.core, amount)
    api_world.sync()
    return "0x" + key.hex()


def _maturity(api_world: ApiWorld, days: int = 60) -> str:
    now = int(api_world.world.ledger.get_block("latest")["timestamp"])
    return (datetime.fromtimestamp(now, UTC) + timedelta(days=days)).date().isoformat()


def _issue(client: TestClient, **form: Any) -> Response:
    page = client.get("/portal/issued")
    # a page without a form (a viewer's) has no key: a forged form makes one up
    key = idempotency_key_of(page) if "idempotency_key" in page.text else str(uuid.uuid4())
    data = {"csrf_token": csrf_of(page), "idempotency_key": key, **form}
    answer: Response = client.post("/portal/issued/certificates", data=data)
    return answer


def _held_by_tier1(api_world: ApiWorld) -> dict[int, dict[str, Any]]:
    listed = api_world.client.get(
        "/v1/certificates",
        params={"holder_id": api_world.world.tier1.id, "limit": 500},
        headers=api_world.auth("tier1"),
    ).json()["items"]
    return {c["id"]: c for c in listed}


def test_the_core_enterprise_issues_against_a_confirmed_invoice(
    api_world: ApiWorld, core_operator: PortalUser, line: int
) -> None:
    key = _confirmed(api_world, 40_000_00)
    client = signed_in(api_world, core_operator)
    form = client.get("/portal/issued").text.split('id="issue"')[1].split("</section>")[0]
    assert f'value="{key}"' in form
    assert "Tier-1 Parts Ltd" in form
    assert f'<option value="{line}">' in form
    before = _held_by_tier1(api_world)
    maturity = _maturity(api_world)
    done = _issue(
        client,
        holder_id=str(api_world.world.tier1.id),
        face_value="40000.00",
        maturity=maturity,
        credit_line_id=str(line),
        invoice_keys=[key],
    )
    assert done.status_code == 200, done.text
    assert "of 40000.00 was issued to Tier-1 Parts Ltd" in done.text
    [new] = set(_held_by_tier1(api_world)) - set(before)
    issued = _held_by_tier1(api_world)[new]
    assert (issued["value"], issued["maturity"], issued["parent_id"]) == ("40000.00", maturity, 0)
    invoice = api_world.client.get(f"/v1/invoices/{key}", headers=api_world.auth("core")).json()
    assert invoice["status"] == "assigned"
    assert f'value="{key}"' not in done.text  # no longer offered


def test_the_contracts_refusal_is_shown_in_words(
    api_world: ApiWorld, core_operator: PortalUser, line: int
) -> None:
    key = _confirmed(api_world, 10_000_00)
    client = signed_in(api_world, core_operator)
    before = _held_by_tier1(api_world)
    refused = _issue(
        client,
        holder_id=str(api_world.world.tier1.id),
        face_value="900000.00",  # more than the line has left
        maturity=_maturity(api_world),
        credit_line_id=str(line),
        invoice_keys=[key],
    )
    assert refused.status_code in (409, 422), refused.text
    assert 'role="alert"' in refused.text
    assert _held_by_tier1(api_world) == before
    no_invoice = _issue(
        client,
        holder_id=str(api_world.world.tier1.id),
        face_value="1.00",
        maturity=_maturity(api_world),
        credit_line_id=str(line),
    )
    assert no_invoice.status_code == 422  # the form needs an invoice


def test_viewers_and_suppliers_do_not_issue(api_world: ApiWorld, line: int) -> None:
    key = _confirmed(api_world, 5_000_00)
    form = {
        "holder_id": str(api_world.world.tier1.id),
        "face_value": "5000.00",
        "maturity": _maturity(api_world),
        "credit_line_id": str(line),
        "invoice_keys": [key],
    }
    viewer = signed_in(api_world, create_user(api_world, "core", "viewer"))
    assert 'id="issue-certificate"' not in viewer.get("/portal/issued").text
    assert _issue(viewer, **form).status_code == 403
    supplier = signed_in(api_world, create_user(api_world, "tier1", "operator"))
    assert 'id="issue-certificate"' not in supplier.get("/portal/issued").text
    refused = _issue(supplier, **form)
    assert refused.status_code in (403, 404), refused.text
    assert 'role="alert"' in refused.text


def test_under_maker_checker_an_issuance_waits_for_the_approver(
    api_world: ApiWorld, core_operator: PortalUser, line: int
) -> None:
    key = _confirmed(api_world, 7_000_00)
    api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("core")
    )
    try:
        before = _held_by_tier1(api_world)
        prepared = _issue(
            signed_in(api_world, core_operator),
            holder_id=str(api_world.world.tier1.id),
            face_value="7000.00",
            maturity=_maturity(api_world),
            credit_line_id=str(line),
            invoice_keys=[key],
        )
        found = re.search(r"Prepared as action #(\d+)", prepared.text)
        assert found, prepared.text
        assert _held_by_tier1(api_world) == before
        approver = signed_in(api_world, create_user(api_world, "core", "approver"))
        waiting = approver.get("/portal/approvals")
        card = waiting.text.split(f'id="action-{found.group(1)}"')[1].split("</article>")[0]
        assert "POST /v1/certificates" in card
        assert "Tier-1 Parts Ltd" in card
        assert "7000.00" in card
        confirmed = approver.post(
            f"/portal/approvals/{found.group(1)}/confirm", data={"csrf_token": csrf_of(waiting)}
        )
        assert confirmed.status_code == 200, confirmed.text
        [new] = set(_held_by_tier1(api_world)) - set(before)
        assert _held_by_tier1(api_world)[new]["value"] == "7000.00"
    finally:
        api_world.client.post(
            "/v1/portal/maker-checker", json={"enabled": False}, headers=api_world.auth("core")
        )
