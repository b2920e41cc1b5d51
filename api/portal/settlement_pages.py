"""The settlement page: the member's settlement-token balance; for a financier also its
issuance against its cap and the mint and burn forms, each against a deposit or
withdrawal record stored as a document and named by its hash (``bank_reference``). Mint
and burn move money: under maker-checker they wait for an approver. All through the REST
API in process."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
)
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/settlement"


async def _settlement_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    view = await portal.view(user)
    me, api = view.me, view.api
    financier = "FINANCIER" in me["roles"]
    return await portal.render_member_page(
        request,
        user,
        view,
        "settlement.html",
        status,
        balance=await api.get("/v1/settlement/balance"),
        issuance=await api.get(f"/v1/settlement/issuance/{me['id']}") if financier else None,
        recipients=view.active(),
        **outcome,
    )


@router.get(PATH)
async def read_settlement(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _settlement_page(request, portal, user)


async def _mint_or_burn(
    request: Request,
    portal: Portal,
    user: SignedIn,
    kind: str,
    body: dict[str, Any],
    record: UploadFile,
    parties: list[int],
    idempotency_key: str,
) -> Response:
    """Store the bank's record, then mint or burn against its hash."""
    key = f"portal-{user.user.id}-{idempotency_key}-{kind}"

    async def store_and_call() -> Acted:
        api = portal.member_api(user)
        record_hash = await api.store_document(
            record.filename or f"{kind}-record",
            record.content_type or "application/octet-stream",
            await record.read(),
            parties,
            idempotency_key=f"{key}-record",
        )
        call = {**body, "bank_reference": record_hash}
        acted = await portal.act(user, kind, f"/v1/settlement/{kind}", call, key)
        if acted.prepared is not None:
            return acted
        return Acted(answer={"kind": kind, "amount": body["amount"], "balance": acted.answer})

    page = functools.partial(_settlement_page, request, portal, user)
    return await portal.finish(request, user, kind, dict(body), store_and_call, page, "done")


@router.post(PATH + "/mint")
async def mint(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    to_member_id: Annotated[int, Form(ge=1)],
    amount: Annotated[str, Form(max_length=32)],
    record: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Mint settlement tokens to a member against a deposit (the record is the member's
    to read too)."""
    body = {"to_member_id": to_member_id, "amount": amount.strip()}
    return await _mint_or_burn(
        request, portal, user, "mint", body, record, [to_member_id], idempotency_key
    )


@router.post(PATH + "/burn")
async def burn(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    amount: Annotated[str, Form(max_length=32)],
    record: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Burn the financier's own tokens on a withdrawal."""
    body = {"amount": amount.strip()}
    return await _mint_or_burn(request, portal, user, "burn", body, record, [], idempotency_key)
