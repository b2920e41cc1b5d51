"""The settlement page: the member's settlement-token balance; for a financier also its
issuance against its cap and the mint and burn forms, each against a deposit or
withdrawal record stored as a document and named by its hash (``bank_reference``). Mint
and burn move money: under maker-checker they wait for an approver. All through the REST
API in process."""

from __future__ import annotations

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
PATH = "/settlement"


async def _settlement_page(
    request: Request, portal: Portal, user: SignedIn, status: int = 200, **outcome: Any
) -> HTMLResponse:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    members = (await api.get("/v1/members", limit=500))["items"]
    financier = "FINANCIER" in me["roles"]
    return render(
        request,
        "settlement.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        balance=await api.get("/v1/settlement/balance"),
        issuance=await api.get(f"/v1/settlement/issuance/{me['id']}") if financier else None,
        recipients=[m for m in members if m["status"] == "active"],
        may_act=Role(user.user.role).may_act,
        checked=await portal.maker_checker_on(user),
        idempotency_key=str(uuid.uuid4()),
        **outcome,
    )


@router.get(PATH)
async def read_settlement(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    return await _settlement_page(request, portal, user)


async def _mint_or_burn(
    request: Request,
    portal: Portal,
    user: SignedIn,
    words: WordsDep,
    kind: str,
    body: dict[str, Any],
    record: UploadFile,
    parties: list[int],
    idempotency_key: str,
) -> Response:
    """Store the bank's record, then mint or burn against its hash."""
    client = client_address(request)
    key = f"portal-{user.user.id}-{idempotency_key}-{kind}"
    details: dict[str, Any] = dict(body)
    try:
        if not Role(user.user.role).may_act:
            raise ApiRefusal(403, "viewer_may_not_act", "a viewer may only read")
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
    except ApiRefusal as refusal:
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(portal.audit, user, kind, outcome, client, details)
        text = words.refusal(refusal)
        return await _settlement_page(
            request, portal, user, refusal.status, refusal=refusal, refusal_text=text
        )
    if acted.prepared is not None:
        details["pending_action_id"] = acted.prepared.id
        await anyio.to_thread.run_sync(portal.audit, user, kind, "prepared", client, details)
        return await _settlement_page(request, portal, user, prepared=acted.prepared)
    await anyio.to_thread.run_sync(portal.audit, user, kind, "ok", client, details)
    done = {"kind": kind, "amount": body["amount"], "balance": acted.answer}
    return await _settlement_page(request, portal, user, done=done)


@router.post(PATH + "/mint")
async def mint(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    to_member_id: Annotated[int, Form(ge=1)],
    amount: Annotated[str, Form(max_length=32)],
    record: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Mint settlement tokens to a member against a deposit (the record is the member's
    to read too)."""
    body = {"to_member_id": to_member_id, "amount": amount.strip()}
    return await _mint_or_burn(
        request, portal, user, words, "mint", body, record, [to_member_id], idempotency_key
    )


@router.post(PATH + "/burn")
async def burn(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    amount: Annotated[str, Form(max_length=32)],
    record: Annotated[UploadFile, File()],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Burn the financier's own tokens on a withdrawal."""
    body = {"amount": amount.strip()}
    return await _mint_or_burn(
        request, portal, user, words, "burn", body, record, [], idempotency_key
    )
