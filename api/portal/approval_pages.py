"""The approvals page (maker-checker, 经办/复核): the member's prepared money-moving actions,
each with exactly the REST call it will send; an approver who did not prepare one confirms
it (then it is sent, through the REST API in process, under the key fixed when it was
prepared) or rejects it with a reason; an approver switches maker-checker on or off."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.errors import status_of
from api.portal import audit, i18n, maker_checker
from api.portal.maker_checker import Status
from api.portal.member_api import ApiRefusal
from api.portal.pages import (
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
    WordsDep,
    client_address,
)
from api.portal.sessions import SignedIn
from api.portal.users import users_of
from api.readmodel.models import PortalPendingActionRow, PortalUserRow
from api.schemas.portal_users import Role
from chain.errors import ScfError

router = APIRouter()
PATH = "/approvals"
_CERTIFICATE_IN_PATH = re.compile(r"^/v1/certificates/(\d+)/")


def _fields(
    row: PortalPendingActionRow, body: dict[str, Any], names: dict[int, str]
) -> list[tuple[str, str]]:
    """The action's terms in words (label key, value), beside the exact call."""
    fields: list[tuple[str, str]] = []
    in_path = _CERTIFICATE_IN_PATH.match(row.path)
    certificate = body.get("certificate_id") or (in_path[1] if in_path else None)
    if certificate is not None:
        fields.append(("checker.f.certificate", f"#{certificate}"))
    members = (
        ("to_member_id", "recipient"),
        ("financier_id", "financier"),
        ("holder_id", "holder"),
    )
    for key, label in members:
        if key in body:
            fields.append((f"checker.f.{label}", names.get(body[key], f"#{body[key]}")))
    if "root_id" in body:
        fields.append(("checker.f.root", f"#{body['root_id']}"))
    keys = (
        "amount",
        "face_value",
        "maturity",
        "max_rate_bps",
        "rate_bps",
        "expires_at",
        "agreement_hash",
        "bank_reference",
    )
    for key in keys:
        if key in body:
            fields.append((f"checker.f.{key}", str(body[key])))
    return fields


def _view(
    row: PortalPendingActionRow,
    names: dict[int, str],
    people: dict[int, str],
    words: i18n.Words,
    user: SignedIn,
) -> dict[str, Any]:
    body = json.loads(row.body)
    answer = json.loads(row.answer) if row.answer else None
    checker = user.user.role == Role.APPROVER.value and user.user.id != row.maker_id
    refused = None
    if row.status == Status.REFUSED.value and answer is not None:
        refusal = ApiRefusal(answer["status"], answer["code"], answer["message"], answer["details"])
        refused = {"text": words.refusal(refusal), "code": refusal.revert or refusal.code}
    return {
        "row": row,
        "fields": _fields(row, body, names),
        "call": f"{row.method} {row.path}",
        "body": json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False),
        "maker": people.get(row.maker_id, f"#{row.maker_id}"),
        "checker": people.get(row.checker_id, "") if row.checker_id else "",
        "refused": refused,
        "may_check": row.status == Status.PENDING.value and checker,
        "may_send_again": row.status == Status.SENDING.value and checker,
    }


async def _approvals_page(
    request: Request,
    portal: Portal,
    user: SignedIn,
    words: i18n.Words,
    status: int = 200,
    **outcome: Any,
) -> HTMLResponse:
    view = await portal.view(user)
    member_id = user.user.member_id

    def read() -> tuple[bool, list[PortalPendingActionRow], dict[int, str]]:
        with portal.sessions() as session:
            people = {u.id: u.name for u in users_of(session, member_id)}
            return maker_checker.is_on(session, member_id), _actions(session, member_id), people

    on, rows, people = await anyio.to_thread.run_sync(read)
    views = [_view(row, view.names, people, words, user) for row in rows]
    return await portal.render_member_page(
        request,
        user,
        view,
        "approvals.html",
        status,
        checked=on,
        pending=[v for v in views if v["row"].status == Status.PENDING.value],
        decided=[v for v in views if v["row"].status != Status.PENDING.value],
        approver=user.user.role == Role.APPROVER.value,
        **outcome,
    )


def _actions(session: Session, member_id: int) -> list[PortalPendingActionRow]:
    rows = maker_checker.of_member(session, member_id)
    for row in rows:
        session.expunge(row)
    return rows


@router.get(PATH)
async def read_approvals(
    request: Request, user: SignedInDep, portal: PortalDep, words: WordsDep
) -> Response:
    return await _approvals_page(request, portal, user, words)


async def _refused_page(
    request: Request, portal: Portal, user: SignedIn, words: i18n.Words, refusal: ApiRefusal
) -> HTMLResponse:
    text = words.refusal(refusal)
    return await _approvals_page(
        request, portal, user, words, refusal.status, refusal=refusal, refusal_text=text
    )


def _as_refusal(exc: ScfError) -> ApiRefusal:
    return ApiRefusal(status_of(exc), exc.code, exc.message, exc.details)


@router.post(PATH + "/{action_id}/confirm")
async def confirm_action(
    request: Request, action_id: int, user: PostedDep, portal: PortalDep, words: WordsDep
) -> Response:
    """Send the prepared call, once: it moves out of pending before it is sent."""
    return await _send(
        request, action_id, user, portal, words, maker_checker.claim, "confirm_action"
    )


@router.post(PATH + "/{action_id}/send-again")
async def send_action_again(
    request: Request, action_id: int, user: PostedDep, portal: PortalDep, words: WordsDep
) -> Response:
    """Send again an action left being sent (its answer never recorded): same key."""
    return await _send(
        request, action_id, user, portal, words, maker_checker.claim_again, "send_action_again"
    )


Claim = Callable[[Session, PortalUserRow, int, int], PortalPendingActionRow]


async def _send(
    request: Request,
    action_id: int,
    user: SignedIn,
    portal: Portal,
    words: i18n.Words,
    claim_with: Claim,
    audit_as: str,
) -> Response:
    client = client_address(request)

    def claim() -> PortalPendingActionRow:
        with portal.sessions.begin() as session:
            row = claim_with(session, user.user, action_id, portal.now())
            session.expunge(row)
            return row

    try:
        row = await anyio.to_thread.run_sync(claim)
    except ScfError as exc:
        tried = {"action_id": action_id, "checker_id": user.user.id}
        await anyio.to_thread.run_sync(portal.audit, user, audit_as, exc.code, client, tried)
        return await _refused_page(request, portal, user, words, _as_refusal(exc))
    details: dict[str, Any] = {
        "action_id": row.id,
        "kind": row.kind,
        "maker_id": row.maker_id,
        "checker_id": user.user.id,
    }
    try:
        answer = await portal.member_api(user).post(
            row.path, json.loads(row.body), idempotency_key=row.idempotency_key
        )
    except ApiRefusal as refusal:
        later = refusal.status == 429 or refusal.status >= 500  # busy: it may be confirmed again
        await anyio.to_thread.run_sync(_after_refusal, portal, row.id, refusal, later)
        outcome = refusal.revert or refusal.code
        await anyio.to_thread.run_sync(portal.audit, user, audit_as, outcome, client, details)
        return await _refused_page(request, portal, user, words, refusal)

    def done() -> None:
        with portal.sessions.begin() as session:
            maker_checker.settle(session, row.id, Status.DONE, answer)
            audit.record(
                session,
                member_id=user.user.member_id,
                user_id=user.user.id,
                action=audit_as,
                client=client,
                details=details,
            )

    await anyio.to_thread.run_sync(done)
    return await _approvals_page(request, portal, user, words, confirmed=row)


def _after_refusal(portal: Portal, action_id: int, refusal: ApiRefusal, later: bool) -> None:
    with portal.sessions.begin() as session:
        if later:
            maker_checker.release(session, action_id)
        else:
            answer = {
                "status": refusal.status,
                "code": refusal.code,
                "message": refusal.message,
                "details": refusal.details,
            }
            maker_checker.settle(session, action_id, Status.REFUSED, answer)


@router.post(PATH + "/{action_id}/reject")
async def reject_action(
    request: Request,
    action_id: int,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    client = client_address(request)

    def reject() -> PortalPendingActionRow:
        with portal.sessions.begin() as session:
            row = maker_checker.reject(session, user.user, action_id, reason, portal.now())
            details = {
                "action_id": row.id,
                "kind": row.kind,
                "maker_id": row.maker_id,
                "checker_id": user.user.id,
                "reason": row.reason,
            }
            audit.record(
                session,
                member_id=user.user.member_id,
                user_id=user.user.id,
                action="reject_action",
                client=client,
                details=details,
            )
            session.expunge(row)
            return row

    try:
        row = await anyio.to_thread.run_sync(reject)
    except ScfError as exc:
        details = {"action_id": action_id, "checker_id": user.user.id}
        await anyio.to_thread.run_sync(
            portal.audit, user, "reject_action", exc.code, client, details
        )
        return await _refused_page(request, portal, user, words, _as_refusal(exc))
    return await _approvals_page(request, portal, user, words, rejected=row)


@router.post("/maker-checker")
async def switch_maker_checker(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    words: WordsDep,
    enabled: Annotated[bool, Form()],
) -> Response:
    """An approver switches maker-checker for its member (so may the API key holder)."""
    client = client_address(request)
    if user.user.role != Role.APPROVER.value:
        refusal = ApiRefusal(403, "approver_only", "only an approver switches maker-checker")
        details = {"enabled": enabled}
        await anyio.to_thread.run_sync(
            portal.audit, user, "switch_maker_checker", refusal.code, client, details
        )
        return await _refused_page(request, portal, user, words, refusal)

    def switch() -> None:
        with portal.sessions.begin() as session:
            by = f"user:{user.user.id}"
            maker_checker.switch(session, user.user.member_id, enabled, by, portal.now())
            audit.record(
                session,
                member_id=user.user.member_id,
                user_id=user.user.id,
                action="switch_maker_checker",
                client=client,
                details={"enabled": enabled},
            )

    await anyio.to_thread.run_sync(switch)
    return await _approvals_page(request, portal, user, words, switched=True)
