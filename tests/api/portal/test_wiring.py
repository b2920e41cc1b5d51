"""How the portal sits in the app: its in-process API calls name the member through the
API's one authentication path (no API key looked up, no second mechanism), its sign-in
limiter is the app's service, and it adds nothing to the app's state."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from api.portal.settings import get_portal_settings
from api.readmodel.models import OperationRow
from api.services.container import services_of
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import (
    browser,
    create_user,
    csrf_of,
    idempotency_key_of,
    sign_in,
    signed_in,
)
from tests.api.test_authenticated_once import key_lookups
from tests.helpers import issue_certificate, suspend


@pytest.fixture(scope="module")
def held(api_world: ApiWorld) -> int:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, 500_000_00)
    api_world.sync()
    return certificate


def test_a_portal_write_reaches_the_route_as_the_member_without_an_api_key(
    api_world: ApiWorld, held: int
) -> None:
    """The split-transfer form's POST /v1/certificates/{id}/split passes credentials
    first, the idempotency middleware and the route as tier 1, named in the request's
    scope: none of them looks an API key up."""
    user = create_user(api_world, "tier1", "operator")
    client = signed_in(api_world, user)
    page = client.get("/portal/holdings")
    key = idempotency_key_of(page)
    form = {
        "csrf_token": csrf_of(page),
        "idempotency_key": key,
        "certificate_id": str(held),
        "to_member_id": str(api_world.world.tier2.id),
        "amount": "10.00",
    }
    with key_lookups(api_world) as lookups:
        done = client.post("/portal/transfers", data=form)
    assert done.status_code == 200, done.text
    assert "Tier-2 Castings Ltd now holds certificate #" in done.text
    assert lookups == []
    sent = f"portal-{user.id}-{key}"  # the form's key, the user's own (api.portal.pages)
    with api_world.sessions() as session:  # the idempotency key is scoped to tier 1
        kept = session.scalars(select(OperationRow).where(OperationRow.idempotency_key == sent))
        assert [row.member_id for row in kept] == [api_world.world.tier1.id]


def test_a_suspended_members_user_is_refused_as_its_api_key_would_be(
    api_world: ApiWorld,
) -> None:
    """The portal checks the member's status by the authentication path's rule before it
    names the member: a page of a member whose key answers 403 shows that refusal."""
    # tier3 is used by no other test here: the module's read model keeps the suspension
    client = signed_in(api_world, create_user(api_world, "tier3", "operator"))
    assert client.get("/portal/holdings").status_code == 200
    suspend(api_world.world, api_world.world.tier3)
    api_world.sync()
    refused = api_world.client.get("/v1/members/me", headers=api_world.auth("tier3"))
    assert refused.status_code == 403
    page = client.get("/portal/holdings")
    assert page.status_code == 403, page.text
    assert "Your member may not do this." in page.text


def test_sign_in_counts_against_the_apps_limiter(api_world: ApiWorld) -> None:
    """The portal's limiter is ``ApiServices.portal_sign_in_limiter``, built with the app:
    an account whose attempts are spent there is refused, its right password too."""
    user = create_user(api_world, "tier1", "viewer")
    settings = get_portal_settings()
    limiter = services_of(api_world.client.app).portal_sign_in_limiter
    for _ in range(settings.sign_in_burst_per_account):
        limiter.take(
            f"account:{user.email}",
            burst=settings.sign_in_burst_per_account,
            per_second=1 / settings.sign_in_refill_seconds_per_account,
        )
    answer = sign_in(browser(api_world), user.email)
    assert answer.status_code == 429, answer.text


def test_the_portal_adds_nothing_to_the_app_state(api_world: ApiWorld, held: int) -> None:
    app: FastAPI = api_world.client.app  # type: ignore[assignment]
    before = dict(app.state._state)
    client = signed_in(api_world, create_user(api_world, "tier1", "viewer"))
    for page in ("/portal/holdings", "/portal/invoices", "/portal/financing"):
        assert client.get(page).status_code == 200, page
    assert dict(app.state._state) == before
