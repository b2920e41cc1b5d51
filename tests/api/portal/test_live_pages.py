"""Pages that follow the ledger: ``/portal/live`` relays the API's event stream as the
signed-in member (what the API gives that member, no more: the relay itself is tested
with the risk dashboard's), and the pages showing ledger state mark the lists portal.js
swaps when an event arrives (tests/e2e/test_portal_browser.py watches one swap)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import browser, create_user, signed_in
from tests.helpers import issue_certificate

FACE = 250_000_00
LIVE_PAGES = {  # page: the id of its list that follows the ledger
    "/portal/holdings": "held",
    "/portal/invoices": "invoice-list",
    "/portal/issued": "issued-roots",
    "/portal/inbox": "waiting",
    "/portal/settlement": "settled",
}


@pytest.fixture(scope="module")
def issued(api_world: ApiWorld) -> int:
    """A certificate of the core enterprise, issued to tier 1 after the stream's start."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, FACE)
    api_world.sync()
    return certificate


def _events(client: TestClient, after: str = "0-0", limit: int = 1) -> list[dict[str, Any]]:
    answer = client.get("/portal/live", params={"limit": limit}, headers={"Last-Event-ID": after})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return [
        json.loads(line.removeprefix("data: "))
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]


def test_the_member_receives_the_events_the_api_gives_it(api_world: ApiWorld, issued: int) -> None:
    holder = signed_in(api_world, create_user(api_world, "tier1", "viewer"))
    expected = _api_events(api_world, "tier1", 5)
    assert expected, "tier 1 sees events of its own business"
    assert _events(holder, limit=len(expected)) == expected
    # a browser reconnecting sends the last id it saw: the relay resumes after it
    (then,) = _events(holder, after=expected[0]["id"])
    assert then == expected[1]


def _api_events(api_world: ApiWorld, member: str, limit: int) -> list[dict[str, Any]]:
    answer = api_world.client.get(
        "/v1/events",
        params={"limit": limit},
        headers={**api_world.auth(member), "Last-Event-ID": "0-0"},
    )
    assert answer.status_code == 200, answer.text
    return [
        json.loads(line.removeprefix("data: "))
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]


def test_a_signed_out_browser_gets_no_stream(api_world: ApiWorld) -> None:
    answer = browser(api_world).get("/portal/live", headers={"Last-Event-ID": "0-0"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/sign-in"


@pytest.mark.parametrize(("path", "region"), sorted(LIVE_PAGES.items()))
def test_ledger_pages_follow_the_stream(
    api_world: ApiWorld, issued: int, path: str, region: str
) -> None:
    page = signed_in(api_world, create_user(api_world, "core", "viewer")).get(path)
    assert page.status_code == 200, page.text
    assert '<main id="main" data-live="/portal/live"' in page.text
    assert f'id="{region}" data-live-region' in page.text


def test_other_pages_do_not_open_a_stream(api_world: ApiWorld) -> None:
    client = signed_in(api_world, create_user(api_world, "core", "viewer"))
    for path in ("/portal/credit", "/portal/approvals", "/portal/risk"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert "data-live=" not in page.text, path
