"""The invoices page: a member's invoices (sold and bought) and the registration form,
whose document is stored (``POST /v1/documents``, shared with the buyer) and anchored by
its hash in the invoice (``POST /v1/invoices``); for a buyer, the invoices to confirm
(确权, ``POST /v1/invoices/{key}/confirm``) or dispute, with its reasons stored as a
document shared with the seller (``POST /v1/invoices/{key}/dispute``) — all through the
REST API in process."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, File, Form, Path, Request, UploadFile
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
        to_confirm=[
            i for i in invoices if i["buyer_id"] == me["id"] and i["status"] == "registered"
        ],
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
        document_hash = await api.store_document(
            document.filename or "invoice",
            document.content_type or "application/octet-stream",
            content,
            [buyer_id],
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
                "document_hash": document_hash,
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


InvoiceKeyPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]


async def _buyer_acts(
    request: Request,
    portal: Portal,
    user: SignedIn,
    words: WordsDep,
    action: str,
    key: str,
    details: dict[str, Any],
    call: Callable[[], Awaitable[dict[str, Any]]],
) -> Response:
    """Run a buyer's call on invoice ``key``; the page with its outcome or refusal."""
    client = client_address(request)
    details = {"key": key, **details}
    try:
        if not Role(user.user.role).may_act:
            raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
        invoice = await call()
    except ApiRefusal as refusal:
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(portal.audit, user, action, outcome, client, details)
        return await _invoices_page(
            request,
            portal,
            user,
            refusal.status,
            refusal=refusal,
            refusal_text=words.refusal(refusal),
        )
    await anyio.to_thread.run_sync(portal.audit, user, action, "ok", client, details)
    return await _invoices_page(request, portal, user, decided=invoice)


@router.post(PATH + "/{key}/confirm")
async def confirm_invoice(
    request: Request,
    key: InvoiceKeyPath,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """The buyer confirms it owes the invoice (确权)."""
    api_key = f"portal-{user.user.id}-{idempotency_key}-confirm-{key}"

    async def confirm() -> dict[str, Any]:
        answer: dict[str, Any] = await portal.member_api(user).post(
            f"/v1/invoices/{key}/confirm", None, idempotency_key=api_key
        )
        return answer

    return await _buyer_acts(request, portal, user, words, "confirm_invoice", key, {}, confirm)


@router.post(PATH + "/{key}/dispute")
async def dispute_invoice(
    request: Request,
    key: InvoiceKeyPath,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """The buyer disputes the invoice: its reasons, stored as a document the seller may
    read, are named by their hash on the ledger."""
    api_key = f"portal-{user.user.id}-{idempotency_key}-dispute-{key}"

    async def dispute() -> dict[str, Any]:
        api = portal.member_api(user)
        invoice = await api.get(f"/v1/invoices/{key}")
        reason_hash = await api.store_document(
            "dispute-reasons.txt",
            "text/plain",
            reason.strip().encode(),
            [invoice["seller_id"]],
            idempotency_key=f"{api_key}-reasons",
        )
        answer: dict[str, Any] = await api.post(
            f"/v1/invoices/{key}/dispute",
            {"reason_hash": reason_hash},
            idempotency_key=api_key,
        )
        return answer

    details = {"reason": reason.strip()[:200]}
    return await _buyer_acts(request, portal, user, words, "dispute_invoice", key, details, dispute)
