"""A member's webhooks: register, list, delete, and read their delivery log.

A webhook belongs to the member that registered it; everyone else (auditors too)
gets 404 for it. Its signing secret is kept because every delivery is signed with
it, sealed with the node's data key (``api.services.webhook_secrets``), and shown
only once, in the answer to the registration.

A member's registrations take turns (``_take_member_turn``): the limit and the
duplicate-URL check read the member's webhooks and then insert, which concurrent
requests would otherwise all pass at once. Where a URL may point: ``webhook_targets``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.readmodel.models import WebhookDeliveryRow, WebhookOwnerRow, WebhookRow
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
    targets.check_registration(url)  # before the turn: it may wait for DNS
    _take_member_turn(session, member_id)
    active = _active(member_id)
    if session.scalar(select(WebhookRow.id).where(active, WebhookRow.url == url).limit(1)):
        session.rollback()
        raise WebhookConflict(
            "webhook_exists",
            f"a webhook for {url} exists already: each event would go twice",
            url=url,
        )
    count = session.execute(select(func.count()).select_from(WebhookRow).where(active))
    if count.scalar_one() >= MAX_WEBHOOKS_PER_MEMBER:
        session.rollback()
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


def _take_member_turn(session: Session, member_id: int) -> None:
    """Start the member's turn: bump its ``webhook_owners`` row, the transaction's first
    write. Until commit that write holds PostgreSQL's lock on the row (a second
    registration of the member waits in its UPDATE, then reads with a fresh snapshot)
    or SQLite's one write lock (pysqlite opens the transaction at this first write, so
    the reads that follow see every earlier registration)."""
    bump = (
        update(WebhookOwnerRow)
        .where(WebhookOwnerRow.member_id == member_id)
        .values(registrations=WebhookOwnerRow.registrations + 1)
    )
    if session.execute(bump).rowcount == 1:  # type: ignore[attr-defined]
        return
    _add_owner(session, member_id)  # the member's first webhook: the row is new
    session.execute(bump)


def _add_owner(session: Session, member_id: int) -> None:
    values = {"member_id": member_id, "registrations": 0}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):  # a concurrent first registration may win
        insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        session.execute(insert(WebhookOwnerRow).values(values).on_conflict_do_nothing())
        return
    try:
        with session.begin_nested():
            session.add(WebhookOwnerRow(**values))
    except IntegrityError:
        pass


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
