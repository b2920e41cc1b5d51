"""Maker-checker (经办/复核) in the portal: with the member's switch on, a split transfer or a
financing request prepared by one user is only stored; an approver other than its maker
sees exactly the call and confirms it (then it is sent, once) or rejects it with a reason.
Refusals: the maker checking itself, a viewer preparing, an operator confirming, a stale
or repeated confirmation, the contract refusing at confirmation. Machine clients with the
API key are not held."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from api.readmodel.models import PortalAuditRow, PortalPendingActionRow
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import (
    PortalUser,
    create_user,
    csrf_of,
    idempotency_key_of,
    signed_in,
)
from tests.helpers import issue_certificate

FACE = 1_000_000_00
_PREPARED = re.compile(r"Prepared as action #(\d+)")


@pytest.fixture(scope="module")
def held(api_world: ApiWorld) -> int:
    """Tier 1's certificate, and maker-checker on for tier 1 (by its API key holder)."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, FACE)
    api_world.sync()
    switched = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("tier1")
    )
    assert switched.status_code == 200, switched.text
    return certificate


@pytest.fixture(scope="module")
def operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "operator")


@pytest.fixture(scope="module")
def approver(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "approver")


@pytest.fixture(scope="module")
def second_approver(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "approver")


def _holdings(api_world: ApiWorld, who: str) -> dict[int, str]:
    answer = api_world.client.get(
        "/v1/certificates",
        params={"holder_id": getattr(api_world.world, who).id},
        headers=api_world.auth(who),
    )
    return {c["id"]: c["value"] for c in answer.json()["items"]}


def _transfer_form(client: TestClient, certificate: int, to: int, amount: str) -> dict[str, str]:
    page = client.get("/portal/holdings")
    return {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "certificate_id": str(certificate),
        "to_member_id": str(to),
        "amount": amount,
    }


def _prepare(client: TestClient, certificate: int, to: int, amount: str) -> int:
    answer = client.post("/portal/transfers", data=_transfer_form(client, certificate, to, amount))
    assert answer.status_code == 200, answer.text
    found = _PREPARED.search(answer.text)
    assert found, answer.text
    return int(found.group(1))


def _decide(client: TestClient, action: int, verb: str, **form: str) -> Response:
    page = client.get("/portal/approvals")
    data = {"csrf_token": csrf_of(page), **form}
    answer: Response = client.post(f"/portal/approvals/{action}/{verb}", data=data)
    return answer


def _action(api_world: ApiWorld, action: int) -> PortalPendingActionRow:
    with api_world.sessions() as session:
        row = session.get(PortalPendingActionRow, action)
        assert row is not None
        session.expunge(row)
        return row


def _audit(api_world: ApiWorld, action: str) -> list[tuple[str, dict[str, Any]]]:
    with api_world.sessions() as session:
        rows = session.scalars(select(PortalAuditRow).where(PortalAuditRow.action == action))
        return [(r.outcome, json.loads(r.details)) for r in rows]


def test_the_key_holder_switches_maker_checker_through_rest(api_world: ApiWorld) -> None:
    read = api_world.client.get("/v1/portal/maker-checker", headers=api_world.auth("tier3"))
    assert read.json() == {"enabled": False, "changed_at": None, "changed_by": None}
    on = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("tier3")
    )
    assert on.status_code == 200
    assert on.json()["enabled"] is True
    assert on.json()["changed_by"] == "api_key"
    again = api_world.client.get("/v1/portal/maker-checker", headers=api_world.auth("tier3"))
    assert again.json() == on.json()
    # one member's switch is its own
    other = api_world.client.get("/v1/portal/maker-checker", headers=api_world.auth("tier2"))
    assert other.json()["enabled"] is False
    odd = api_world.client.post(
        "/v1/portal/maker-checker",
        json={"enabled": True, "member_id": api_world.world.tier2.id},
        headers=api_world.auth("tier3"),
    )
    assert odd.status_code == 422
    nobody = api_world.client.post("/v1/portal/maker-checker", json={"enabled": False})
    assert nobody.status_code == 401
    off = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": False}, headers=api_world.auth("tier3")
    )
    assert off.json()["enabled"] is False


def test_a_prepared_transfer_waits_and_the_approver_sees_exactly_the_call(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    maker = signed_in(api_world, operator)
    tier2 = api_world.world.tier2.id
    before = (_holdings(api_world, "tier1"), _holdings(api_world, "tier2"))
    form = _transfer_form(maker, held, tier2, "1200.00")
    first = maker.post("/portal/transfers", data=form)
    assert first.status_code == 200
    assert "Maker-checker is on" in first.text
    [action] = [int(n) for n in _PREPARED.findall(first.text)]
    # nothing moved; the same form again is the same pending action, not a second
    assert (_holdings(api_world, "tier1"), _holdings(api_world, "tier2")) == before
    again = maker.post("/portal/transfers", data=form)
    assert f"Prepared as action #{action}" in again.text
    with api_world.sessions() as session:
        rows = session.scalars(
            select(PortalPendingActionRow).where(
                PortalPendingActionRow.idempotency_key
                == f"portal-{operator.id}-" + form["idempotency_key"]
            )
        )
        assert len(list(rows)) == 1

    page = signed_in(api_world, approver).get("/portal/approvals")
    card = html.unescape(page.text.split(f'id="action-{action}"')[1].split("</article>")[0])
    assert f"POST /v1/certificates/{held}/transfers" in card
    assert json.dumps({"amount": "1200.00", "to_member_id": tier2}, indent=2) in card
    assert "Tier-2 Castings Ltd" in card
    assert "Prepared by tier1 clerk" in card
    assert "Confirm and send" in card
    # the maker sees it waiting, without the approver's buttons
    own = maker.get("/portal/approvals").text.split(f'id="action-{action}"')[1]
    assert "Confirm and send" not in own.split("</article>")[0]
    assert _action(api_world, action).status == "pending"


def test_the_approver_confirms_and_it_is_sent_once(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    maker = signed_in(api_world, operator)
    action = _prepare(maker, held, api_world.world.tier2.id, "2100.00")
    before = _holdings(api_world, "tier2")
    checker = signed_in(api_world, approver)
    stale = checker.get("/portal/approvals")  # the approver's page, before confirming
    done = _decide(checker, action, "confirm")
    assert done.status_code == 200, done.text
    assert f"Action #{action} was confirmed and sent." in done.text
    after = _holdings(api_world, "tier2")
    [child] = set(after) - set(before)
    assert after[child] == "2100.00"
    row = _action(api_world, action)
    assert (row.status, row.checker_id, row.maker_id) == ("done", approver.id, operator.id)
    assert json.loads(row.answer or "{}")["id"] == child
    confirmations = [d for outcome, d in _audit(api_world, "confirm_action") if outcome == "ok"]
    assert {
        "action_id": action,
        "kind": "split_transfer",
        "maker_id": operator.id,
        "checker_id": approver.id,
    } in confirmations
    assert any(
        outcome == "prepared" and d.get("pending_action_id") == action
        for outcome, d in _audit(api_world, "split_transfer")
    )

    # the stale page's form sent again: decided already, nothing sent a second time
    repeated = checker.post(
        f"/portal/approvals/{action}/confirm", data={"csrf_token": csrf_of(stale)}
    )
    assert repeated.status_code == 409
    assert "already decided" in repeated.text
    assert _holdings(api_world, "tier2") == after


def test_a_confirmation_sent_again_is_the_same_request_to_the_api(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    """Even past the portal's own guard (an action put back to pending, as a restore of
    the read model might), the key fixed at preparation makes the API answer the first
    transfer again rather than make a second."""
    action = _prepare(signed_in(api_world, operator), held, api_world.world.tier2.id, "3300.00")
    checker = signed_in(api_world, approver)
    assert _decide(checker, action, "confirm").status_code == 200
    after = _holdings(api_world, "tier2")
    first = json.loads(_action(api_world, action).answer or "{}")
    with api_world.sessions.begin() as session:
        session.execute(
            update(PortalPendingActionRow)
            .where(PortalPendingActionRow.id == action)
            .values(status="pending", checker_id=None, decided_at=None)
        )
    assert _decide(checker, action, "confirm").status_code == 200
    assert _holdings(api_world, "tier2") == after
    assert json.loads(_action(api_world, action).answer or "{}")["id"] == first["id"]


def test_the_maker_may_not_check_its_own_action(
    api_world: ApiWorld, held: int, approver: PortalUser, second_approver: PortalUser
) -> None:
    own = signed_in(api_world, approver)  # an approver may prepare; another one checks it
    action = _prepare(own, held, api_world.world.tier2.id, "10.00")
    before = _holdings(api_world, "tier2")
    refused = _decide(own, action, "confirm")
    assert refused.status_code == 403
    assert "another approver must confirm it" in refused.text
    assert _decide(own, action, "reject", reason="changed my mind").status_code == 403
    assert _action(api_world, action).status == "pending"
    assert _holdings(api_world, "tier2") == before
    assert ("maker_may_not_check", {"action_id": action, "checker_id": approver.id}) in _audit(
        api_world, "confirm_action"
    )
    assert _decide(signed_in(api_world, second_approver), action, "confirm").status_code == 200
    assert len(_holdings(api_world, "tier2")) == len(before) + 1


def test_an_operator_may_not_confirm_and_a_viewer_may_not_prepare(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    action = _prepare(signed_in(api_world, approver), held, api_world.world.tier2.id, "11.00")
    other_operator = signed_in(api_world, create_user(api_world, "tier1", "operator"))
    refused = _decide(other_operator, action, "confirm")
    assert refused.status_code == 403
    assert "Only an approver" in refused.text
    assert _action(api_world, action).status == "pending"

    viewer = signed_in(api_world, create_user(api_world, "tier1", "viewer"))
    page = viewer.get("/portal/holdings")
    data = {
        "csrf_token": csrf_of(page),
        "idempotency_key": "viewer-try",
        "certificate_id": str(held),
        "to_member_id": str(api_world.world.tier2.id),
        "amount": "1.00",
    }
    answer = viewer.post("/portal/transfers", data=data)
    assert answer.status_code == 403
    with api_world.sessions() as session:
        assert not list(
            session.scalars(
                select(PortalPendingActionRow).where(
                    PortalPendingActionRow.idempotency_key.like("%viewer-try")
                )
            )
        )
    # nor switch maker-checker off
    switched = viewer.post(
        "/portal/maker-checker", data={"csrf_token": csrf_of(page), "enabled": "false"}
    )
    assert switched.status_code == 403
    state = api_world.client.get("/v1/portal/maker-checker", headers=api_world.auth("tier1"))
    assert state.json()["enabled"] is True


def test_a_refusal_by_the_contract_at_confirmation_is_shown_in_words(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    too_much = "99999999.00"  # more than the certificate holds: prepared, refused when sent
    action = _prepare(signed_in(api_world, operator), held, api_world.world.tier2.id, too_much)
    before = _holdings(api_world, "tier1")
    checker = signed_in(api_world, approver)
    refused = _decide(checker, action, "confirm")
    assert refused.status_code == 409, refused.text  # the API's status for this revert
    assert "The certificate&#39;s value is less than the amount." in refused.text
    assert "CertificateInsufficientValue" in refused.text
    row = _action(api_world, action)
    assert (row.status, row.checker_id) == ("refused", approver.id)
    assert json.loads(row.answer or "{}")["details"]["error"] == "CertificateInsufficientValue"
    assert _holdings(api_world, "tier1") == before
    # the decided list keeps the refusal, in words
    listed = checker.get("/portal/approvals").text
    line = listed.split(f'<tr data-action="{action}">')[1].split("</tr>")[0]
    assert "refused at confirmation" in line
    assert "value is less than the amount" in html.unescape(line)
    assert "already decided" in _decide(checker, action, "confirm").text  # not sent again


def test_the_approver_rejects_with_a_reason(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    action = _prepare(signed_in(api_world, operator), held, api_world.world.tier2.id, "5.00")
    checker = signed_in(api_world, approver)
    nameless = _decide(checker, action, "reject", reason="  ")
    assert nameless.status_code == 422
    assert "Say why you reject it." in nameless.text
    before = _holdings(api_world, "tier2")
    rejected = _decide(checker, action, "reject", reason="wrong recipient <b>")
    assert rejected.status_code == 200
    assert f"Action #{action} was rejected: nothing was sent." in rejected.text
    assert "wrong recipient &lt;b&gt;" in rejected.text  # the reason is text
    row = _action(api_world, action)
    assert (row.status, row.reason, row.checker_id) == (
        "rejected",
        "wrong recipient <b>",
        approver.id,
    )
    assert _decide(checker, action, "confirm").status_code == 409
    assert _holdings(api_world, "tier2") == before
    assert (
        "ok",
        {
            "action_id": action,
            "kind": "split_transfer",
            "maker_id": operator.id,
            "checker_id": approver.id,
            "reason": "wrong recipient <b>",
        },
    ) in _audit(api_world, "reject_action")


def test_another_members_action_is_not_found(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    action = _prepare(signed_in(api_world, operator), held, api_world.world.tier2.id, "6.00")
    outsider = signed_in(api_world, create_user(api_world, "tier2", "approver"))
    assert _decide(outsider, action, "confirm").status_code == 404
    assert f'id="action-{action}"' not in outsider.get("/portal/approvals").text
    assert _action(api_world, action).status == "pending"


def test_a_financing_request_waits_for_the_approver(
    api_world: ApiWorld, held: int, operator: PortalUser, approver: PortalUser
) -> None:
    maker = signed_in(api_world, operator)
    page = maker.get("/portal/financing")
    form = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "certificate_id": str(held),
        "financier_id": str(api_world.world.bank.id),
        "amount": "40000.00",
        "max_rate_bps": "600",
        "expires_on": "2099-01-01",
    }
    files = {"agreement": ("agreement.txt", b"factoring agreement", "text/plain")}
    prepared = maker.post("/portal/financing", data=form, files=files)
    assert prepared.status_code == 200, prepared.text
    [action] = [int(n) for n in _PREPARED.findall(prepared.text)]
    listed = api_world.client.get("/v1/financing-requests", headers=api_world.auth("tier1"))
    before = {r["id"] for r in listed.json()["items"]}
    done = _decide(signed_in(api_world, approver), action, "confirm")
    assert done.status_code == 200, done.text
    listed = api_world.client.get("/v1/financing-requests", headers=api_world.auth("tier1"))
    [created] = [r for r in listed.json()["items"] if r["id"] not in before]
    assert (created["amount"], created["max_rate_bps"]) == ("40000.00", 600)


def test_machine_clients_are_not_held(api_world: ApiWorld, held: int) -> None:
    before = _holdings(api_world, "tier2")
    sent = api_world.client.post(
        f"/v1/certificates/{held}/transfers",
        json={"to_member_id": api_world.world.tier2.id, "amount": "7.00"},
        headers=api_world.auth("tier1"),
    )
    assert sent.status_code == 201, sent.text
    assert len(_holdings(api_world, "tier2")) == len(before) + 1


def test_an_approver_switches_maker_checker_off_in_the_portal(api_world: ApiWorld) -> None:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier2, 1_000_00)
    api_world.sync()
    on = api_world.client.post(
        "/v1/portal/maker-checker", json={"enabled": True}, headers=api_world.auth("tier2")
    )
    assert on.status_code == 200
    approver = create_user(api_world, "tier2", "approver")
    client = signed_in(api_world, approver)
    operator = signed_in(api_world, create_user(api_world, "tier2", "operator"))
    page = operator.get("/portal/approvals")
    assert "Switch maker-checker" not in page.text  # an operator has no switch
    refused = operator.post(
        "/portal/maker-checker", data={"csrf_token": csrf_of(page), "enabled": "false"}
    )
    assert refused.status_code == 403
    page = client.get("/portal/approvals")
    assert "Maker-checker is on" in page.text
    off = client.post(
        "/portal/maker-checker", data={"csrf_token": csrf_of(page), "enabled": "false"}
    )
    assert off.status_code == 200
    assert "Maker-checker is now off for your member." in off.text
    setting = api_world.client.get("/v1/portal/maker-checker", headers=api_world.auth("tier2"))
    assert setting.json()["changed_by"] == f"user:{approver.id}"
    # now the approver's transfer is sent at once
    before = _holdings(api_world, "tier3")
    form = _transfer_form(client, certificate, w.tier3.id, "1.00")
    sent = client.post("/portal/transfers", data=form)
    assert "now holds certificate" in sent.text
    assert len(_holdings(api_world, "tier3")) == len(before) + 1
    assert ("ok", {"enabled": False}) in _audit(api_world, "switch_maker_checker")


def _left_sending(api_world: ApiWorld, action: int, seconds_ago: int) -> None:
    """As if the node stopped after the confirmation and before the API's answer."""
    with api_world.sessions.begin() as session:
        session.execute(
            update(PortalPendingActionRow)
            .where(PortalPendingActionRow.id == action)
            .values(status="sending", decided_at=int(time.time()) - seconds_ago, answer=None)
        )


def test_an_action_left_sending_is_sent_again_once(
    api_world: ApiWorld,
    held: int,
    operator: PortalUser,
    approver: PortalUser,
    second_approver: PortalUser,
) -> None:
    action = _prepare(signed_in(api_world, operator), held, api_world.world.tier2.id, "44.00")
    _left_sending(api_world, action, seconds_ago=5)
    checker = signed_in(api_world, approver)
    page = checker.get("/portal/approvals")
    line = page.text.split(f'<tr data-action="{action}">')[1].split("</tr>")[0]
    assert "being sent" in line
    assert "Send again (same request)" in line
    before = _holdings(api_world, "tier2")
    # just confirmed: it may still be on its way, so not yet
    early = checker.post(
        f"/portal/approvals/{action}/send-again", data={"csrf_token": csrf_of(page)}
    )
    assert early.status_code == 409
    assert "This action is being sent." in early.text
    assert _holdings(api_world, "tier2") == before

    _left_sending(api_world, action, seconds_ago=600)
    maker = signed_in(api_world, operator)  # not an approver: no button, refused
    assert (
        "Send again"
        not in maker.get("/portal/approvals")
        .text.split(f'<tr data-action="{action}">')[1]
        .split("</tr>")[0]
    )
    sent = checker.post(
        f"/portal/approvals/{action}/send-again", data={"csrf_token": csrf_of(page)}
    )
    assert sent.status_code == 200, sent.text
    after = _holdings(api_world, "tier2")
    [child] = set(after) - set(before)
    assert after[child] == "44.00"
    row = _action(api_world, action)
    assert (row.status, row.checker_id) == ("done", approver.id)

    # had it been sent before the node stopped, sending again is the same request
    _left_sending(api_world, action, seconds_ago=600)
    again = _decide(signed_in(api_world, second_approver), action, "send-again")
    assert again.status_code == 200, again.text
    assert _holdings(api_world, "tier2") == after
    assert json.loads(_action(api_world, action).answer or "{}")["id"] == child
    assert any(
        outcome == "ok" and d["action_id"] == action
        for outcome, d in _audit(api_world, "send_action_again")
    )
