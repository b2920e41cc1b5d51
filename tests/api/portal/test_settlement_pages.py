"""The settlement page: balances; a financier's issuance, mint and burn against a bank
record stored as a document (held for an approver under maker-checker); refusals."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

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

DEPOSIT = b"deposit slip 2026-12-06 no. 0042, 1500.00 CNY from tier 2"


@pytest.fixture(scope="module")
def treasurer(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "bank", "operator")


def _balance(api_world: ApiWorld, who: str) -> str:
    answer = api_world.client.get("/v1/settlement/balance", headers=api_world.auth(who))
    return str(answer.json()["balance"])


def _post(
    client: TestClient, action: str, form: dict[str, str], record: bytes = DEPOSIT
) -> Response:
    page = client.get("/portal/settlement")
    data = {"csrf_token": csrf_of(page), "idempotency_key": idempotency_key_of(page), **form}
    answer: Response = client.post(
        f"/portal/settlement/{action}",
        data=data,
        files={"record": ("record.txt", record, "text/plain")},
    )
    return answer


def test_a_financier_mints_against_a_deposit_record_and_burns(
    api_world: ApiWorld, treasurer: PortalUser
) -> None:
    client = signed_in(api_world, treasurer)
    page = client.get("/portal/settlement")
    assert 'id="outstanding"' in page.text
    before = _balance(api_world, "tier2")
    form = {"to_member_id": str(api_world.world.tier2.id), "amount": "1500.00"}
    minted = _post(client, "mint", form)
    assert minted.status_code == 200, minted.text
    after = _balance(api_world, "tier2")
    assert Decimal(after) - Decimal(before) == Decimal("1500.00")
    assert f"1500.00 minted; the recipient&#39;s balance is now {after}." in minted.text
    # the deposit record is the recipient's to read, named on the ledger by its hash
    record = "0x" + hashlib.sha256(DEPOSIT).hexdigest()
    seen = api_world.client.get(f"/v1/documents/{record}", headers=api_world.auth("tier2"))
    assert seen.status_code == 200

    to_itself = {"to_member_id": str(api_world.world.bank.id), "amount": "200.00"}
    own = _post(client, "mint", to_itself, record=b"deposit 2")
    assert own.status_code == 200, own.text
    bank_before = _balance(api_world, "bank")
    burned = _post(client, "burn", {"amount": "50.00"}, record=b"withdrawal 1")
    assert burned.status_code == 200, burned.text
    assert Decimal(bank_before) - Decimal(_balance(api_world, "bank")) == Decimal("50.00")
    too_much = _post(client, "burn", {"amount": "99999999.00"}, record=b"withdrawal 2")
    assert too_much.status_code >= 400
    assert "Your settlement balance is too low." in too_much.text


def test_no_mint_for_a_supplier_nor_a_viewer(api_world: ApiWorld) -> None:
    supplier = signed_in(api_world, create_user(api_world, "tier1", "approver"))
    page = supplier.get("/portal/settlement")
    assert page.status_code == 200
    assert 'id="mint"' not in page.text  # not a financier: no form
    before = _balance(api_world, "tier1")
    tried = supplier.post(
        "/portal/settlement/mint",
        data={
            "csrf_token": csrf_of(page),
            "idempotency_key": "supplier-try",
            "to_member_id": str(api_world.world.tier1.id),
            "amount": "1000.00",
        },
        files={"record": ("r.txt", b"forged deposit", "text/plain")},
    )
    assert tried.status_code == 403, tried.text
    assert _balance(api_world, "tier1") == before
    viewer = signed_in(api_world, create_user(api_world, "bank", "viewer"))
    page = viewer.get("/portal/settlement")
    assert 'id="mint"' not in page.text
    tried = viewer.post(
        "/portal/settlement/burn",
        data={"csrf_token": csrf_of(page), "idempotency_key": "viewer-try", "amount": "1.00"},
        files={"record": ("r.txt", b"withdrawal", "text/plain")},
    )
    assert tried.status_code == 403


def test_under_maker_checker_a_mint_waits_for_the_approver(
    api_world: ApiWorld, treasurer: PortalUser
) -> None:
    on = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("bank")
    )
    assert on.status_code == 200
    try:
        before = _balance(api_world, "tier3")
        form = {"to_member_id": str(api_world.world.tier3.id), "amount": "300.00"}
        prepared = _post(signed_in(api_world, treasurer), "mint", form, record=b"deposit 3")
        assert prepared.status_code == 200, prepared.text
        found = re.search(r"Prepared as action #(\d+)", prepared.text)
        assert found, prepared.text
        assert _balance(api_world, "tier3") == before
        approver = signed_in(api_world, create_user(api_world, "bank", "approver"))
        waiting = approver.get("/portal/approvals")
        card = waiting.text.split(f'id="action-{found.group(1)}"')[1].split("</article>")[0]
        assert "POST /v1/settlement/mint" in card
        assert "Tier-3 Screws Ltd" in card
        record = "0x" + hashlib.sha256(b"deposit 3").hexdigest()
        assert record in card
        confirmed = approver.post(
            f"/portal/approvals/{found.group(1)}/confirm", data={"csrf_token": csrf_of(waiting)}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert Decimal(_balance(api_world, "tier3")) - Decimal(before) == Decimal("300.00")
    finally:
        api_world.client.post(
            "/v1/portal/maker-checker", json={"enabled": False}, headers=api_world.auth("bank")
        )
