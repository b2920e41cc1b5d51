"""Risk alerts: findings kept in the ``alerts`` table, each raised once (``dedupe_key``).

Four kinds:

- ``duplicate_invoice``: a member tried to register an invoice the consortium already
  has (the ledger refused it with ``InvoiceAlreadyRegistered``); raised by the invoice
  route when it is refused, one alert per invoice and attempting member.
- ``circular_transfer``: a split sent value back to a member that already held an
  ancestor of the new certificate in its lineage (A → B → A); about the recipient.
- ``concentration``: one holder holds more than the configured share of a core
  enterprise's outstanding value, once enough members hold its paper; about the holder,
  cleared when its share falls back (a later crossing is a new alert).
- ``overdue``: a root unpaid at maturity + ``GRACE_PERIOD``, by the time of the indexed
  blocks or by the ledger's mark (``RootOverdue``), whichever comes first; about its
  issuer, cleared when the issuer repays.

All but the first are raised by the indexer (``api.services.alert_watch``) in the SQL
transaction that projects the event (or the block, for time), so an alert exists exactly
when the read model shows its cause. Each alert raised so has a place in the event feed
that ``GET /v1/events`` and webhooks read: ``(block, ALERT_LOG_BASE + id)``, after every
event of the block it was raised at. Who may see it besides auditors is kept with it
(``alert_audience``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.money import format_amount
from api.readmodel.models import AlertAudienceRow, AlertRow, IndexerCursor, MemberRow
from api.schemas.risk import AlertPublic
from api.services.visibility import is_auditor
from api.wire import hex0x, optional_utc_datetime, utc_datetime
from chain.deploy import Consortium
from chain.scf import get_invoice

log = logging.getLogger(__name__)

DUPLICATE_INVOICE = "duplicate_invoice"
CIRCULAR_TRANSFER = "circular_transfer"
CONCENTRATION = "concentration"
OVERDUE = "overdue"
KINDS = (DUPLICATE_INVOICE, CIRCULAR_TRANSFER, CONCENTRATION, OVERDUE)
SEVERITY = {
    DUPLICATE_INVOICE: "high",
    CIRCULAR_TRANSFER: "medium",
    CONCENTRATION: "medium",
    OVERDUE: "high",
}

# The event name of an alert in the event feed (SSE, webhooks), beside the chain's events.
ALERT_EVENT = "RiskAlert"
# An alert's log index in the feed: far above any real log index of a block (an event id
# allows 9 digits), so that it follows the block's events; unique by the alert's id.
ALERT_LOG_BASE = 500_000_000


@dataclass(frozen=True)
class NewAlert:
    kind: str
    condition: str  # what is found; one alert of a condition is open at a time
    member_id: int | None  # whom it is about
    subject: str
    details: dict[str, Any]
    audience: frozenset[int]  # who may see it besides auditors
    episode: str | None = None  # a condition that can clear and recur: which crossing

    @property
    def dedupe_key(self) -> str:
        return self.condition if self.episode is None else f"{self.condition}@{self.episode}"


@dataclass(frozen=True)
class Cause:
    """Where an alert is raised: its block in the feed, and the transaction that raised it."""

    block_number: int
    transaction_hash: str | None


def raise_alerts(
    session: Session, alerts: Iterable[NewAlert], cause: Cause, now: int | None = None
) -> list[AlertRow]:
    """Add the alerts not raised before, at ``cause`` in the feed; return the new rows.

    Callers serialize raising: the indexer's batches, and ``raise_outside_indexer``, which
    takes the indexer cursor's lock first."""
    at = int(time.time()) if now is None else now
    raised = []
    for alert in alerts:
        known = select(AlertRow.id).where(AlertRow.dedupe_key == alert.dedupe_key)
        if session.scalar(known) is not None:
            continue  # raised already: a replay of its cause, or a second attempt
        row = AlertRow(
            kind=alert.kind,
            dedupe_key=alert.dedupe_key,
            condition=alert.condition,
            severity=SEVERITY[alert.kind],
            member_id=alert.member_id,
            subject=alert.subject,
            details_json=json.dumps(alert.details, sort_keys=True),
            created_at=at,
            block_number=cause.block_number,
            transaction_hash=cause.transaction_hash,
        )
        session.add(row)
        session.flush()  # its id places it in the feed
        row.log_index = ALERT_LOG_BASE + row.id
        session.add_all(AlertAudienceRow(alert_id=row.id, member_id=m) for m in alert.audience)
        raised.append(row)
    if raised:
        session.flush()
        for row in raised:
            log.warning("risk alert %d raised: %s (%s)", row.id, row.kind, row.subject)
    return raised


def raise_outside_indexer(session: Session, alerts: Iterable[NewAlert]) -> list[AlertRow]:
    """Raise alerts found by a request, in the session's transaction. The cursor's row is
    written first: it holds the lock the indexer's batches need to move the cursor, so the
    alert goes after everything indexed so far and before anything indexed later; a stream
    that has passed it cannot exist."""
    session.execute(update(IndexerCursor).values(block_number=IndexerCursor.block_number))
    block = session.scalar(select(IndexerCursor.block_number).order_by(IndexerCursor.id))
    return raise_alerts(session, alerts, Cause(0 if block is None else max(block, 0), None))


def record_duplicate_invoice(
    session: Session,
    consortium: Consortium,
    *,
    invoice_key: bytes,
    attempting_member_id: int,
    attempted_amount: int,
) -> None:
    """Keep a refused second registration of ``invoice_key``, in a transaction of its own:
    the alert must outlive the request, which fails. The first registrant comes from the
    ledger, which may be ahead of the read model."""
    first = get_invoice(consortium, invoice_key)
    key = hex0x(invoice_key)
    alert = NewAlert(
        kind=DUPLICATE_INVOICE,
        condition=f"{DUPLICATE_INVOICE}:{key}:{attempting_member_id}",
        member_id=attempting_member_id,
        subject=f"invoice {key}",
        details={
            "invoice_key": key,
            "attempting_member_id": attempting_member_id,
            "first_registrant_id": first.seller_id,
            "registered_amount": format_amount(first.amount),
            "attempted_amount": format_amount(attempted_amount),
        },
        audience=frozenset({attempting_member_id}),
    )
    with Session(session.get_bind()) as own, own.begin():
        raise_outside_indexer(own, [alert])
    log.warning(
        "duplicate invoice %s attempted by member %s (first registered by member %s)",
        key,
        attempting_member_id,
        first.seller_id,
    )


def visible_to(member_id: int) -> Any:
    """SQL condition: alerts whose audience holds ``member_id``."""
    audience = select(AlertAudienceRow.alert_id).where(AlertAudienceRow.member_id == member_id)
    return AlertRow.id.in_(audience)


def alerts_listed_for(member: MemberRow, kind: str | None) -> Select[AlertRow]:
    """Auditors see every alert; a member the alerts whose audience it is in."""
    query = select(AlertRow)
    if not is_auditor(member):
        query = query.where(visible_to(member.id))
    if kind is not None:
        query = query.where(AlertRow.kind == kind)
    return query


def audience_of(session: Session, alert_id: int) -> frozenset[int]:
    members = select(AlertAudienceRow.member_id).where(AlertAudienceRow.alert_id == alert_id)
    return frozenset(session.scalars(members))


def event_id_of(row: AlertRow) -> str | None:
    """The alert's id in the event feed (none for alerts raised before they were streamed)."""
    if row.block_number is None or row.log_index is None:
        return None
    return f"{row.block_number}-{row.log_index}"


def alert_public(row: AlertRow) -> AlertPublic:
    """An alert as ``GET /v1/risk/alerts`` shows it, and as a ``RiskAlert`` event's args."""
    return AlertPublic(
        id=row.id,
        kind=row.kind,
        severity=row.severity,
        member_id=row.member_id,
        subject=row.subject,
        details=json.loads(row.details_json),
        created_at=utc_datetime(row.created_at),
        cleared_at=optional_utc_datetime(row.cleared_at),
        event_id=event_id_of(row),
        transaction_hash=row.transaction_hash,
    )
