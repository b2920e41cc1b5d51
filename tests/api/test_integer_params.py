"""Integers in paths, queries and bodies are exactly integers: ``offset=2**63`` once
answered 500 (OverflowError), ``/v1/certificates/1.0`` found certificate 1 and
``"to_member_id": "4.0"`` was taken for member 4."""

from __future__ import annotations

import pytest

from api.services.api_keys import issue_key
from tests.api.conftest import ApiWorld

LISTS = [
    "/v1/members",
    "/v1/members/applications",
    "/v1/governance/proposals",
    "/v1/invoices",
    "/v1/credit-lines",
    "/v1/certificates",
    "/v1/financing-requests",
    "/v1/risk/overdue",
    "/v1/risk/alerts",
    "/v1/webhooks",
]


@pytest.fixture(scope="module")
def auditor(api_world: ApiWorld) -> dict[str, str]:
    """The consortium operator's key: an auditor reads every list."""
    w = api_world.world
    operator_id = int(w.consortium.members.call("memberOf", w.governor.address))
    with api_world.sessions.begin() as session:
        key = issue_key(session, operator_id, label="auditor").key
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("path", LISTS)
def test_integers_past_64_bits_are_refused_not_a_500(
    api_world: ApiWorld, auditor: dict[str, str], path: str
) -> None:
    for query in ("offset=9223372036854775808", "limit=1.0", "offset=1e3", "offset=+1"):
        answer = api_world.client.get(f"{path}?{query}", headers=auditor)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
    largest = api_world.client.get(f"{path}?offset=9223372036854775807", headers=auditor)
    assert largest.status_code == 200, largest.text
    assert largest.json()["items"] == []


@pytest.mark.parametrize("spelling", ["1.0", "01", "+1", "1_0", " 1", "99999999999999999999"])
def test_ids_in_paths_are_plain_integers(
    api_world: ApiWorld, auditor: dict[str, str], spelling: str
) -> None:
    assert api_world.client.get("/v1/members/1", headers=auditor).status_code == 200
    answer = api_world.client.get(f"/v1/members/{spelling}", headers=auditor)
    assert answer.status_code == 422, answer.text
    problem = answer.json()["error"]["details"]["errors"][0]
    assert problem["location"] == "path.member_id"


@pytest.mark.parametrize("given", ["4.0", "4", 4.0, True])
def test_ids_in_bodies_are_json_integers(api_world: ApiWorld, given: object) -> None:
    # a supplier's write: the auditor's would be refused before its body is judged
    answer = api_world.client.post(
        "/v1/certificates/1/transfers",
        json={"to_member_id": given, "amount": "1.00"},
        headers=api_world.auth("tier1"),
    )
    assert answer.status_code == 422, answer.text
    problems = answer.json()["error"]["details"]["errors"]
    assert [p["location"] for p in problems] == ["body.to_member_id"]
