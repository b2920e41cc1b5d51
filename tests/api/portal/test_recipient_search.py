"""The split-transfer form's recipient search: members found through the API's member
search (``GET /v1/members?q=``) by part of a name or a whole credit code, never the
user's own member, as a fragment htmx swaps in and on the holdings page without script."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import browser, create_user, signed_in
from tests.helpers import issue_certificate

_OPTION = re.compile(r'<option value="(\d+)">')


@pytest.fixture(scope="module")
def clerk(api_world: ApiWorld) -> TestClient:
    w = api_world.world
    issue_certificate(w, w.core, w.tier1, 1_000_00)
    api_world.sync()
    return signed_in(api_world, create_user(api_world, "tier1", "operator"))


def _offered(html: str) -> list[int]:
    return [int(found) for found in _OPTION.findall(html)]


def test_typing_a_name_narrows_the_recipients(api_world: ApiWorld, clerk: TestClient) -> None:
    w = api_world.world
    found = clerk.get("/portal/recipients", params={"q": "steel"})
    assert found.status_code == 200
    assert _offered(found.text) == [w.core2.id]
    assert "Core Steel Corp" in found.text
    everyone = _offered(clerk.get("/portal/recipients").text)
    assert w.tier2.id in everyone
    assert w.bank.id in everyone
    assert w.tier1.id not in everyone  # not to itself


def test_a_whole_credit_code_finds_its_member(api_world: ApiWorld, clerk: TestClient) -> None:
    w = api_world.world
    found = clerk.get("/portal/recipients", params={"q": w.tier2.credit_code})
    assert _offered(found.text) == [w.tier2.id]
    own = clerk.get("/portal/recipients", params={"q": w.tier1.credit_code})
    assert _offered(own.text) == []
    assert "No active member matches" in own.text


def test_without_script_the_search_reloads_the_holdings_with_the_matches(
    api_world: ApiWorld, clerk: TestClient
) -> None:
    w = api_world.world
    page = clerk.get("/portal/holdings", params={"q": "core"})
    assert page.status_code == 200
    select = page.text.split('id="to-member"')[1].split("</select>")[0]
    assert _offered(select) == [w.core.id, w.core2.id]
    assert 'name="q" value="core"' in page.text
    assert 'hx-get="/portal/recipients"' in page.text


def test_the_search_is_for_signed_in_users_and_bounded(
    api_world: ApiWorld, clerk: TestClient
) -> None:
    anonymous = browser(api_world).get("/portal/recipients", params={"q": "core"})
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/portal/sign-in")
    assert clerk.get("/portal/recipients", params={"q": "x" * 65}).status_code == 422
