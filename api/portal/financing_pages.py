"""The financing page: a holder's quote (the ledger's own pricing, ``GET
/v1/financing-requests/quote``), its financing requests, and the request form, whose
agreement is stored for the financier (``POST /v1/documents``) and named in the request
(``POST /v1/financing-requests``) — all through the REST API in process."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.portal.member_api import ApiRefusal
from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
    WordsDep,
)
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/financing"


async def _financing_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    view = await portal.view(user)
    held = await view.api.get("/v1/certificates", holder_id=view.me["id"], limit=500)
    requests = (await view.api.get("/v1/financing-requests", limit=500))["items"]
    return await portal.render_member_page(
        request,
        user,
        view,
        "financing.html",
        status,
        certificates=[c for c in held["items"] if Decimal(c["value"]) > Decimal(c["locked"])],
        requests=[r for r in requests if r["requester_id"] == view.me["id"]],
        financiers=view.active("FINANCIER"),
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
    key = f"portal-{user.user.id}-{idempotency_key}"
    details = {"certificate_id": certificate_id, "financier_id": financier_id, "amount": amount}

    async def store_and_request() -> Acted:
        api = portal.member_api(user)
        agreement_hash = await api.store_document(
            agreement.filename or "agreement",
            agreement.content_type or "application/octet-stream",
            await agreement.read(),
            [financier_id],
            idempotency_key=f"{key}-agreement",
        )
        # the agreement is stored at once (it moves no money); the request itself waits
        # for an approver where the member has maker-checker on
        return await portal.act(
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

    def noted(created: dict[str, Any]) -> dict[str, Any]:
        return {"request_id": created["id"]}

    page = functools.partial(_financing_page, request, portal, user)
    return await portal.finish(
        request, user, "request_financing", details, store_and_request, page, "requested", noted
    )
