"""A member's webhooks: register, list, delete, and read their delivery log.

A webhook belongs to the member that registered it; everyone else (auditors too)
gets 404 for it. Its signing secret is kept because every delivery is signed with
it, sealed with the node's data key (``api.services.webhook_secrets``), and shown
only once, in the answer to the registration.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from api.readmodel.models import WebhookDeliveryRow, WebhookRow
from api.readmodel.paging import fetch_page
from api.services.documents import DocumentVault
from api.services.visibility import NotFound
from api.services.webhook_secrets import seal_secret
from api.services.webhook_targets import TargetPolicy
from chain.errors import ScfError

SECRET_PREFIX = "whsec_"
MAX_WEBHOOKS_PER_MEMBER = 20


class WebhookConflict(ScfError):
    http_status = 409

    def __init__(self, code: str, message: str, **details: object) -> None:
        self.code = code
        super().__init__(message, details=details)


def event_type_list(row: WebhookRow) -> list[str]:
    return [n for n in row.event_types.split(",") if n]


def _active(member_id: int) -> ColumnElement[bool]:
    return and_(WebhookRow.member_id == member_id, WebhookRow.deleted_at.is_(None))


def create_webhook(
    session: Session,
    vault: DocumentVault,
    targets: TargetPolicy,
    member_id: int,
    url: str,
    event_types: frozenset[str],
    now: int,
) -> tuple[WebhookRow, str]:
    """Register ``url`` for the member; return the row and its secret (commits; the row
    holds the secret sealed with ``vault``). ``url`` must point where ``targets`` allow."""
    targets.check_registration(url)
    hooks = session.scalars(select(WebhookRow).where(_active(member_id))).all()
    if any(hook.url == url for hook in hooks):
        raise WebhookConflict(
            "webhook_exists",
            f"a webhook for {url} exists already: each event would go twice",
            url=url,
        )
    if len(hooks) >= MAX_WEBHOOKS_PER_MEMBER:
        raise WebhookConflict(
            "webhook_limit_reached",
            f"a member may have {MAX_WEBHOOKS_PER_MEMBER} webhooks; delete one first",
            limit=MAX_WEBHOOKS_PER_MEMBER,
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = WebhookRow(
        member_id=member_id,
        url=url,
        secret=seal_secret(vault, secret, member_id, url),
        event_types=",".join(sorted(event_types)),
        created_at=now,
    )
    session.add(row)
    session.commit()
    return row, secret


def list_webhooks(
    session: Session, member_id: int, limit: int, offset: int
) -> tuple[Sequence[WebhookRow], int]:
    query = select(WebhookRow).where(_active(member_id))
    return fetch_page(session, query, WebhookRow.id, limit=limit, offset=offset)


def owned_webhook(session: Session, member_id: int, webhook_id: int) -> WebhookRow:
    row = session.get(WebhookRow, webhook_id)
    if row is None or row.member_id != member_id or row.deleted_at is not None:
        raise NotFound("webhook", webhook_id)
    return row


def delete_webhook(session: Session, member_id: int, webhook_id: int, now: int) -> None:
    """Stop the webhook: nothing more is fanned out to it, pending deliveries give up."""
    row = owned_webhook(session, member_id, webhook_id)
    row.deleted_at = now
    session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.webhook_id == row.id, WebhookDeliveryRow.state == "pending")
        .values(state="failed", last_error="webhook deleted")
    )
    session.commit()


def list_deliveries(
    session: Session, member_id: int, webhook_id: int, limit: int, offset: int
) -> tuple[Sequence[WebhookDeliveryRow], int]:
    """The webhook's delivery log, newest first."""
    hook = owned_webhook(session, member_id, webhook_id)
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == hook.id)
    return fetch_page(session, query, WebhookDeliveryRow.id.desc(), limit=limit, offset=offset)
