"""/v1/members: authentication by API key and membership reads."""

from __future__ import annotations

from api.services.api_keys import issue_key, revoke_key
from tests.api.conftest import ApiWorld
from tests.helpers import suspend


def test_me_returns_the_caller_and_its_accounts(api_world: ApiWorld) -> None:
    response = api_world.client.get("/v1/members/me", headers=api_world.auth("tier1"))
    assert response.status_code == 200
    body = response.json()
    tier1 = api_world.world.tier1
    assert body["id"] == tier1.id
    assert body["name"] == "Tier-1 Parts Ltd"
    assert body["roles"] == ["SUPPLIER"]
    assert body["status"] == "active"
    assert body["accounts"] == [tier1.address]


def test_missing_wrong_and_malformed_keys_are_401(api_world: ApiWorld) -> None:
    client = api_world.client
    for headers in ({}, {"Authorization": "Bearer scf_wrong"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/members/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthenticated"


def test_revoked_keys_stop_working(api_world: ApiWorld) -> None:
    with api_world.sessions.begin() as session:
        issued = issue_key(session, api_world.world.tier2.id, label="temporary")
    headers = {"Authorization": f"Bearer {issued.key}"}
    assert api_world.client.get("/v1/members/me", headers=headers).status_code == 200
    with api_world.sessions.begin() as session:
        assert revoke_key(session, api_world.world.tier2.id, issued.prefix) == 1
    assert api_world.client.get("/v1/members/me", headers=headers).status_code == 401
    # the member's other key still works
    assert (
        api_world.client.get("/v1/members/me", headers=api_world.auth("tier2")).status_code == 200
    )


def test_list_and_read_members(api_world: ApiWorld) -> None:
    client, headers = api_world.client, api_world.auth("bank")
    page = client.get("/v1/members", params={"limit": 3, "offset": 1}, headers=headers).json()
    assert page["total"] == 8  # the operator and the cast of seven companies
    assert [m["id"] for m in page["items"]] == [2, 3, 4]
    bank = client.get(f"/v1/members/{api_world.world.bank.id}", headers=headers).json()
    assert bank["roles"] == ["FINANCIER"]

    missing = client.get("/v1/members/999", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "member_not_found",
        "message": "no member with id 999",
        "details": {"member_id": 999},
    }
    bad = client.get("/v1/members", params={"limit": 0}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["errors"][0]["location"] == "query.limit"
    assert client.get("/v1/members/not-a-number", headers=headers).status_code == 422


def test_a_suspended_members_key_is_refused(api_world: ApiWorld) -> None:
    # tier3 is used by no other test here: the module's read model keeps the suspension
    suspend(api_world.world, api_world.world.tier3)
    api_world.sync()
    response = api_world.client.get("/v1/members/me", headers=api_world.auth("tier3"))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == f"member {api_world.world.tier3.id} is suspended"


def test_members_are_found_by_part_of_their_name_or_their_whole_credit_code(
    api_world: ApiWorld,
) -> None:
    client, headers = api_world.client, api_world.auth("tier1")
    w = api_world.world

    def found(q: str) -> list[int]:
        answer = client.get("/v1/members", params={"q": q}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [m["id"] for m in answer.json()["items"]]

    assert found("core") == [w.core.id, w.core2.id]  # any case
    assert found("Steel") == [w.core2.id]
    assert found(w.bank.credit_code) == [w.bank.id]
    assert found(w.bank.credit_code.lower()) == [w.bank.id]  # codes are normalized
    assert found(w.bank.credit_code[:10]) == []  # a code is matched whole, not in part
    assert found("%") == []
    assert found("_") == []
    assert found("nobody by this name") == []
    assert client.get("/v1/members", params={"q": ""}, headers=headers).status_code == 422
    too_long = client.get("/v1/members", params={"q": "x" * 65}, headers=headers)
    assert too_long.status_code == 422
    assert client.get("/v1/members", params={"q": "core"}).status_code == 401
