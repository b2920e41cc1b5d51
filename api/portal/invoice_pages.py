"""The invoices page: a member's invoices (sold and bought) and the registration form,
whose document is stored (``POST /v1/documents``, shared with the buyer) and anchored by
its hash in the invoice (``POST /v1/invoices``); for a buyer, the invoices to confirm
(确权, ``POST /v1/invoices/{key}/confirm``) or dispute, with its reasons stored as a
document shared with the seller (``POST /v1/invoices/{key}/dispute``) — all through the
REST API in process."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.portal.pages import (
    Acted,
    Page,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
)
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/invoices"


async def _invoices_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    view = await portal.view(user)
    invoices = (await view.api.get("/v1/invoices", limit=500))["items"]
    return await portal.render_member_page(
        request,
        user,
        view,
        "invoices.html",
        status,
        invoices=invoices,
        to_confirm=[
            i for i in invoices if i["buyer_id"] == view.me["id"] and i["status"] == "registered"
        ],
        buyers=view.active("CORE_ENTERPRISE", others=True),
        **outcome,
    )


def _invoices(request: Request, portal: Portal, user: SignedIn) -> Page:
    return functools.partial(_invoices_page, request, portal, user)


@router.get(PATH)
async def read_invoices(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _invoices_page(request, portal, user)


@router.post(PATH)
async def register_invoice(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
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
    key = f"portal-{user.user.id}-{idempotency_key}"
    details = {"invoice_code": invoice_code, "invoice_number": invoice_number, "amount": amount}

    async def store_and_register() -> Acted:
        api = portal.member_api(user)
        document_hash = await api.store_document(
            document.filename or "invoice",
            document.content_type or "application/octet-stream",
            await document.read(),
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
        return Acted(answer=invoice)

    def noted(invoice: dict[str, Any]) -> dict[str, Any]:
        return {"key": invoice["key"]}

    page = _invoices(request, portal, user)
    return await portal.finish(
        request, user, "register_invoice", details, store_and_register, page, "registered", noted
    )


InvoiceKeyPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]


async def _buyer_acts(
    request: Request,
    portal: Portal,
    user: SignedIn,
    action: str,
    key: str,
    details: dict[str, Any],
    call: Callable[[], Awaitable[dict[str, Any]]],
) -> Response:
    """Run a buyer's call on invoice ``key``; the page with its outcome or refusal."""

    async def attempt() -> Acted:
        return Acted(answer=await call())

    page = _invoices(request, portal, user)
    details = {"key": key, **details}
    return await portal.finish(request, user, action, details, attempt, page, "decided")


@router.post(PATH + "/{key}/confirm")
async def confirm_invoice(
    request: Request,
    key: InvoiceKeyPath,
    user: PostedDep,
    portal: PortalDep,
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """The buyer confirms it owes the invoice (确权)."""
    api_key = f"portal-{user.user.id}-{idempotency_key}-confirm-{key}"

    async def confirm() -> dict[str, Any]:
        answer: dict[str, Any] = await portal.member_api(user).post(
            f"/v1/invoices/{key}/confirm", None, idempotency_key=api_key
        )
        return answer

    return await _buyer_acts(request, portal, user, "confirm_invoice", key, {}, confirm)


@router.post(PATH + "/{key}/dispute")
async def dispute_invoice(
    request: Request,
    key: InvoiceKeyPath,
    user: PostedDep,
    portal: PortalDep,
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
    return await _buyer_acts(request, portal, user, "dispute_invoice", key, details, dispute)
