"""Maker-checker (经办/复核) for a member's portal users, when the member switches it on.

A money-moving action a portal user prepares (a split transfer, a financing request, ...)
is not sent: its exact REST call — method, path, body — is stored as pending with the
idempotency key it will be sent under, fixed now. It is sent only when an approver of the
same member, not its maker, confirms it; an approver may instead reject it with a reason.
The switch is a portal matter: machine clients with the member's API key act as before.

Sending once: a confirmation first moves the action from pending to sending in one
conditional UPDATE, so of two confirmations (a double click, two approvers at once) one
sends and the other is told it was decided; and the key fixed at preparation makes even a
repeated send the same request to the API's idempotency layer.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.readmodel.models import (
    PortalMemberSettingsRow,
    PortalPendingActionRow,
    PortalUserRow,
)
from api.schemas.portal_users import Role
from chain.errors import ScfError


class Status(StrEnum):
    PENDING = "pending"  # waiting for a checker
    SENDING = "sending"  # confirmed; the API's answer not yet recorded
    DONE = "done"  # the API did it
    REFUSED = "refused"  # the API (or the contract) refused it at confirmation
    REJECTED = "rejected"  # the checker said no


class ApproverOnly(ScfError):
    code = "approver_only"
    http_status = 403


class MakerMayNotCheck(ScfError):
    code = "maker_may_not_check"
    http_status = 403


class ActionDecided(ScfError):
    code = "pending_action_decided"
    http_status = 409


class PendingActionNotFound(ScfError):
    code = "not_found"
    http_status = 404


class StillSending(ScfError):
    code = "pending_action_sending"
    http_status = 409


class ReasonRequired(ScfError):
    code = "reason_required"
    http_status = 422


def is_on(session: Session, member_id: int) -> bool:
    row = session.get(PortalMemberSettingsRow, member_id)
    return row is not None and row.maker_checker


def switch(session: Session, member_id: int, on: bool, by: str, now: int) -> None:
    """Switch maker-checker for the member (``by``: "api_key" or "user:<id>"); actions
    already pending stay pending either way (the caller commits)."""
    row = session.get(PortalMemberSettingsRow, member_id)
    if row is None:
        row = PortalMemberSettingsRow(member_id=member_id)
        session.add(row)
    row.maker_checker, row.changed_at, row.changed_by = on, now, by


def prepare(
    session: Session,
    maker: PortalUserRow,
    *,
    kind: str,
    path: str,
    body: dict[str, Any],
    idempotency_key: str,
    now: int,
) -> PortalPendingActionRow:
    """Store ``POST path body`` as pending (the caller commits). The same form sent again
    (its key) is the same pending action, not a second one."""
    found = _by_key(session, idempotency_key)
    if found is not None:
        return found
    row = PortalPendingActionRow(
        member_id=maker.member_id,
        kind=kind,
        method="POST",
        path=path,
        body=json.dumps(body, sort_keys=True),
        idempotency_key=idempotency_key,
        maker_id=maker.id,
        prepared_at=now,
        status=Status.PENDING.value,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same key, stored by a concurrent submission
        found = _by_key(session, idempotency_key)
        assert found is not None
        return found
    return row


def _by_key(session: Session, key: str) -> PortalPendingActionRow | None:
    query = select(PortalPendingActionRow).where(PortalPendingActionRow.idempotency_key == key)
    return session.scalar(query)


def of_member(session: Session, member_id: int, limit: int = 100) -> list[PortalPendingActionRow]:
    """The member's actions, the newest first."""
    query = (
        select(PortalPendingActionRow)
        .where(PortalPendingActionRow.member_id == member_id)
        .order_by(PortalPendingActionRow.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def action_of(session: Session, member_id: int, action_id: int) -> PortalPendingActionRow:
    """The member's action ``action_id``; another member's is not found, as none is."""
    row = session.get(PortalPendingActionRow, action_id)
    if row is None or row.member_id != member_id:
        raise PendingActionNotFound(
            f"member {member_id} has no pending action {action_id}",
            details={"action_id": action_id},
        )
    return row


def _may_check(checker: PortalUserRow, row: PortalPendingActionRow) -> None:
    if checker.role != Role.APPROVER.value:
        raise ApproverOnly("only an approver (复核) confirms or rejects a prepared action")
    if checker.id == row.maker_id:
        raise MakerMayNotCheck(
            "the maker of an action may not also check it", details={"action_id": row.id}
        )


def _decide(
    session: Session, row: PortalPendingActionRow, checker: PortalUserRow, now: int, **values: Any
) -> None:
    """Move ``row`` out of pending for ``checker``, or ``ActionDecided`` if someone did."""
    moved = session.execute(
        update(PortalPendingActionRow)
        .where(
            PortalPendingActionRow.id == row.id,
            PortalPendingActionRow.status == Status.PENDING.value,
        )
        .values(checker_id=checker.id, decided_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        raise ActionDecided(
            f"pending action {row.id} was already {row.status}",
            details={"action_id": row.id, "status": row.status},
        )
    session.refresh(row)


def claim(
    session: Session, checker: PortalUserRow, action_id: int, now: int
) -> PortalPendingActionRow:
    """The checker confirms: the action moves to sending, once (the caller commits, then
    sends it and records the answer with ``settle``)."""
    row = action_of(session, checker.member_id, action_id)
    _may_check(checker, row)
    _decide(session, row, checker, now, status=Status.SENDING.value)
    return row


# a send answers within seconds; an action "sending" this long was cut short (the node
# stopped between the confirmation and the API's answer)
SEND_AGAIN_AFTER_SECONDS = 120


def claim_again(
    session: Session, checker: PortalUserRow, action_id: int, now: int
) -> PortalPendingActionRow:
    """An approver sends again an action left sending: under the key fixed at preparation,
    so the API does it at most once (it answers a repeat with its stored answer)."""
    row = action_of(session, checker.member_id, action_id)
    _may_check(checker, row)
    if row.status != Status.SENDING.value:
        raise ActionDecided(
            f"pending action {row.id} is {row.status}, not being sent",
            details={"action_id": row.id, "status": row.status},
        )
    since = row.decided_at or 0
    if now - since < SEND_AGAIN_AFTER_SECONDS:
        raise StillSending(
            f"pending action {row.id} is being sent; try again after {SEND_AGAIN_AFTER_SECONDS} s",
            details={"action_id": row.id, "retry_after": SEND_AGAIN_AFTER_SECONDS - (now - since)},
        )
    moved = session.execute(
        update(PortalPendingActionRow)
        .where(
            PortalPendingActionRow.id == row.id,
            PortalPendingActionRow.status == Status.SENDING.value,
            PortalPendingActionRow.decided_at == row.decided_at,
        )
        .values(checker_id=checker.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        raise StillSending(
            f"pending action {row.id} is being sent by another approver",
            details={"action_id": row.id},
        )
    session.refresh(row)
    return row


def reject(
    session: Session, checker: PortalUserRow, action_id: int, reason: str, now: int
) -> PortalPendingActionRow:
    """The checker says no, with its reason; nothing is sent (the caller commits)."""
    row = action_of(session, checker.member_id, action_id)
    _may_check(checker, row)
    if not reason.strip():
        raise ReasonRequired("a rejection says why")
    _decide(session, row, checker, now, status=Status.REJECTED.value, reason=reason.strip())
    return row


def settle(session: Session, action_id: int, status: Status, answer: dict[str, Any]) -> None:
    """Record the API's answer to a sent action (the caller commits). An answer recorded
    already (a send repeated under the same key) stays: the API gave it first."""
    row = session.get(PortalPendingActionRow, action_id)
    assert row is not None
    if row.status == Status.SENDING.value:
        row.status, row.answer = status.value, json.dumps(answer, sort_keys=True)


def release(session: Session, action_id: int) -> None:
    """Back to pending, after an answer that says "try again later" (the API busy): the
    next confirmation sends it under the same key (the caller commits)."""
    row = session.get(PortalPendingActionRow, action_id)
    assert row is not None
    if row.status == Status.SENDING.value:
        row.status, row.checker_id, row.decided_at = Status.PENDING.value, None, None
