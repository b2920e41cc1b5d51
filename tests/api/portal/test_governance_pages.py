"""The governors' page: the committee, applications, proposals with their tallies, and
the vote through the REST API (not held by maker-checker); auditors read it, business
members who are no governor are refused in words, viewers read but do not vote."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.committee import CommitteeNode, committee_node
from tests.api.portal.helpers import PortalUser, csrf_of, idempotency_key_of
from tests.api.portal.oversight import browser_of, user_of
from tests.helpers import new_credit_code

PROPOSALS = "/v1/governance/proposals"
EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("governance-pages"))) as built:
        yield built


@pytest.fixture(scope="module")
def operator_approver(node: CommitteeNode) -> PortalUser:
    return user_of(node, "operator", "approver")


def _propose(node: CommitteeNode, key: str, description: str = "") -> dict[str, Any]:
    """A parameter proposed by the bank (weight 2 of 5: pending until another votes)."""
    body = {"kind": "set_parameter", "key": key, "value": 7, "description": description or key}
    proposal: dict[str, Any] = node.post("bank", PROPOSALS, body)
    assert proposal["state"] == "pending"
    return proposal


def _vote(client: TestClient, proposal_id: int, support: str) -> Any:
    page = client.get("/portal/governance")
    # a proposal decided meanwhile has no form left: a form kept open from before
    kept = 'name="idempotency_key"' in page.text
    form = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page) if kept else str(uuid.uuid4()),
        "support": support,
    }
    return client.post(f"/portal/governance/proposals/{proposal_id}/votes", data=form)


def test_a_governor_sees_the_tally_and_carries_a_proposal_with_its_vote(
    node: CommitteeNode, operator_approver: PortalUser
) -> None:
    proposal = _propose(node, "PORTAL_VOTE", EVIL)
    client = browser_of(node, operator_approver)
    page = client.get("/portal/governance")
    assert page.status_code == 200, page.text
    governors = page.text.split('id="governors"')[1].split("</table>")[0]
    assert "First Bank" in governors
    assert "2 / 5" in governors
    article = page.text.split(f'id="proposal-{proposal["id"]}"')[1].split("</article>")[0]
    assert 'data-state="pending"' in article
    assert "for 2, against 0 of 5; 40 % voted (needs 60 % voting, 60 % for)" in article
    assert "First Bank" in article  # the proposer, by name
    assert "&lt;script&gt;" in article  # the description is text
    assert EVIL not in page.text
    assert f'action="/portal/governance/proposals/{proposal["id"]}/votes"' in article

    voted = _vote(client, proposal["id"], "for")
    assert voted.status_code == 200, voted.text
    assert f"Your vote for on proposal #{proposal['id']} is recorded" in voted.text
    assert "the proposal is executed" in voted.text
    decided = node.get("regulator", f"{PROPOSALS}/{proposal['id']}")
    assert decided["state"] == "executed"
    assert {v["member_id"] for v in decided["votes"]} == {1, node.world.bank.id}


def test_a_vote_on_a_decided_proposal_is_refused_in_words(
    node: CommitteeNode, operator_approver: PortalUser
) -> None:
    proposal = _propose(node, "DECIDED_FIRST")
    # core 2's vote against brings participation to 60 %, two thirds for: it passes
    node.post("core2", f"{PROPOSALS}/{proposal['id']}/votes", {"support": "against"})
    assert node.get("operator", f"{PROPOSALS}/{proposal['id']}")["state"] != "pending"
    refused = _vote(browser_of(node, operator_approver), proposal["id"], "against")
    assert refused.status_code == 409, refused.text
    assert "The proposal is no longer open for votes." in refused.text
    assert "GovernanceProposalNotPending" in refused.text
    unknown = _vote(browser_of(node, operator_approver), 9_999, "for")
    assert unknown.status_code == 404, unknown.text


def test_a_vote_without_the_sessions_csrf_token_is_refused(
    node: CommitteeNode, operator_approver: PortalUser
) -> None:
    proposal = _propose(node, "FORGED_VOTE")
    client = browser_of(node, operator_approver)
    forged = client.post(
        f"/portal/governance/proposals/{proposal['id']}/votes",
        data={"csrf_token": "forged", "idempotency_key": "k0", "support": "for"},
    )
    assert forged.status_code == 403
    assert "did not come from the portal" in forged.text
    assert node.get("operator", f"{PROPOSALS}/{proposal['id']}")["state"] == "pending"


def test_a_viewer_reads_but_does_not_vote(node: CommitteeNode) -> None:
    proposal = _propose(node, "VIEWER_SEES")
    client = browser_of(node, user_of(node, "bank", "viewer"))
    page = client.get("/portal/governance")
    assert page.status_code == 200
    assert f'id="proposal-{proposal["id"]}"' in page.text
    assert "/votes" not in page.text
    assert "Viewers cannot vote" in page.text
    refused = client.post(
        f"/portal/governance/proposals/{proposal['id']}/votes",
        data={"csrf_token": csrf_of(page), "idempotency_key": "k1", "support": "for"},
    )
    assert refused.status_code == 403
    assert "Your role (viewer) may only read." in refused.text
    assert len(node.get("operator", f"{PROPOSALS}/{proposal['id']}")["votes"]) == 1


def test_an_auditor_reads_and_the_api_refuses_its_vote(node: CommitteeNode) -> None:
    proposal = _propose(node, "AUDITOR_READS")
    client = browser_of(node, user_of(node, "regulator", "approver"), "zh-CN")
    page = client.get("/portal/governance")
    assert page.status_code == 200
    assert "治理委员会" in page.text
    assert "贵单位可查看委员会的工作；只有治理成员可以投票。" in page.text
    assert f'id="proposal-{proposal["id"]}"' in page.text
    assert "/votes" not in page.text  # no form to vote
    forged = client.post(
        f"/portal/governance/proposals/{proposal['id']}/votes",
        data={"csrf_token": csrf_of(page), "idempotency_key": "k2", "support": "for"},
    )
    assert forged.status_code == 403, forged.text
    assert "此功能仅限联盟治理成员；审计方只能查看。" in forged.text
    assert "not_a_governor" in forged.text


def test_applications_are_listed_for_governors(
    node: CommitteeNode, operator_approver: PortalUser
) -> None:
    applied = node.client.post(
        "/v1/members/applications",
        json={
            "name": "Tier-4 Bolts & Nuts Ltd",
            "credit_code": new_credit_code(),
            "roles": ["SUPPLIER"],
            "contact": "ops@bolts.example",
        },
    )
    assert applied.status_code == 201, applied.text
    page = browser_of(node, operator_approver).get("/portal/governance")
    section = page.text.split('id="applications"')[1].split("</section>")[0]
    assert f'data-application="{applied.json()["id"]}"' in section
    assert "Tier-4 Bolts &amp; Nuts Ltd" in section


@pytest.mark.parametrize("member", ["tier1", "core", "bank2"])
def test_members_who_are_no_governor_nor_auditor_are_refused(
    node: CommitteeNode, member: str
) -> None:
    client = browser_of(node, user_of(node, member, "approver"))
    refused = client.get("/portal/governance")
    assert refused.status_code == 403
    words = "This is for the consortium's governors; its auditors may only read it."
    assert words in html.unescape(refused.text)
    assert "proposal-" not in refused.text
