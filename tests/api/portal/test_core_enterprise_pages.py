"""A core enterprise's screens: invoices to confirm or dispute (确权), the certificates it
issued with their lineage down every tier, and repayment (held for an approver under
maker-checker) — each through the REST API, with its refusals in words."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
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
from tests.helpers import issue_certificate, mint, register_invoice, split, travel_to

REASON = "Goods of order 4471 were returned on 2026-11-20 <not accepted>"


@pytest.fixture(scope="module")
def core_operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "core", "operator")


def _invoice(api_world: ApiWorld, key: bytes) -> dict[str, Any]:
    answer = api_world.client.get(f"/v1/invoices/0x{key.hex()}", headers=api_world.auth("core"))
    found: dict[str, Any] = answer.json()
    return found


def _decide_invoice(client: TestClient, key: bytes, verb: str, **form: str) -> Response:
    page = client.get("/portal/invoices")
    data = {"csrf_token": csrf_of(page), "idempotency_key": idempotency_key_of(page), **form}
    answer: Response = client.post(f"/portal/invoices/0x{key.hex()}/{verb}", data=data)
    return answer


def test_the_buyer_confirms_an_invoice(api_world: ApiWorld, core_operator: PortalUser) -> None:
    w = api_world.world
    key = register_invoice(w, w.tier1, w.core, 12_345_00)
    api_world.sync()
    client = signed_in(api_world, core_operator)
    page = client.get("/portal/invoices")
    waiting = page.text.split('id="to-confirm"')[1].split("</section>")[0]
    assert f'data-invoice="0x{key.hex()}"' in waiting
    assert "Tier-1 Parts Ltd" in waiting
    assert "12345.00" in waiting
    form = {"csrf_token": csrf_of(page), "idempotency_key": idempotency_key_of(page)}
    done = client.post(f"/portal/invoices/0x{key.hex()}/confirm", data=form)
    assert done.status_code == 200, done.text
    assert "is now confirmed by the buyer" in done.text
    assert _invoice(api_world, key)["status"] == "confirmed"
    assert f'data-invoice="0x{key.hex()}"' not in done.text.split('id="invoices"')[0]
    # the same form again is the same request (the API's stored answer), not a refusal
    again = client.post(f"/portal/invoices/0x{key.hex()}/confirm", data=form)
    assert again.status_code == 200
    # a new confirmation of a confirmed invoice is the contract's refusal, in words
    refused = _decide_invoice(client, key, "confirm")
    assert refused.status_code == 409, refused.text
    assert "no longer waiting for the buyer" in refused.text
    assert "InvoiceInvalidStatus" in refused.text


def test_the_buyer_disputes_an_invoice_with_its_reasons(
    api_world: ApiWorld, core_operator: PortalUser
) -> None:
    w = api_world.world
    key = register_invoice(w, w.tier1, w.core, 5_000_00)
    api_world.sync()
    client = signed_in(api_world, core_operator)
    nameless = _decide_invoice(client, key, "dispute", reason="")
    assert nameless.status_code == 422
    assert _invoice(api_world, key)["status"] == "registered"
    done = _decide_invoice(client, key, "dispute", reason=REASON)
    assert done.status_code == 200, done.text
    assert "is now disputed" in done.text
    assert _invoice(api_world, key)["status"] == "disputed"
    # the reasons are a document the seller reads, named by their hash on the ledger
    reasons = "0x" + hashlib.sha256(REASON.encode()).hexdigest()
    seen = api_world.client.get(f"/v1/documents/{reasons}", headers=api_world.auth("tier1"))
    assert seen.status_code == 200, seen.text
    assert REASON.encode() in seen.content or REASON in seen.text


def test_only_the_buyer_decides_and_a_viewer_does_not(
    api_world: ApiWorld, core_operator: PortalUser
) -> None:
    w = api_world.world
    key = register_invoice(w, w.tier1, w.core, 1_000_00)
    api_world.sync()
    seller = signed_in(api_world, create_user(api_world, "tier1", "operator"))
    refused = _decide_invoice(seller, key, "confirm")
    assert refused.status_code in (403, 404), refused.text
    assert "refusal" in refused.text
    viewer = signed_in(api_world, create_user(api_world, "core", "viewer"))
    page = viewer.get("/portal/invoices")
    assert 'action="/portal/invoices/0x' not in page.text  # no buttons for a viewer
    tried = viewer.post(
        f"/portal/invoices/0x{key.hex()}/confirm",
        data={"csrf_token": csrf_of(page), "idempotency_key": "viewer-try"},
    )
    assert tried.status_code == 403
    assert _invoice(api_world, key)["status"] == "registered"
    odd = viewer.post(
        "/portal/invoices/0x12/confirm",
        data={"csrf_token": csrf_of(page), "idempotency_key": "k"},
    )
    assert odd.status_code == 422


@pytest.fixture(scope="module")
def tree(api_world: ApiWorld) -> tuple[int, int, int]:
    """The core's root held by tier 1, split to tier 2, split again to tier 3."""
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier1, 300_000_00)
    child = split(w, w.tier1, root, w.tier2, 100_000_00)
    grandchild = split(w, w.tier2, child, w.tier3, 40_000_00)
    api_world.sync()
    return root, child, grandchild


def test_the_issuer_sees_its_roots_and_their_lineage_down_every_tier(
    api_world: ApiWorld, core_operator: PortalUser, tree: tuple[int, int, int]
) -> None:
    root, child, grandchild = tree
    client = signed_in(api_world, core_operator)
    page = client.get("/portal/issued")
    assert page.status_code == 200
    row = page.text.split(f'<tr data-root="{root}">')[1].split("</tr>")[0]
    assert "Tier-1 Parts Ltd" in row
    assert "300000.00" in row
    assert "to repay at maturity" in row
    drawn = client.get("/portal/issued", params={"root": root})
    listed = drawn.text.split('<ul class="lineage">')[1].split("</section>")[0]
    for certificate, holder, value in (
        (root, "Tier-1 Parts Ltd", "200000.00"),
        (child, "Tier-2 Castings Ltd", "60000.00"),
        (grandchild, "Tier-3 Screws Ltd", "40000.00"),
    ):
        assert f'data-certificate="{certificate}">#{certificate} — {holder} — {value}' in listed
    # the grandchild sits under the child, under the root
    assert listed.index(f"#{root} ") < listed.index(f"#{child} ") < listed.index(f"#{grandchild} ")
    data = re.search(r'id="lineage-data">(.*?)</script>', drawn.text, re.S)
    assert data is not None
    chart = json.loads(html.unescape(data.group(1)))
    assert chart["id"] == root
    assert chart["children"][0]["id"] == child
    assert chart["children"][0]["children"][0]["id"] == grandchild
    # as the REST API draws it, for the same member
    lineage = api_world.client.get(
        f"/v1/certificates/{root}/lineage", headers=api_world.auth("core")
    ).json()
    assert lineage["children"][0]["children"][0]["value"] == "40000.00"


def test_a_root_the_member_may_not_see_is_not_found(
    api_world: ApiWorld, tree: tuple[int, int, int]
) -> None:
    root, _child, _grandchild = tree
    stranger = signed_in(api_world, create_user(api_world, "bank", "operator"))
    page = stranger.get("/portal/issued", params={"root": root})
    assert page.status_code == 404
    assert "That certificate was not found, or your member may not see it." in page.text
    assert "Your member has issued no certificates." in stranger.get("/portal/issued").text


def _repay(client: TestClient, root: int) -> Response:
    page = client.get("/portal/issued")
    data = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "root_id": str(root),
    }
    answer: Response = client.post("/portal/repayments", data=data)
    return answer


def _repaid(api_world: ApiWorld, root: int) -> bool:
    """Whether the root is repaid, as the API's aging report says."""
    aged = api_world.client.get(
        "/v1/risk/overdue", params={"limit": 500}, headers=api_world.auth("core")
    ).json()["items"]
    live = [a for a in aged if a["root_id"] == root]
    assert live
    return all(a["repaid"] for a in live)


def test_the_issuer_repays_and_a_short_balance_is_refused_in_words(
    api_world: ApiWorld, core_operator: PortalUser
) -> None:
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier1, 20_000_00)
    api_world.sync()
    client = signed_in(api_world, core_operator)
    balance = api_world.client.get("/v1/settlement/balance", headers=api_world.auth("core"))
    assert balance.json()["balance"] == "0.00"
    short = _repay(client, root)
    assert short.status_code >= 400, short.text
    assert 'role="alert"' in short.text
    assert "The request was refused" not in short.text  # a refusal in words, not a code
    assert not _repaid(api_world, root)

    mint(w, w.bank, w.core, 20_000_00)
    api_world.sync()
    viewer = signed_in(api_world, create_user(api_world, "core", "viewer"))
    page = viewer.get("/portal/issued")
    assert 'action="/portal/repayments"' not in page.text  # no button for a viewer
    tried = viewer.post(
        "/portal/repayments",
        data={"csrf_token": csrf_of(page), "idempotency_key": "viewer-try", "root_id": str(root)},
    )
    assert tried.status_code == 403
    done = _repay(client, root)
    assert done.status_code == 200, done.text
    assert f"Certificate #{root} is repaid: 20000.00." in done.text
    assert _repaid(api_world, root)
    row = done.text.split(f'<tr data-root="{root}">')[1].split("</tr>")[0]
    assert "repaid" in row
    assert 'action="/portal/repayments"' not in row


def test_under_maker_checker_a_repayment_waits_for_the_approver(
    api_world: ApiWorld, core_operator: PortalUser
) -> None:
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier2, 8_000_00)
    mint(w, w.bank, w.core, 8_000_00)
    api_world.sync()
    on = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("core")
    )
    assert on.status_code == 200
    try:
        prepared = _repay(signed_in(api_world, core_operator), root)
        assert prepared.status_code == 200, prepared.text
        found = re.search(r"Prepared as action #(\d+)", prepared.text)
        assert found, prepared.text
        assert not _repaid(api_world, root)
        approver = signed_in(api_world, create_user(api_world, "core", "approver"))
        waiting = approver.get("/portal/approvals")
        card = waiting.text.split(f'id="action-{found.group(1)}"')[1].split("</article>")[0]
        assert "POST /v1/repayments" in card
        assert f"#{root}" in card
        confirmed = approver.post(
            f"/portal/approvals/{found.group(1)}/confirm", data={"csrf_token": csrf_of(waiting)}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert _repaid(api_world, root)
    finally:
        api_world.client.post(
            "/v1/portal/maker-checker", json={"enabled": False}, headers=api_world.auth("core")
        )


def test_the_holder_redeems_at_maturity_once_the_root_is_repaid(api_world: ApiWorld) -> None:
    """Last in the module: it moves the ledger's clock past maturity."""
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier1, 9_000_00)
    mint(w, w.bank, w.core, 9_000_00)
    api_world.sync()
    repaid = api_world.client.post(
        "/v1/repayments", json={"root_id": root}, headers=api_world.auth("core")
    )
    assert repaid.status_code == 201, repaid.text
    holder = signed_in(api_world, create_user(api_world, "tier1", "operator"))
    label = f"Redeem certificate #{root}: 9000.00"
    assert label not in holder.get("/portal/holdings").text  # repaid, not yet matured

    maturity = api_world.client.get(
        f"/v1/certificates/{root}", headers=api_world.auth("tier1")
    ).json()["maturity"]
    # the chain helper's maturity is not at midnight: the day after is past it
    day = datetime.fromisoformat(maturity).replace(tzinfo=UTC)
    travel_to(w.ledger, int(day.timestamp()) + 86_400)
    api_world.sync()
    page = holder.get("/portal/holdings")
    assert label in page.text
    before = Decimal(_balance(api_world, "tier1"))
    data = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "certificate_id": str(root),
    }
    done = holder.post("/portal/redemptions", data=data)
    assert done.status_code == 200, done.text
    assert f"Certificate #{root} is redeemed: 9000.00 was paid" in done.text
    assert Decimal(_balance(api_world, "tier1")) - before == Decimal("9000.00")
    assert label not in done.text  # nothing left to redeem
    again = holder.post("/portal/redemptions", data={**data, "idempotency_key": "again"})
    assert again.status_code >= 400
    assert 'role="alert"' in again.text
    assert Decimal(_balance(api_world, "tier1")) - before == Decimal("9000.00")


def _balance(api_world: ApiWorld, who: str) -> str:
    answer = api_world.client.get("/v1/settlement/balance", headers=api_world.auth(who))
    return str(answer.json()["balance"])
