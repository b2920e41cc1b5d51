"""The portal's pages over the module's API: holdings as the REST API shows them, the
split-transfer form acting through it (and its refusals, in words), roles, CSRF, sessions
that end, escaping, the security headers, and nothing secret in a page."""

from __future__ import annotations

import html
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.portal.security import CONTENT_SECURITY_POLICY
from api.readmodel.models import PortalAuditRow, PortalSessionRow
from chain.roles import Role
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import (
    PortalUser,
    browser,
    create_user,
    csrf_of,
    idempotency_key_of,
    signed_in,
)
from tests.helpers import admit_member, issue_certificate

FACE = 1_000_000_00
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def held(api_world: ApiWorld) -> int:
    """A certificate of the core enterprise held by tier 1."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, FACE)
    api_world.sync()
    return certificate


@pytest.fixture(scope="module")
def operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "operator")


def _holdings(api_world: ApiWorld, who: str) -> dict[int, str]:
    answer = api_world.client.get(
        "/v1/certificates",
        params={"holder_id": getattr(api_world.world, who).id},
        headers=api_world.auth(who),
    )
    return {c["id"]: c["value"] for c in answer.json()["items"]}


def _transfer(client: TestClient, amount: str, to: int, certificate: int, **form: str) -> object:
    page = client.get("/portal/holdings")
    data = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "certificate_id": str(certificate),
        "to_member_id": str(to),
        "amount": amount,
        **form,
    }
    return client.post("/portal/transfers", data=data)


def test_holdings_show_what_the_rest_api_shows(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    page = signed_in(api_world, operator).get("/portal/holdings")
    assert page.status_code == 200
    certificate = api_world.client.get(
        f"/v1/certificates/{held}", headers=api_world.auth("tier1")
    ).json()
    row = page.text.split(f'data-certificate="{held}"')[1].split("</tr>")[0]
    for shown in (f"#{held}", "Core Motors Group", certificate["value"], certificate["maturity"]):
        assert shown in row
    assert "Signed in as tier1 clerk (operator (经办)) for Tier-1 Parts Ltd" in page.text


def test_the_page_speaks_chinese_by_accept_language_or_the_switch(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator, language="zh-CN,zh;q=0.9,en;q=0.5")
    page = client.get("/portal/holdings")
    assert '<html lang="zh-CN">' in page.text
    assert "持有的凭证" in page.text
    switched = client.get("/portal/language", params={"to": "en", "back": "/portal/holdings"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/portal/holdings")
    assert "Certificates held" in client.get("/portal/holdings").text
    # the switch only ever leads back into the portal
    away = client.get("/portal/language", params={"to": "en", "back": "https://evil.example/"})
    assert away.headers["location"] == "/portal/"


def test_an_operator_split_transfers_through_the_rest_api(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    tier2 = api_world.world.tier2.id
    before = _holdings(api_world, "tier2")
    page = client.get("/portal/holdings")
    form = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "certificate_id": str(held),
        "to_member_id": str(tier2),
        "amount": "1000.50",
    }
    done = client.post("/portal/transfers", data=form)
    assert done.status_code == 200, done.text
    after = _holdings(api_world, "tier2")
    [child] = set(after) - set(before)
    assert after[child] == "1000.50"
    assert f"Tier-2 Castings Ltd now holds certificate #{child} of 1000.50." in done.text
    assert _holdings(api_world, "tier1")[held] == "998999.50"
    # the same form sent again (a reload, a double click) is the same transfer, not a second
    again = client.post("/portal/transfers", data=form)
    assert again.status_code == 200
    assert _holdings(api_world, "tier2") == after
    with api_world.sessions() as session:
        entry = session.scalars(
            select(PortalAuditRow)
            .where(PortalAuditRow.action == "split_transfer")
            .order_by(PortalAuditRow.id)
        ).all()[-2]
    assert (entry.user_id, entry.outcome, json.loads(entry.details)["child_id"]) == (
        operator.id,
        "ok",
        child,
    )


@pytest.mark.parametrize(
    ("amount", "status", "words", "code"),
    [
        (
            "999999999.00",
            409,
            "The certificate's value is less than the amount.",
            "CertificateInsufficientValue",
        ),
        ("12.345", 422, "Some of what was entered is not valid.", "validation_error"),
    ],
)
def test_a_refusal_is_shown_in_words_with_the_apis_code(
    api_world: ApiWorld,
    held: int,
    operator: PortalUser,
    amount: str,
    status: int,
    words: str,
    code: str,
) -> None:
    before = _holdings(api_world, "tier1")
    refused = _transfer(signed_in(api_world, operator), amount, api_world.world.tier2.id, held)
    assert refused.status_code == status  # type: ignore[attr-defined]
    assert words in html.unescape(refused.text)  # type: ignore[attr-defined]
    assert f"<code>{code}</code>" in refused.text  # type: ignore[attr-defined]
    assert _holdings(api_world, "tier1") == before


def test_a_refusal_speaks_chinese_too(api_world: ApiWorld, held: int, operator: PortalUser) -> None:
    client = signed_in(api_world, operator, language="zh-CN")
    refused = _transfer(client, "999999999.00", api_world.world.tier2.id, held)
    assert "凭证余额不足以转让该金额。" in refused.text  # type: ignore[attr-defined]


def test_a_malformed_form_is_answered_with_a_page(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    page = client.get("/portal/holdings")
    before = _holdings(api_world, "tier1")
    for broken in ({"certificate_id": "not a number"}, {"amount": None}):
        data = {
            "csrf_token": csrf_of(page),
            "idempotency_key": idempotency_key_of(page),
            "certificate_id": str(held),
            "to_member_id": str(api_world.world.tier2.id),
            "amount": "1.00",
            **broken,
        }
        refused = client.post(
            "/portal/transfers", data={k: v for k, v in data.items() if v is not None}
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("text/html")
        assert "Some of what was entered is not valid." in refused.text
    assert _holdings(api_world, "tier1") == before


def test_a_viewer_sees_holdings_but_cannot_transfer(api_world: ApiWorld, held: int) -> None:
    viewer = create_user(api_world, "tier1", "viewer")
    client = signed_in(api_world, viewer)
    page = client.get("/portal/holdings")
    assert 'action="/portal/transfers"' not in page.text
    assert "Viewers cannot transfer" in page.text
    before = _holdings(api_world, "tier1")
    data = {
        "csrf_token": csrf_of(page),
        "idempotency_key": "viewer-try",
        "certificate_id": str(held),
        "to_member_id": str(api_world.world.tier2.id),
        "amount": "1.00",
    }
    refused = client.post("/portal/transfers", data=data)
    assert refused.status_code == 403
    assert "Your role (viewer) may only read." in refused.text
    assert _holdings(api_world, "tier1") == before


def test_a_post_without_the_sessions_csrf_token_is_refused(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    other = signed_in(api_world, operator)  # another session of the same user
    before = _holdings(api_world, "tier1")
    for token in ("", "forged", csrf_of(other.get("/portal/holdings"))):
        refused = _transfer(client, "1.00", api_world.world.tier2.id, held, csrf_token=token)
        assert refused.status_code == 403  # type: ignore[attr-defined]
        assert "did not come from the portal" in refused.text  # type: ignore[attr-defined]
    assert _holdings(api_world, "tier1") == before
    with api_world.sessions() as session:
        outcomes = session.scalars(
            select(PortalAuditRow.outcome).where(PortalAuditRow.action == "/portal/transfers")
        ).all()
    assert outcomes.count("csrf_refused") >= 3


def test_without_a_session_pages_lead_to_sign_in_and_posts_are_refused(
    api_world: ApiWorld, held: int
) -> None:
    client = browser(api_world)
    assert client.get("/portal/holdings").headers["location"] == "/portal/sign-in"
    assert client.get("/").headers["location"] == "/portal/"
    form = {
        "csrf_token": "x",
        "certificate_id": str(held),
        "to_member_id": "2",
        "amount": "1.00",
        "idempotency_key": "k",
    }
    assert client.post("/portal/transfers", data=form).status_code == 401


@pytest.mark.parametrize("column", ["last_seen_at", "created_at"])
def test_an_idle_or_old_session_ends(api_world: ApiWorld, held: int, column: str) -> None:
    user = create_user(api_world, "tier1")
    client = signed_in(api_world, user)
    assert client.get("/portal/holdings").status_code == 200
    # idle past SCF_PORTAL_SESSION_IDLE_SECONDS, or open past ..._ABSOLUTE_SECONDS
    with api_world.sessions.begin() as session:
        session.execute(
            update(PortalSessionRow)
            .where(PortalSessionRow.user_id == user.id)
            .values({column: getattr(PortalSessionRow, column) - 13 * 3600})
        )
    assert client.get("/portal/holdings").headers["location"] == "/portal/sign-in"
    with api_world.sessions() as session:
        row = session.scalars(
            select(PortalSessionRow).where(PortalSessionRow.user_id == user.id)
        ).one()
    assert row.ended_at is not None


def test_signing_out_or_being_disabled_ends_the_session(api_world: ApiWorld, held: int) -> None:
    user = create_user(api_world, "tier1")
    client = signed_in(api_world, user)
    token = client.cookies.get("scf_portal_session")
    page = client.get("/portal/holdings")
    out = client.post("/portal/sign-out", data={"csrf_token": csrf_of(page)})
    assert out.headers["location"] == "/portal/sign-in"
    replay = browser(api_world)
    replay.cookies.set("scf_portal_session", token or "", domain="testserver.local")
    assert replay.get("/portal/holdings").status_code == 303
    disabled = create_user(api_world, "tier1")
    client = signed_in(api_world, disabled)
    api_world.client.post(
        f"/v1/portal/users/{disabled.id}/disable", headers=api_world.auth("tier1")
    )
    assert client.get("/portal/holdings").headers["location"] == "/portal/sign-in"


def test_names_with_markup_render_as_text(api_world: ApiWorld, held: int) -> None:
    w = api_world.world
    admit_member(w.consortium, w.governor, [Role.SUPPLIER], name=XSS)  # named like a script
    api_world.sync()
    user = create_user(api_world, "tier1", name=XSS)
    page = signed_in(api_world, user)
    text = page.get("/portal/holdings").text
    assert XSS not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # user and member names


def test_pages_carry_the_security_headers_and_no_secret(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    for path in ("/portal/sign-in", "/portal/holdings"):
        page = client.get(path)
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        for key in api_world.keys.values():
            assert key not in page.text
        assert "<script>" not in page.text.replace('<script type="application/json"', "")
    script = client.get("/portal/static/vendor/htmx.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "no-store" not in script.headers.get("cache-control", "")
