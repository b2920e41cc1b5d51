"""The financing page: a holder's quote (the ledger's own pricing, ``GET
/v1/financing-requests/quote``), its financing requests, and the request form, whose
agreement is stored for the financier (``POST /v1/documents``) and named in the request
(``POST /v1/financing-requests``) — all through the REST API in process."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.portal.member_api import ApiRefusal
from api.portal.pages import (
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
PATH = "/financing"


async def _financing_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    held = await api.get("/v1/certificates", holder_id=me["id"], limit=500)
    requests = (await api.get("/v1/financing-requests", limit=500))["items"]
    members = (await api.get("/v1/members", limit=500))["items"]
    financiers = [m for m in members if "FINANCIER" in m["roles"] and m["status"] == "active"]
    return render(
        request,
        "financing.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names={m["id"]: m["name"] for m in members},
        certificates=[c for c in held["items"] if Decimal(c["value"]) > Decimal(c["locked"])],
        requests=[r for r in requests if r["requester_id"] == me["id"]],
        financiers=financiers,
        may_act=Role(user.user.role).may_act,
        checked=await portal.maker_checker_on(user),
        idempotency_key=str(uuid.uuid4()),
        **outcome,
    )


@router.get(PATH)
async def read_financing(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    words: WordsDep,
    certificate_id: int | None = None,
    amount: str | None = None,
    rate_bps: int | None = None,
) -> Response:
    """The page; with ``certificate_id``, ``amount`` and ``rate_bps`` (the quote form,
    a GET: it changes nothing) also the quote."""
    if certificate_id is None or amount is None or rate_bps is None:
        return await _financing_page(request, portal, user)
    asked = {"certificate_id": certificate_id, "amount": amount.strip(), "rate_bps": rate_bps}
    try:
        quoted = await portal.member_api(user).get("/v1/financing-requests/quote", **asked)
    except ApiRefusal as refusal:
        return await _financing_page(
            request,
            portal,
            user,
            refusal.status,
            refusal=refusal,
            refusal_text=words.refusal(refusal),
            asked=asked,
        )
    return await _financing_page(request, portal, user, quote=quoted, asked=asked)


@router.post(PATH)
async def request_financing(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    certificate_id: Annotated[int, Form(ge=1)],
    financier_id: Annotated[int, Form(ge=1)],
    amount: Annotated[str, Form(max_length=32)],
    max_rate_bps: Annotated[int, Form(ge=0, le=10_000)],
    expires_on: Annotated[str, Form(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    agreement: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Store the agreement for the financier, then request financing on these terms
    (approval possible until the end of ``expires_on``, UTC)."""
    client = client_address(request)
    key = f"portal-{user.user.id}-{idempotency_key}"
    details = {"certificate_id": certificate_id, "financier_id": financier_id, "amount": amount}
    try:
        if not Role(user.user.role).may_act:
            raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
        content = await agreement.read()
        api = portal.member_api(user)
        agreement_hash = await api.store_document(
            agreement.filename or "agreement",
            agreement.content_type or "application/octet-stream",
            content,
            [financier_id],
            idempotency_key=f"{key}-agreement",
        )
        # the agreement is stored at once (it moves no money); the request itself waits
        # for an approver where the member has maker-checker on
        acted = await portal.act(
            user,
            "request_financing",
            "/v1/financing-requests",
            {
                "certificate_id": certificate_id,
                "financier_id": financier_id,
                "amount": amount.strip(),
                "max_rate_bps": max_rate_bps,
                "agreement_hash": agreement_hash,
                "expires_at": f"{expires_on}T23:59:59Z",
            },
            f"{key}-request",
        )
    except ApiRefusal as refusal:
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(
            portal.audit, user, "request_financing", outcome, client, details
        )
        return await _financing_page(
            request,
            portal,
            user,
            refusal.status,
            refusal=refusal,
            refusal_text=words.refusal(refusal),
        )
    if acted.prepared is not None:
        details["pending_action_id"] = acted.prepared.id
        await anyio.to_thread.run_sync(
            portal.audit, user, "request_financing", "prepared", client, details
        )
        return await _financing_page(request, portal, user, prepared=acted.prepared)
    created = acted.answer
    details["request_id"] = created["id"]
    await anyio.to_thread.run_sync(portal.audit, user, "request_financing", "ok", client, details)
    return await _financing_page(request, portal, user, requested=created)
