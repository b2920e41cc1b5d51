"""The risk dashboard: exposure by core enterprise, aging buckets and alerts, each as far
as the API shows the member (auditors all; a core enterprise its own exposure; a supplier
no exposure, its own aging and alerts), and new alerts streamed to the page."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.portal import live_pages
from api.portal.security import CONTENT_SECURITY_POLICY
from tests.api.committee import CommitteeNode, committee_node
from tests.api.portal.helpers import csrf_of
from tests.api.portal.oversight import browser_of, sync, user_of
from tests.helpers import issue_certificate, split


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("risk-pages"))) as built:
        yield built


@pytest.fixture(scope="module")
def paper(node: CommitteeNode) -> dict[str, int]:
    """Core's root to tier 1, sent round tier 1 → tier 2 → tier 3 → tier 1: a circular
    transfer alert about tier 1."""
    w = node.world
    root = issue_certificate(w, w.core, w.tier1, 200_000_00)
    to_tier2 = split(w, w.tier1, root, w.tier2, 50_000_00)
    to_tier3 = split(w, w.tier2, to_tier2, w.tier3, 20_000_00)
    back = split(w, w.tier3, to_tier3, w.tier1, 5_000_00)
    sync(node)
    return {"root": root, "back": back}


def _section(page: str, marker: str) -> str:
    return page.split(marker)[1].split("</section>")[0]


def _json_block(page: str, block_id: str) -> Any:
    return json.loads(html.unescape(page.split(f'id="{block_id}">')[1].split("</script>")[0]))


def test_an_auditor_sees_every_core_enterprise_and_every_alert(
    node: CommitteeNode, paper: dict[str, int]
) -> None:
    client = browser_of(node, user_of(node, "regulator", "viewer"))
    page = client.get("/portal/risk")
    assert page.status_code == 200, page.text
    exposures = _section(page.text, 'id="exposures"')
    for name in ("Core Motors Group", "Core Steel Corp"):
        assert name in exposures
    assert f'data-core="{node.world.core.id}"' in exposures
    assert "200000.00" in exposures  # core's outstanding: the live value of its tree
    chart = _json_block(page.text, "exposure-data")
    assert "Core Motors Group" in chart["names"]
    assert chart["series"]["outstanding"][chart["names"].index("Core Motors Group")] == (
        "200000.00"
    )
    aging = _section(page.text, 'id="aging"')
    assert 'data-bucket="not_due"' in aging
    assert "Not yet due" in aging
    alerts = _section(page.text, 'id="alerts"')
    assert "Circular transfer" in alerts
    assert "Tier-1 Parts Ltd" in alerts
    live = _json_block(page.text, "alert-stream")
    assert live["stream"] == "/portal/risk/events"
    assert '<script src="/portal/static/oversight.js" defer></script>' in page.text


def test_a_supplier_sees_its_own_aging_and_alerts_but_no_exposure(
    node: CommitteeNode, paper: dict[str, int]
) -> None:
    page = browser_of(node, user_of(node, "tier3", "viewer")).get("/portal/risk")
    assert page.status_code == 200, page.text
    assert 'id="exposure-refused"' in page.text
    assert "Your member may not do this." in page.text
    assert 'id="exposures"' not in page.text
    assert "Core Steel Corp" not in page.text.split('id="alert-stream"')[0]
    # the circular transfer is about tier 1: tier 3 is not in its audience
    assert "Circular transfer" not in _section(page.text, 'id="alerts"')
    mine = browser_of(node, user_of(node, "tier1", "viewer")).get("/portal/risk")
    assert "Circular transfer" in _section(mine.text, 'id="alerts"')


def test_a_core_enterprise_sees_its_own_exposure_only(
    node: CommitteeNode, paper: dict[str, int]
) -> None:
    page = browser_of(node, user_of(node, "core", "viewer"), "zh-CN").get("/portal/risk")
    assert page.status_code == 200, page.text
    exposures = _section(page.text, 'id="exposures"')
    assert "Core Motors Group" in exposures
    assert "Core Steel Corp" not in exposures
    assert "按核心企业的风险敞口" in page.text
    assert "未到期" in page.text


def _stream(client: TestClient, **headers: str) -> list[dict[str, Any]]:
    answer = client.get("/portal/risk/events", params={"limit": 1}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    return [
        json.loads(line.removeprefix("data: "))
        for line in answer.text.splitlines()
        if line.startswith("data: ")
    ]


def test_alerts_stream_to_the_page_as_the_api_streams_them_to_the_member(
    node: CommitteeNode, paper: dict[str, int]
) -> None:
    (alert,) = _stream(
        browser_of(node, user_of(node, "tier1", "viewer")), **{"Last-Event-ID": "0-0"}
    )
    assert alert["name"] == "RiskAlert"
    assert alert["args"]["kind"] == "circular_transfer"
    assert alert["args"]["details"]["certificate_id"] == paper["back"]
    # a browser reconnecting sends the last id it saw: the stream resumes after it
    auditor = browser_of(node, user_of(node, "regulator", "viewer"))
    (first,) = _stream(auditor, **{"Last-Event-ID": "0-0"})
    assert first == alert
    (then,) = _stream(auditor, **{"Last-Event-ID": first["id"]})
    assert then["name"] == "RiskAlert"
    assert then["args"]["id"] > first["args"]["id"]


def test_an_open_stream_is_cut_so_that_the_session_is_checked_again(
    node: CommitteeNode, paper: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = browser_of(node, user_of(node, "tier1", "viewer"))
    total = node.get("tier1", "/v1/risk/alerts")["total"]
    everything = client.get(
        "/portal/risk/events", params={"limit": total}, headers={"Last-Event-ID": "0-0"}
    )
    assert everything.status_code == 200  # every alert tier 1 may see
    monkeypatch.setattr(live_pages, "STREAM_RECHECK_SECONDS", 0.2)
    ids = [
        line.removeprefix("id: ")
        for line in everything.text.splitlines()
        if line.startswith("id: ")
    ]
    assert len(ids) == total
    # more cut streams than a member may hold at once: each gives its slot back
    for _ in range(10):
        cut = client.get("/portal/risk/events", headers={"Last-Event-ID": ids[-1]})
        assert cut.status_code == 200, cut.text
        assert cut.headers["content-type"].startswith("text/event-stream")
        assert "data: " not in cut.text  # nothing new for tier 1 since
    page = client.get("/portal/risk")
    client.post("/portal/sign-out", data={"csrf_token": csrf_of(page)})
    again = client.get("/portal/risk/events", headers={"Last-Event-ID": ids[-1]})
    assert again.status_code == 303
    assert again.headers["location"] == "/portal/sign-in"


def test_the_oversight_pages_need_a_session(node: CommitteeNode) -> None:
    anonymous = TestClient(
        node.client.app,
        base_url="https://testserver",
        follow_redirects=False,
        headers={"Accept-Language": "en"},
    )
    for path in (
        "/portal/risk/events",
        "/portal/risk",
        "/portal/audit",
        "/portal/governance",
        "/portal/explorer",
        "/portal/explorer/blocks/0",
        "/portal/explorer/search?q=1",
    ):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/portal/sign-in"
        assert answer.headers["x-frame-options"] == "DENY"
    vote = anonymous.post(
        "/portal/governance/proposals/1/votes",
        data={"csrf_token": "x", "idempotency_key": "k", "support": "for"},
    )
    assert vote.status_code == 401
    assert "Your session has ended" in vote.text


def test_an_oversight_page_carries_the_portals_security_headers(node: CommitteeNode) -> None:
    page = browser_of(node, user_of(node, "regulator", "viewer")).get("/portal/risk")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # data travels in JSON blocks the browser never runs
