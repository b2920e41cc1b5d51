"""Portal users created through the REST API and signed in through the portal's form, as
a browser does (cookies, the forms' CSRF tokens), over HTTPS (the cookies are Secure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.api.conftest import ApiWorld

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@dataclass
class PortalUser:
    id: int
    email: str
    member: str  # the member's name in the World
    totp_uri: str | None = None


_serial = iter(range(1, 1_000_000))


def invite(
    api_world: ApiWorld, member: str, role: str = "operator", *, totp: bool = False, **extra: Any
) -> dict[str, Any]:
    """``POST /v1/portal/users`` by the member's API key holder: the invitation."""
    email = f"user{next(_serial)}@{member}.example"
    body = {"name": f"{member} clerk", "email": email, "role": role, "totp": totp, **extra}
    answer = api_world.client.post("/v1/portal/users", json=body, headers=api_world.auth(member))
    assert answer.status_code == 201, answer.text
    invitation: dict[str, Any] = answer.json()
    return invitation


def accept(
    client: TestClient, email: str, code: str, password: str = PASSWORD, again: str | None = None
) -> Response:
    """The welcome form, as the invited person fills it in."""
    form = client.get("/portal/welcome")
    assert form.status_code == 200
    answer: Response = client.post(
        "/portal/welcome",
        data={
            "email": email,
            "invitation_code": code,
            "password": password,
            "password_again": password if again is None else again,
            "csrf_token": csrf_of(form),
        },
    )
    return answer


def create_user(
    api_world: ApiWorld, member: str, role: str = "operator", *, totp: bool = False, **extra: Any
) -> PortalUser:
    """A user invited by its member who has set its password (``PASSWORD``)."""
    invitation = invite(api_world, member, role, totp=totp, **extra)
    accepted = accept(browser(api_world), invitation["email"], invitation["invitation_code"])
    assert accepted.status_code == 303, accepted.text
    return PortalUser(invitation["id"], invitation["email"], member, invitation["totp_uri"])


def browser(api_world: ApiWorld, language: str = "en") -> TestClient:
    """A fresh cookie jar on the module's app, over HTTPS, from an address of its own (the
    sign-in limit counts per address)."""
    return TestClient(
        api_world.client.app,
        base_url="https://testserver",
        headers={"Accept-Language": language},
        follow_redirects=False,
        client=(f"browser-{next(_serial)}", 50000),
    )


def csrf_of(page: Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def idempotency_key_of(page: Response) -> str:
    found = _IDEMPOTENCY.search(page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, code: str = "") -> Response:
    form = client.get("/portal/sign-in")
    assert form.status_code == 200
    answer: Response = client.post(
        "/portal/sign-in",
        data={"email": email, "password": password, "code": code, "csrf_token": csrf_of(form)},
    )
    return answer


def signed_in(api_world: ApiWorld, user: PortalUser, language: str = "en") -> TestClient:
    client = browser(api_world, language)
    answer = sign_in(client, user.email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal/holdings"
    return client
