"""/v1/portal/users: a member's API key holder invites, lists and disables its portal
users; each sets its own password with its one-time invitation code at /portal/welcome."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from api.portal.passwords import verify_password
from api.readmodel.models import OperationRow, PortalAuditRow, PortalUserRow
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import PASSWORD, accept, browser, create_user, invite, sign_in

BODY = {"name": "Li Wei", "role": "approver"}


def _audit(api_world: ApiWorld, action: str) -> list[PortalAuditRow]:
    with api_world.sessions() as session:
        query = select(PortalAuditRow).where(PortalAuditRow.action == action)
        return list(session.scalars(query.order_by(PortalAuditRow.id)))


def test_an_invited_user_sets_its_own_password_kept_only_as_an_argon2_hash(
    api_world: ApiWorld,
) -> None:
    answer = api_world.client.post(
        "/v1/portal/users",
        json={**BODY, "email": "  Li.Wei@Tier2.example "},
        headers=api_world.auth("tier2"),
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    code = created.pop("invitation_code")
    assert len(code) >= 32
    assert created.pop("invitation_expires_at").endswith("Z")
    assert created == {
        "id": created["id"],
        "member_id": api_world.world.tier2.id,
        "name": "Li Wei",
        "email": "li.wei@tier2.example",
        "role": "approver",
        "totp": False,
        "invited": True,
        "disabled": False,
        "totp_uri": None,
    }
    assert sign_in(browser(api_world), "li.wei@tier2.example", PASSWORD).status_code == 401
    welcome = accept(browser(api_world), "LI.WEI@tier2.example", code)
    assert (welcome.status_code, welcome.headers["location"]) == (
        303,
        "/portal/sign-in?welcome=1",
    )
    assert sign_in(browser(api_world), "li.wei@tier2.example", PASSWORD).status_code == 303
    with api_world.sessions() as session:
        row = session.get(PortalUserRow, created["id"])
        assert row is not None
        assert row.password_hash is not None
        assert row.password_hash.startswith("$argon2id$")
        assert verify_password(row.password_hash, PASSWORD)
        assert (row.invitation_hash, row.invitation_expires_at) == (None, None)
    entry = _audit(api_world, "create_portal_user")[-1]
    assert (entry.member_id, json.loads(entry.details)["user_id"]) == (
        api_world.world.tier2.id,
        created["id"],
    )
    assert _audit(api_world, "accept_invitation")[-1].user_id == created["id"]
    listed = api_world.client.get("/v1/portal/users", headers=api_world.auth("tier2")).json()
    assert next(u for u in listed["items"] if u["id"] == created["id"])["invited"] is False


def test_an_invitation_code_works_once_for_its_own_email(api_world: ApiWorld) -> None:
    mine, theirs = invite(api_world, "tier1"), invite(api_world, "tier1")
    swapped = accept(browser(api_world), mine["email"], theirs["invitation_code"])
    assert swapped.status_code == 401
    assert "invitation code is not right" in swapped.text
    assert accept(browser(api_world), mine["email"], mine["invitation_code"]).status_code == 303
    again = accept(browser(api_world), mine["email"], mine["invitation_code"], "another password")
    assert again.status_code == 401
    assert sign_in(browser(api_world), mine["email"], "another password").status_code == 401
    assert _audit(api_world, "accept_invitation")[-1].outcome == "invitation_refused"


def test_a_short_or_mistyped_password_is_refused_and_the_code_still_works(
    api_world: ApiWorld,
) -> None:
    invitation = invite(api_world, "tier1")
    email, code = invitation["email"], invitation["invitation_code"]
    short = accept(browser(api_world), email, code, "short")
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    differ = accept(browser(api_world), email, code, PASSWORD, again=PASSWORD + "!")
    assert differ.status_code == 422
    assert "The two passwords differ." in differ.text
    assert accept(browser(api_world), email, code).status_code == 303


def test_an_expired_invitation_is_refused(api_world: ApiWorld) -> None:
    invitation = invite(api_world, "tier1")
    with api_world.sessions.begin() as session:
        row = session.get(PortalUserRow, invitation["id"])
        assert row is not None
        assert row.invitation_expires_at is not None
        row.invitation_expires_at -= 8 * 86400
    refused = accept(browser(api_world), invitation["email"], invitation["invitation_code"])
    assert refused.status_code == 401


def test_an_email_is_one_users_whatever_its_case(api_world: ApiWorld) -> None:
    body = {**BODY, "email": "same@tier3.example"}
    first = api_world.client.post("/v1/portal/users", json=body, headers=api_world.auth("tier3"))
    assert first.status_code == 201
    again = {**body, "email": "SAME@tier3.example"}
    for member in ("tier3", "bank"):  # not for the same member, nor for another
        second = api_world.client.post(
            "/v1/portal/users", json=again, headers=api_world.auth(member)
        )
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "portal_user_exists"


def test_bad_input_is_refused(api_world: ApiWorld) -> None:
    for body in (
        {**BODY, "email": "not an e-mail"},
        {**BODY, "email": "a@b.example", "role": "admin"},
        {**BODY, "email": "a@b.example", "name": ""},
        {**BODY, "email": "a@b.example", "password": "no password passes through the API"},
    ):
        answer = api_world.client.post(
            "/v1/portal/users", json=body, headers=api_world.auth("tier1")
        )
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "validation_error"


def test_without_an_api_key_nothing_is_created_or_listed(api_world: ApiWorld) -> None:
    created = api_world.client.post("/v1/portal/users", json={**BODY, "email": "x@y.example"})
    assert created.status_code == 401
    assert api_world.client.get("/v1/portal/users").status_code == 401
    forged = {"Authorization": "Bearer scf_forged"}
    assert api_world.client.get("/v1/portal/users", headers=forged).status_code == 401


def test_a_member_lists_disables_and_reinvites_only_its_own_users(api_world: ApiWorld) -> None:
    mine = create_user(api_world, "core", "viewer")
    theirs = create_user(api_world, "bank", "operator")
    listed = api_world.client.get("/v1/portal/users", headers=api_world.auth("core")).json()
    emails = [u["email"] for u in listed["items"]]
    assert mine.email in emails
    assert theirs.email not in emails
    for path, body in (
        (f"/v1/portal/users/{theirs.id}/disable", None),
        ("/v1/portal/users/invitations", {"user_id": theirs.id}),
    ):
        refused = api_world.client.post(path, json=body, headers=api_world.auth("core"))
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"
    disabled = api_world.client.post(
        f"/v1/portal/users/{mine.id}/disable", headers=api_world.auth("core")
    )
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    # the other member's user still signs in; the disabled one no longer does
    assert sign_in(browser(api_world), theirs.email).status_code == 303
    assert sign_in(browser(api_world), mine.email).status_code == 401


def test_a_new_invitation_resets_the_password(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier2")
    answer = api_world.client.post(
        "/v1/portal/users/invitations", json={"user_id": user.id}, headers=api_world.auth("tier2")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["invited"] is True
    assert sign_in(browser(api_world), user.email).status_code == 401  # the old password
    new_code = answer.json()["invitation_code"]
    assert (
        accept(browser(api_world), user.email, new_code, "a brand new password").status_code == 303
    )
    assert sign_in(browser(api_world), user.email, "a brand new password").status_code == 303


def test_a_totp_user_gets_its_secret_once_as_an_otpauth_uri(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier1", totp=True)
    assert user.totp_uri is not None
    parts = urlsplit(user.totp_uri)
    assert parts.scheme == "otpauth"
    assert parse_qs(parts.query)["issuer"] == ["SCF Chain"]
    listed = api_world.client.get("/v1/portal/users", headers=api_world.auth("tier1")).json()
    shown = next(u for u in listed["items"] if u["id"] == user.id)
    assert shown["totp"] is True
    assert "totp_uri" not in shown
    assert parse_qs(parts.query)["secret"][0] not in json.dumps(listed)


def test_a_retried_invitation_is_answered_again_and_kept_sealed(api_world: ApiWorld) -> None:
    body = {**BODY, "email": "sealed@tier1.example", "totp": True}
    headers = {**api_world.auth("tier1"), "Idempotency-Key": "portal-user-" + "k" * 30}
    first = api_world.client.post("/v1/portal/users", json=body, headers=headers)
    again = api_world.client.post("/v1/portal/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the same user, not a second one or a 409
    code = first.json()["invitation_code"]
    secret = parse_qs(urlsplit(first.json()["totp_uri"]).query)["secret"][0]
    with api_world.sessions() as session:
        kept = session.scalars(
            select(OperationRow).where(OperationRow.path == "/v1/portal/users")
        ).all()
    assert kept
    assert all(row.response_sealed for row in kept)
    stored = " ".join(f"{row.response_body} {row.response_headers}" for row in kept)
    assert code not in stored
    assert secret not in stored
