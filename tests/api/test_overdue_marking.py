"""POST /v1/certificates/{id}/overdue: an unpaid root, after maturity plus the GRACE_PERIOD
parameter, is marked overdue on the ledger and the risk report shows it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.services.api_keys import issue_key
from tests.api.conftest import ApiWorld
from tests.api.times import iso_instant
from tests.api.writes import post, sent_count
from tests.helpers import (
    DAY,
    GRACE_PERIOD,
    issue_certificate,
    mint,
    root,
    set_parameter,
    split,
    travel_to,
)

GRACE = 10 * DAY


@pytest.fixture(scope="module")
def roots(api_world: ApiWorld) -> dict[str, int]:
    """Two roots of core maturing in 5 days under a 10-day grace period: ``unpaid`` held by
    tier1, who passed 30,000.00 of it to tier2 (``child``); ``repaid`` held by tier1 and
    repaid at once. The operator has an auditor's key."""
    w = api_world.world
    set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE)
    unpaid = issue_certificate(w, w.core, w.tier1, 100_000_00, maturity_in=5 * DAY)
    child = split(w, w.tier1, unpaid, w.tier2, 30_000_00)
    repaid = issue_certificate(w, w.core, w.tier1, 2_000_00, maturity_in=5 * DAY)
    mint(w, w.bank, w.core, 2_000_00)
    api_world.sync()
    assert post(api_world, "core", "/v1/repayments", {"root_id": repaid}).status_code == 201
    operator_id = int(w.consortium.members.call("memberOf", w.governor.address))
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    return {"unpaid": unpaid, "child": child, "repaid": repaid}


def _mark(api_world: ApiWorld, who: str, certificate_id: int | str) -> httpx.Response:
    return post(api_world, who, f"/v1/certificates/{certificate_id}/overdue")


def _refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["details"].get("error")


def _aged(api_world: ApiWorld, who: str, certificate_id: int) -> dict[str, Any]:
    report = api_world.client.get("/v1/risk/overdue", headers=api_world.auth(who))
    assert report.status_code == 200, report.text
    (item,) = [i for i in report.json()["items"] if i["certificate_id"] == certificate_id]
    return dict(item)


def _maturity(api_world: ApiWorld, root_id: int) -> int:
    return int(root(api_world.world.consortium, root_id).maturity)


def test_refusals_before_the_grace_period_is_over(
    api_world: ApiWorld, roots: dict[str, int]
) -> None:
    unpaid = roots["unpaid"]
    travel_to(api_world.world.ledger, _maturity(api_world, unpaid) + GRACE - DAY)
    early = _mark(api_world, "tier1", unpaid)
    assert _refusal(early) == (409, "contract_revert", "MaturityGracePeriodNotOver")
    overdue_from = _maturity(api_world, unpaid) + GRACE
    assert early.json()["error"]["details"]["args"] == {
        "rootId": unpaid,
        "overdueFrom": iso_instant(overdue_from),  # as the API writes instants
    }
    assert _aged(api_world, "tier1", unpaid)["overdue"] is False


def test_only_members_who_see_a_root_may_mark_it(
    api_world: ApiWorld, roots: dict[str, int]
) -> None:
    unpaid, child = roots["unpaid"], roots["child"]
    before = sent_count(api_world, "tier3")
    outsider = _mark(api_world, "tier3", unpaid)
    assert _refusal(outsider) == (404, "certificate_not_found", None)
    assert "100000.00" not in outsider.text
    assert sent_count(api_world, "tier3") == before
    not_root = _mark(api_world, "tier2", child)
    assert _refusal(not_root) == (422, "certificate_not_root", None)
    assert not_root.json()["error"]["details"] == {"certificate_id": child, "root_id": unpaid}
    assert _refusal(_mark(api_world, "auditor", unpaid)) == (403, "auditor_read_only", None)
    assert _refusal(_mark(api_world, "tier1", 999_999)) == (404, "certificate_not_found", None)
    for bad in ("0", "-3", "x", str(2**64)):
        assert _mark(api_world, "tier1", bad).status_code == 422, bad
    assert api_world.client.post(f"/v1/certificates/{unpaid}/overdue").status_code == 401


def test_an_unpaid_root_is_marked_once_after_its_grace_period(
    api_world: ApiWorld, roots: dict[str, int]
) -> None:
    unpaid, child, repaid = roots["unpaid"], roots["child"], roots["repaid"]
    latest = max(_maturity(api_world, unpaid), _maturity(api_world, repaid))
    travel_to(api_world.world.ledger, latest + GRACE + 1)
    # tier2 holds a piece of the root, so it sees the root and may mark it
    marked = _mark(api_world, "tier2", unpaid)
    assert marked.status_code == 200, marked.text
    shown = api_world.client.get(f"/v1/certificates/{unpaid}", headers=api_world.auth("tier2"))
    assert marked.json() == shown.json() | {
        "face_value": "100000.00",
        "repaid": False,
        "overdue": True,
    }
    assert (marked.json()["value"], marked.json()["parent_id"]) == ("70000.00", 0)
    assert marked.headers["X-Transaction-Hash"].startswith("0x")

    for who, certificate_id in (("tier1", unpaid), ("tier2", child), ("core", unpaid)):
        item = _aged(api_world, who, certificate_id)
        assert (item["overdue"], item["repaid"], item["bucket"]) == (True, False, "overdue_0_30")

    again = _mark(api_world, "core", unpaid)
    assert _refusal(again) == (409, "contract_revert", "MaturityAlreadyOverdue")
    paid = _mark(api_world, "tier1", repaid)
    assert _refusal(paid) == (409, "contract_revert", "MaturityRootRepaid")
    assert _aged(api_world, "tier1", repaid)["overdue"] is False
