"""The financier's financing inbox: requests addressed to its member; approval at a rate
within the terms
(``POST /v1/financing-requests/{id}/approve``, money-moving: held for an approver under
maker-checker) or rejection with reasons stored as a document the requester reads
(``POST /v1/financing-requests/{id}/reject``) — all through the REST API in process."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.portal.member_api import ApiRefusal
from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
    WordsDep,
    client_address,
    render,
)
from api.portal.sessions import SignedIn
from api.schemas.portal_users import Role

router = APIRouter()
PATH = "/inbox"


async def _inbox_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    members = (await api.get("/v1/members", limit=500))["items"]
    mine = [
        r
        for r in (await api.get("/v1/financing-requests", limit=500))["items"]
        if r["financier_id"] == me["id"]
    ]
    waiting = [r for r in mine if r["status"] == "pending"]
    return render(
        request,
        "inbox.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names={m["id"]: m["name"] for m in members},
        waiting=waiting,
        decided=[r for r in mine if r["status"] != "pending"],
        may_act=Role(user.user.role).may_act,
        checked=await portal.maker_checker_on(user),
        idempotency_key=str(uuid.uuid4()),
        **outcome,
    )


@router.get(PATH)
async def read_inbox(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _inbox_page(request, portal, user)


async def _financier_acts(
    request: Request,
    portal: Portal,
    user: SignedIn,
    words: WordsDep,
    action: str,
    details: dict[str, Any],
    call: Callable[[], Awaitable[Acted]],
) -> Response:
    client = client_address(request)
    try:
        if not Role(user.user.role).may_act:
            raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
        acted = await call()
    except ApiRefusal as refusal:
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(portal.audit, user, action, outcome, client, details)
        text = words.refusal(refusal)
        return await _inbox_page(
            request, portal, user, refusal.status, refusal=refusal, refusal_text=text
        )
    if acted.prepared is not None:
        details["pending_action_id"] = acted.prepared.id
        await anyio.to_thread.run_sync(portal.audit, user, action, "prepared", client, details)
        return await _inbox_page(request, portal, user, prepared=acted.prepared)
    await anyio.to_thread.run_sync(portal.audit, user, action, "ok", client, details)
    return await _inbox_page(request, portal, user, decided_now=acted.answer)


@router.post(PATH + "/{request_id}/approve")
async def approve_financing(
    request: Request,
    request_id: int,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    rate_bps: Annotated[int, Form(ge=0, le=10_000)],
    agreement_hash: Annotated[str, Form(pattern=r"^0x[0-9a-fA-F]{64}$")],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Approve at ``rate_bps`` under the request's agreement: the price is paid at once."""

    async def approve() -> Acted:
        return await portal.act(
            user,
            "approve_financing",
            f"/v1/financing-requests/{request_id}/approve",
            {"rate_bps": rate_bps, "agreement_hash": agreement_hash},
            f"portal-{user.user.id}-{idempotency_key}-approve-{request_id}",
        )

    details: dict[str, Any] = {"request_id": request_id, "rate_bps": rate_bps}
    return await _financier_acts(
        request, portal, user, words, "approve_financing", details, approve
    )


@router.post(PATH + "/{request_id}/reject")
async def reject_financing(
    request: Request,
    request_id: int,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Reject, with reasons the requester reads (a document named on the ledger)."""
    key = f"portal-{user.user.id}-{idempotency_key}-reject-{request_id}"

    async def reject() -> Acted:
        api = portal.member_api(user)
        listed = (await api.get("/v1/financing-requests", limit=500))["items"]
        asked = next((r for r in listed if r["id"] == request_id), None)
        if asked is None:  # as the API would answer the rejection itself
            raise ApiRefusal(404, "not_found", f"financing request {request_id} not found")
        reason_hash = await api.store_document(
            "rejection-reasons.txt",
            "text/plain",
            reason.strip().encode(),
            [asked["requester_id"]],
            idempotency_key=f"{key}-reasons",
        )
        answer = await api.post(
            f"/v1/financing-requests/{request_id}/reject",
            {"reason_hash": reason_hash},
            idempotency_key=key,
        )
        return Acted(answer=answer)

    details: dict[str, Any] = {"request_id": request_id, "reason": reason.strip()[:200]}
    return await _financier_acts(request, portal, user, words, "reject_financing", details, reject)
