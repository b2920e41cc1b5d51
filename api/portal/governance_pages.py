"""The governors' page: the committee and its rules, membership applications, proposals
with their tallies, and the vote (``GET /v1/governance/committee``, ``/proposals``,
``/v1/members/applications``; ``POST /v1/governance/proposals/{id}/votes``) — through the
REST API in process, which shows the committee's work to governors and auditors and takes
votes from governors only.

A vote is not held for an approver under maker-checker: it moves no money, it may be
changed while the proposal is pending, and the committee's weights and thresholds are
the many-party check on what it decides. A viewer does not vote (it only reads).
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
    render,
)
from api.portal.sessions import SignedIn
from api.schemas.portal_users import Role

router = APIRouter()
PATH = "/governance"
SHOWN_PROPOSALS = 50


def _tally(proposal: dict[str, Any], committee: dict[str, Any]) -> dict[str, Any]:
    """The tally in percent of the committee's weight, beside the thresholds it must meet."""
    total = proposal["total_weight"] or 1
    cast = proposal["for_weight"] + proposal["against_weight"]
    return {
        "for_percent": round(100 * proposal["for_weight"] / total),
        "against_percent": round(100 * proposal["against_weight"] / total),
        "participation": round(100 * cast / total),
        "needs_participation": committee["participation_percent"],
        "needs_win": committee["win_percent"],
    }


async def _governance_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    # governors and auditors only: anyone else is refused here, in words
    committee = await api.get("/v1/governance/committee")
    proposals = (await api.get("/v1/governance/proposals", limit=SHOWN_PROPOSALS))["items"]
    applications = (await api.get("/v1/members/applications", limit=100))["items"]
    members = (await api.get("/v1/members", limit=500))["items"]
    governor = any(g["member_id"] == me["id"] for g in committee["governors"])
    return render(
        request,
        "governance.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names={m["id"]: m["name"] for m in members},
        committee=committee,
        proposals=[p | {"tally": _tally(p, committee)} for p in proposals],
        applications=applications,
        may_vote=governor and Role(user.user.role).may_act,
        governor=governor,
        idempotency_key=str(uuid.uuid4()),
        **outcome,
    )


@router.get(PATH)
async def read_governance(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _governance_page(request, portal, user)


@router.post(PATH + "/proposals/{proposal_id}/votes")
async def vote(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    proposal_id: int,
    support: Annotated[str, Form(pattern="^(for|against)$")],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """The member's vote on a pending proposal (its governor account signs); sent at once,
    never held for an approver (see above)."""

    async def cast() -> Acted:
        voted = await portal.member_api(user).post(
            f"/v1/governance/proposals/{proposal_id}/votes",
            {"support": support},
            idempotency_key=f"portal-{user.user.id}-{idempotency_key}-vote-{proposal_id}",
        )
        return Acted(answer=voted)

    page = functools.partial(_governance_page, request, portal, user, support=support)
    details: dict[str, Any] = {"proposal_id": proposal_id, "support": support}
    return await portal.finish(request, user, "vote", details, cast, page, "voted")
