"""The financier's financing inbox: requests addressed to its member; approval at a rate
within the terms
(``POST /v1/financing-requests/{id}/approve``, money-moving: held for an approver under
maker-checker) or rejection with reasons stored as a document the requester reads
(``POST /v1/financing-requests/{id}/reject``) — all through the REST API in process."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.portal.member_api import ApiRefusal, MemberApi
from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
)
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/inbox"


async def _inbox_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    view = await portal.view(user)
    mine = [
        r
        for r in (await view.api.get("/v1/financing-requests", limit=500))["items"]
        if r["financier_id"] == view.me["id"]
    ]
    waiting = [r for r in mine if r["status"] == "pending"]
    return await portal.render_member_page(
        request,
        user,
        view,
        "inbox.html",
        status,
        waiting=waiting,
        priced={r["id"]: await _priced(view.api, r) for r in waiting},
        decided=[r for r in mine if r["status"] != "pending"],
        **outcome,
    )


async def _priced(api: MemberApi, asked: dict[str, Any]) -> dict[str, Any] | None:
    """What approving ``asked`` at the requester's highest rate pays (the ledger's own
    pricing) and the certificate it buys into, with its root's face value; ``None`` if
    the API refuses (the request expired meanwhile, say)."""
    try:
        certificate = await api.get(f"/v1/certificates/{asked['certificate_id']}")
        quote = await api.get(
            "/v1/financing-requests/quote",
            amount=asked["amount"],
            rate_bps=asked["max_rate_bps"],
            certificate_id=asked["certificate_id"],
        )
    except ApiRefusal:
        return None
    return {"certificate": certificate, "quote": quote}


@router.get(PATH)
async def read_inbox(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _inbox_page(request, portal, user)


async def _financier_acts(
    request: Request,
    portal: Portal,
    user: SignedIn,
    action: str,
    details: dict[str, Any],
    call: Callable[[], Awaitable[Acted]],
) -> Response:
    page = functools.partial(_inbox_page, request, portal, user)
    return await portal.finish(request, user, action, details, call, page, "decided_now")


@router.post(PATH + "/{request_id}/approve")
async def approve_financing(
    request: Request,
    request_id: int,
    user: PostedDep,
    portal: PortalDep,
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
    return await _financier_acts(request, portal, user, "approve_financing", details, approve)


@router.post(PATH + "/{request_id}/reject")
async def reject_financing(
    request: Request,
    request_id: int,
    user: PostedDep,
    portal: PortalDep,
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
    return await _financier_acts(request, portal, user, "reject_financing", details, reject)
