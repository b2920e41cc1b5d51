"""Signing in to the portal: cookies, refusals that tell a stranger nothing, the CSRF token
of the sign-in form, TOTP, rate limits per account and per address, and the audit log."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.portal import Portal, PortalDispatch, PortalSettings, portal_asgi
from api.portal.totp import code_at
from api.readmodel.models import PortalAuditRow, PortalSessionRow
from api.services.rate_limit import RateLimited, TokenBucketLimiter
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import PASSWORD, browser, create_user, csrf_of, sign_in


def _audit(api_world: ApiWorld, action: str) -> list[PortalAuditRow]:
    with api_world.sessions() as session:
        query = select(PortalAuditRow).where(PortalAuditRow.action == action)
        return list(session.scalars(query.order_by(PortalAuditRow.id)))


def test_a_user_signs_in_to_a_secure_http_only_strict_session_cookie(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier1")
    client = browser(api_world)
    answer = sign_in(client, user.email.upper(), PASSWORD)  # e-mails are not case-sensitive
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/holdings"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("scf_portal_session=")
    )
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/portal"} <= attributes
    token = cookie.split(";")[0].split("=", 1)[1]
    with api_world.sessions() as session:
        stored = session.scalars(select(PortalSessionRow.token_hash)).all()
    assert token not in stored  # only its hash is kept
    assert client.get("/portal/holdings").status_code == 200
    entry = _audit(api_world, "sign_in")[-1]
    assert (entry.user_id, entry.outcome) == (user.id, "ok")
    assert entry.client.startswith("browser-")  # the address it came from


def test_a_wrong_password_and_an_unknown_email_are_refused_alike(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier1")
    wrong = sign_in(browser(api_world), user.email, "wrong password!")
    unknown = sign_in(browser(api_world), "nobody@nowhere.example", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "The e-mail, password or code is not right." in answer.text
        assert "scf_portal_session=" not in answer.headers.get("set-cookie", "")
    assert [e.outcome for e in _audit(api_world, "sign_in")[-2:]] == ["sign_in_refused"] * 2


def test_a_sign_in_form_from_elsewhere_is_refused(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier1")
    client = browser(api_world)
    form = {"email": user.email, "password": PASSWORD, "csrf_token": "forged"}
    assert client.post("/portal/sign-in", data=form).status_code == 403  # no form cookie
    page = client.get("/portal/sign-in")
    form["csrf_token"] = csrf_of(page) + "x"
    refused = client.post("/portal/sign-in", data=form)
    assert refused.status_code == 403
    assert "did not come from the portal" in refused.text


def test_a_totp_user_needs_the_current_code(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier2", totp=True)
    assert user.totp_uri is not None
    secret = parse_qs(urlsplit(user.totp_uri).query)["secret"][0]
    assert sign_in(browser(api_world), user.email).status_code == 401
    stale = code_at(secret, time.time() - 600)
    assert sign_in(browser(api_world), user.email, code=stale).status_code == 401
    current = code_at(secret, time.time())
    assert sign_in(browser(api_world), user.email, code=current).status_code == 303


@pytest.fixture
def frozen_portal(api_world: ApiWorld) -> Callable[[], TestClient]:
    """Browsers of a portal over the module's API whose sign-in limiter's clock stands
    still: no token comes back while a test runs, however slow the machine."""
    portal = Portal(
        api=api_world.client.app,
        sessions=api_world.sessions,
        settings=PortalSettings(),
        limiter=TokenBucketLimiter(clock=lambda: 1000.0),
    )
    app = FastAPI()  # serves only the portal, which calls the module's API
    app.add_middleware(PortalDispatch, portal=portal_asgi(portal))
    serial = iter(range(1_000_000))

    def new_browser() -> TestClient:
        return TestClient(
            app,
            base_url="https://testserver",
            follow_redirects=False,
            headers={"Accept-Language": "en"},
            client=(f"frozen-{next(serial)}", 50000),
        )

    return new_browser


def test_guessing_one_accounts_password_is_stopped_even_from_many_addresses(
    api_world: ApiWorld, frozen_portal: Callable[[], TestClient]
) -> None:
    user = create_user(api_world, "tier3")
    for _ in range(PortalSettings().sign_in_burst_per_account):
        assert sign_in(frozen_portal(), user.email, "guess guess guess").status_code == 401
    stopped = sign_in(frozen_portal(), user.email, PASSWORD)  # even the right one
    assert stopped.status_code == 429
    assert int(stopped.headers["retry-after"]) >= 1
    assert "Too many attempts" in stopped.text
    assert _audit(api_world, "sign_in")[-1].outcome == "rate_limited"
    other = create_user(api_world, "tier3")  # another account is not held up
    assert sign_in(frozen_portal(), other.email, PASSWORD).status_code == 303


def test_one_address_spraying_many_accounts_is_stopped(
    api_world: ApiWorld, frozen_portal: Callable[[], TestClient]
) -> None:
    user = create_user(api_world, "tier3")
    client = frozen_portal()
    for n in range(PortalSettings().sign_in_burst_per_client):
        assert sign_in(client, f"guess{n}@tier3.example", "guess guess").status_code == 401
    assert sign_in(client, user.email, PASSWORD).status_code == 429
    assert sign_in(frozen_portal(), user.email, PASSWORD).status_code == 303


def test_successful_sign_ins_do_not_count_against_the_account(
    api_world: ApiWorld, frozen_portal: Callable[[], TestClient]
) -> None:
    user = create_user(api_world, "tier2")
    for _ in range(PortalSettings().sign_in_burst_per_account + 3):
        assert sign_in(frozen_portal(), user.email, PASSWORD).status_code == 303


def test_checking_a_limit_spends_no_token() -> None:
    limiter = TokenBucketLimiter(clock=lambda: 1000.0)
    for _ in range(3):
        limiter.check("a", burst=1, per_second=0.1)
    limiter.take("a", burst=1, per_second=0.1)
    with pytest.raises(RateLimited) as refused:
        limiter.check("a", burst=1, per_second=0.1)
    assert refused.value.details["retry_after"] == 10
