"""The invoices page: a member's invoices (sold and bought) and the registration form,
whose document is stored (``POST /v1/documents``, shared with the buyer) and anchored by
its hash in the invoice (``POST /v1/invoices``), both through the REST API in process."""

from __future__ import annotations

import base64
import uuid
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
PATH = "/invoices"


async def _invoices_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    invoices = (await api.get("/v1/invoices", limit=500))["items"]
    members = (await api.get("/v1/members", limit=500))["items"]
    buyers = [
        m
        for m in members
        if "CORE_ENTERPRISE" in m["roles"] and m["status"] == "active" and m["id"] != me["id"]
    ]
    return render(
        request,
        "invoices.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names={m["id"]: m["name"] for m in members},
        invoices=invoices,
        buyers=buyers,
        may_act=Role(user.user.role).may_act,
        idempotency_key=str(uuid.uuid4()),
        **outcome,
    )


@router.get(PATH)
async def read_invoices(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _invoices_page(request, portal, user)


@router.post(PATH)
async def register_invoice(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    invoice_code: Annotated[str, Form(max_length=64)],
    invoice_number: Annotated[str, Form(max_length=64)],
    buyer_id: Annotated[int, Form(ge=1)],
    amount: Annotated[str, Form(max_length=32)],
    issue_date: Annotated[str, Form(max_length=10)],
    due_date: Annotated[str, Form(max_length=10)],
    document: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Store the invoice's document for the seller and the buyer, then register the
    invoice with the document's hash: two REST calls, each under its own key derived
    from the form's, so a second submission of the form repeats neither."""
    client = client_address(request)
    key = f"portal-{user.user.id}-{idempotency_key}"
    details = {"invoice_code": invoice_code, "invoice_number": invoice_number, "amount": amount}
    try:
        if not Role(user.user.role).may_act:
            raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
        content = await document.read()
        api = portal.member_api(user)
        stored = await api.post(
            "/v1/documents",
            {
                "filename": (document.filename or "invoice")[:256],
                "content_type": document.content_type or "application/octet-stream",
                "content": base64.b64encode(content).decode(),
                "party_ids": [buyer_id],
            },
            idempotency_key=f"{key}-document",
        )
        invoice = await api.post(
            "/v1/invoices",
            {
                "invoice_code": invoice_code.strip(),
                "invoice_number": invoice_number.strip(),
                "buyer_id": buyer_id,
                "amount": amount.strip(),
                "issue_date": issue_date,
                "due_date": due_date,
                "document_hash": stored["hash"],
            },
            idempotency_key=f"{key}-invoice",
        )
    except ApiRefusal as refusal:
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(
            portal.audit, user, "register_invoice", outcome, client, details
        )
        return await _invoices_page(
            request,
            portal,
            user,
            refusal.status,
            refusal=refusal,
            refusal_text=words.refusal(refusal),
        )
    details["key"] = invoice["key"]
    await anyio.to_thread.run_sync(portal.audit, user, "register_invoice", "ok", client, details)
    return await _invoices_page(request, portal, user, registered=invoice)
