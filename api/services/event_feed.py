"""The chain events a member may see, read from the read model's ``chain_events`` table.

Server-Sent Events and webhooks both read here. An event's id is its place in the
ledger's total order, ``"<block>-<logIndex>"``; "after an id" means strictly after.
The JSON an integrator gets for an event (``event_payload``):

    {"id": "42-1", "block_number": 42, "log_index": 1, "transaction_hash": "0x…",
     "contract": "CreditCertificates", "name": "CertificateSplit", "args": {…}}

``args`` keep the Solidity event's own argument names (camelCase, so a search finds
both sides). Money arguments (minor units on chain) are decimal strings with two
fraction digits, as everywhere in the API (``"125000.50"``); other integers are JSON
numbers, bytes are 0x-hex, addresses are checksummed. Times among the args stay the
contract's raw values, Unix seconds (``maturity``, ``expiresAt``, ``issueDate`` …): the
args are the event as the ledger emitted it. The envelope carries no time of its own;
the REST resources show the same times in ISO 8601.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.money import format_amount
from api.readmodel.models import AlertRow, ChainEventRow, MemberRow
from api.services.alerts import ALERT_EVENT, alert_public, audience_of
from api.services.event_visibility import Audience, Viewer, event_audience
from chain.deploy import Consortium
from chain.errors import ScfError

Position = tuple[int, int]
START: Position = (-1, -1)  # before every event

_EVENT_ID = re.compile(r"^(\d{1,18})-(\d{1,9})$")
_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")

# Arguments that are amounts of settlement money, in minor units, per event.
MONEY_ARGS: dict[str, frozenset[str]] = {
    "InvoiceRegistered": frozenset({"amount"}),
    "CreditLineGranted": frozenset({"limit"}),
    "CreditLineLimitChanged": frozenset({"previousLimit", "newLimit"}),
    "CreditLineClosed": frozenset({"used"}),
    "CreditLineDrawn": frozenset({"amount", "used"}),
    "CreditLineRestored": frozenset({"amount", "used"}),
    "CertificateIssued": frozenset({"faceValue"}),
    "CertificateSplit": frozenset({"amount", "sourceValue"}),
    "CertificateValueLocked": frozenset({"amount", "locked"}),
    "CertificateValueUnlocked": frozenset({"amount", "locked"}),
    "CertificateRedeemed": frozenset({"amount"}),
    "RootRepaid": frozenset({"amount"}),
    "RootOverdue": frozenset({"faceValue"}),
    "FinancingRequested": frozenset({"amount"}),
    "FinancingApproved": frozenset({"price", "discount"}),
    "SettlementMinted": frozenset({"amount"}),
    "SettlementBurned": frozenset({"amount"}),
    "SettlementBalanceMigrated": frozenset({"amount"}),
    "SettlementIssuanceCapSet": frozenset({"cap"}),
    "Transfer": frozenset({"value"}),
    "Approval": frozenset({"value"}),
}


class InvalidEventId(ScfError):
    code = "invalid_event_id"
    http_status = 422


class UnknownEventType(ScfError):
    code = "unknown_event_type"
    http_status = 422


def format_event_id(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def parse_event_id(text: str) -> Position:
    """``"42-1"`` → ``(42, 1)``; anything else is a 422."""
    match = _EVENT_ID.match(text.strip())
    if match is None:
        raise InvalidEventId(
            f"an event id is '<block>-<logIndex>', like '42-0'; got {text!r}",
            details={"event_id": text},
        )
    return int(match[1]), int(match[2])


def known_event_names(consortium: Consortium | None) -> frozenset[str] | None:
    """Names of the events the deployed contracts emit (None: no deployment known)."""
    if consortium is None:
        return None
    return frozenset(
        item["name"]
        for handle in consortium.contracts.values()
        for item in handle.artifact.abi
        if item["type"] == "event"
    ) | {ALERT_EVENT}


def parse_event_types(values: Iterable[str], known: frozenset[str] | None) -> frozenset[str]:
    """Event names from ``types=A,B`` (or repeated); empty means every type."""
    names = frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
    unknown = sorted(
        n for n in names if not _EVENT_NAME.match(n) or (known is not None and n not in known)
    )
    if unknown:
        raise UnknownEventType(
            f"unknown event type(s): {', '.join(unknown)}",
            details={"unknown": unknown, "known": sorted(known or ())},
        )
    return names


@dataclass(frozen=True)
class FeedEvent:
    """One entry of the feed: a chain event, or a risk alert."""

    block_number: int
    log_index: int
    name: str
    chain: ChainEventRow | None = None
    alert: AlertRow | None = None

    @property
    def position(self) -> Position:
        return (self.block_number, self.log_index)


def _after(block_column: Any, log_column: Any, position: Position) -> Any:
    """SQL condition: strictly after ``position`` (in the primary key's order)."""
    block, log = position
    return or_(block_column > block, and_(block_column == block, log_column > log))


def events_after(
    session: Session, position: Position, names: frozenset[str], limit: int
) -> list[FeedEvent]:
    """The first ``limit`` feed entries after ``position`` (of ``names``; none: all)."""
    found: list[FeedEvent] = []
    chain_names = names - {ALERT_EVENT}
    if not names or chain_names:
        query = select(ChainEventRow).where(
            _after(ChainEventRow.block_number, ChainEventRow.log_index, position)
        )
        if chain_names:
            query = query.where(ChainEventRow.name.in_(sorted(chain_names)))
        order = (ChainEventRow.block_number, ChainEventRow.log_index)
        found += [
            FeedEvent(row.block_number, row.log_index, row.name, chain=row)
            for row in session.scalars(query.order_by(*order).limit(limit))
        ]
    if not names or ALERT_EVENT in names:
        alerts = select(AlertRow).where(
            AlertRow.block_number.is_not(None),
            _after(AlertRow.block_number, AlertRow.log_index, position),
        )
        found += [
            FeedEvent(int(row.block_number or 0), int(row.log_index or 0), ALERT_EVENT, alert=row)
            for row in session.scalars(
                alerts.order_by(AlertRow.block_number, AlertRow.log_index).limit(limit)
            )
        ]
    found.sort(key=lambda item: item.position)
    return found[:limit]


def head_position(session: Session) -> Position:
    """The last entry of the feed (``START`` when there is none)."""
    chain = session.execute(
        select(ChainEventRow.block_number, ChainEventRow.log_index)
        .order_by(ChainEventRow.block_number.desc(), ChainEventRow.log_index.desc())
        .limit(1)
    ).first()
    alert = session.execute(
        select(AlertRow.block_number, AlertRow.log_index)
        .where(AlertRow.block_number.is_not(None))
        .order_by(AlertRow.block_number.desc(), AlertRow.log_index.desc())
        .limit(1)
    ).first()
    heads = [(int(row[0] or 0), int(row[1] or 0)) for row in (chain, alert) if row is not None]
    return max(heads, default=START)


def event_args(row: ChainEventRow) -> dict[str, Any]:
    args: dict[str, Any] = json.loads(row.args_json)
    return args


def event_payload(item: FeedEvent) -> dict[str, Any]:
    """The JSON integrators get for one entry (see the module docstring)."""
    if item.alert is not None:
        alert = item.alert
        return {
            "id": format_event_id(item.position),
            "block_number": item.block_number,
            "log_index": item.log_index,
            "transaction_hash": alert.transaction_hash,
            "contract": None,
            "name": ALERT_EVENT,
            "args": alert_public(alert).model_dump(mode="json"),
        }
    row = item.chain
    assert row is not None
    money = MONEY_ARGS.get(row.name, frozenset())
    args = {k: format_amount(v) if k in money else v for k, v in event_args(row).items()}
    return {
        "id": format_event_id((row.block_number, row.log_index)),
        "block_number": row.block_number,
        "log_index": row.log_index,
        "transaction_hash": row.transaction_hash,
        "contract": row.contract,
        "name": row.name,
        "args": args,
    }


def feed_audience(session: Session, item: FeedEvent) -> Audience:
    """Who may see the entry: an event's parties (``event_visibility``), an alert's own."""
    if item.alert is not None:
        return Audience(members=audience_of(session, item.alert.id))
    assert item.chain is not None
    return event_audience(session, item.name, event_args(item.chain))


class StreamEnded(ScfError):
    """The watching member is no longer active: its stream stops."""

    code = "member_inactive"
    http_status = 403


@dataclass(frozen=True)
class Batch:
    payloads: list[dict[str, Any]]
    position: Position  # the last event looked at, seen or not


def visible_batch(
    session: Session,
    viewer: Viewer,
    position: Position,
    names: frozenset[str],
    *,
    scan: int = 500,
) -> Batch:
    """The events after ``position`` that ``viewer`` may see, from at most ``scan`` rows;
    the returned position moves past invisible events too, so they are read once."""
    member = session.get(MemberRow, viewer.member_id)
    if member is None or member.status != "active":
        raise StreamEnded(f"member {viewer.member_id} is no longer active")
    items = events_after(session, position, names, scan)
    payloads = [
        event_payload(item) for item in items if feed_audience(session, item).admits(viewer)
    ]
    end = items[-1].position if items else position
    return Batch(payloads, end)
