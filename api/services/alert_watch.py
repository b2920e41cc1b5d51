"""The indexer's risk watch: alerts raised in the transaction that projects their cause.

After each batch of events is projected, and before the cursor moves, the watch looks at
what the batch changed and raises (or clears) alerts in the same SQL transaction: a crash
leaves both or neither, and a batch applied again by another process (whose insert of
the same events fails) raises nothing twice. What it looks at:

- ``CertificateSplit``: the new certificate's lineage, for value returning to an earlier
  holder (``circular_transfer``);
- ``CertificateIssued``, ``CertificateSplit``, ``CertificateRedeemed``, ``RootRepaid``:
  the issuer's holders, for ``concentration`` (raised on crossing, cleared on falling
  back: each crossing is an alert of its own, keyed by the event that made it);
- chain time: every batch, at the timestamp of the newest block it indexed (not the
  wall clock: a replay judges as the first run did), the unpaid roots past maturity +
  ``GRACE_PERIOD`` (the governance parameter ``markOverdue`` checks, as last set by the
  events indexed so far) raise ``overdue``, whether anyone marks them or not;
  ``RootOverdue`` raises the same alert (one natural key: whichever comes first raises
  it, the other nothing) and ``RootRepaid`` clears it. Seen by whoever sees ``RootOverdue``.

An alert is placed in the feed at the block of the last event of the batch that raised it;
an overdue alert found by chain time at the newest block of the batch, with no transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from eth_utils.crypto import keccak
from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.money import format_amount
from api.readmodel.exposures import outstanding_by_holder
from api.readmodel.models import (
    AlertRow,
    CertificateRow,
    ChainEventRow,
    CreditLineRow,
    ExposureRow,
    RootRow,
)
from api.services.alerts import (
    CIRCULAR_TRANSFER,
    CONCENTRATION,
    OVERDUE,
    Cause,
    NewAlert,
    raise_alerts,
)
from api.services.event_visibility import event_audience
from api.settings import Settings
from api.wire import hex0x, utc_datetime
from chain.events import ChainEvent

HOLDINGS_CHANGED_BY_ROOT = ("CertificateRedeemed", "RootRepaid", "CertificateSplit")
# Maturity.sol's governance parameter: seconds after maturity before an unpaid root is overdue
GRACE_PERIOD_KEY = "0x" + keccak(text="GRACE_PERIOD").hex()
# Roots raised overdue by one batch at most: a jump in chain time past many deadlines
# raises the rest with the next batches, oldest maturity first.
OVERDUE_PER_BATCH = 200


@dataclass(frozen=True)
class ChainTime:
    """The newest block a batch indexed and its timestamp (unix seconds, UTC)."""

    block_number: int
    timestamp: int


@dataclass(frozen=True)
class ConcentrationRule:
    share: Decimal  # a holder above this share of an issuer's outstanding value …
    min_holders: int  # … once at least this many members hold its paper

    @classmethod
    def from_settings(cls, settings: Settings) -> ConcentrationRule:
        return cls(settings.concentration_share, settings.concentration_min_holders)


class AlertWatch:
    def __init__(self, rule: ConcentrationRule) -> None:
        self._rule = rule

    def after_batch(self, session: Session, events: Sequence[ChainEvent], head: ChainTime) -> None:
        """Raise and clear what ``events`` (just projected, in order, up to ``head``'s
        block) changed, then what ``head``'s time made overdue."""
        session.flush()
        now = int(time.time())
        issuers: dict[int, ChainEvent] = {}  # issuer -> the last event changing its holdings
        for event in events:
            name, args = event.name, event.args
            if name == "CertificateIssued":
                issuers[int(args["issuerId"])] = event
            elif name in HOLDINGS_CHANGED_BY_ROOT:
                issuers[_root(session, args["rootId"]).issuer_id] = event
            if name == "CertificateSplit":
                found = circular_transfer(session, int(args["childId"]), int(args["amount"]))
                if found is not None:
                    raise_alerts(session, [found], cause_of(event), now)
            elif name == "RootOverdue":
                raise_overdue(session, _root(session, int(args["rootId"])), cause_of(event), now)
            elif name == "RootRepaid":
                clear(session, open_alerts(OVERDUE).where(_is(f"{OVERDUE}:{args['rootId']}")), now)
        if issuers:
            self._concentration(session, issuers, now)
        for row in overdue_by(session, head.timestamp):
            raise_overdue(session, row, Cause(head.block_number, None), now)

    def _concentration(self, session: Session, issuers: dict[int, ChainEvent], now: int) -> None:
        """Raise the crossings of ``issuers`` (each at its last event), clear the ends."""
        found = {
            a.condition: a
            for a in concentration_alerts(session, self._rule, issuer_ids=frozenset(issuers))
        }
        held = {
            row.condition: row
            for row in session.scalars(open_alerts(CONCENTRATION))
            if _issuer_of(row.condition) in issuers
        }
        for condition, alert in sorted(found.items()):
            if condition not in held:
                event = issuers[_issuer_of(condition)]
                episode = f"{event.block_number}-{event.log_index}"
                raise_alerts(session, [replace(alert, episode=episode)], cause_of(event), now)
        for condition, row in held.items():
            if condition not in found:
                row.cleared_at = now


def _issuer_of(condition: str) -> int:
    """The issuer of a ``concentration:<issuer>:<holder>`` condition."""
    return int(condition.split(":")[1])


def cause_of(event: ChainEvent) -> Cause:
    return Cause(event.block_number, hex0x(event.transaction_hash))


def _root(session: Session, root_id: int) -> RootRow:
    row = session.get(RootRow, root_id)
    if row is None:  # the projection of this very event found it
        raise LookupError(f"no root {root_id} in the read model")
    return row


def _is(condition: str) -> ColumnElement[bool]:
    return AlertRow.condition == condition


def open_alerts(kind: str) -> Select[AlertRow]:
    return select(AlertRow).where(AlertRow.kind == kind, AlertRow.cleared_at.is_(None))


def clear(session: Session, query: Select[AlertRow], now: int) -> None:
    for row in session.scalars(query):
        row.cleared_at = now


def raise_overdue(session: Session, root: RootRow, cause: Cause, now: int) -> None:
    """The root's ``overdue`` alert, unless raised before; the root is no longer looked for."""
    raise_alerts(session, [overdue(session, root.id)], cause, now)
    root.overdue_alerted = True


# ---- findings ------------------------------------------------------------------------


def circular_transfer(session: Session, certificate_id: int, value: int) -> NewAlert | None:
    """The alert if the certificate's holder held one of its ancestors, else None. Walks
    the lineage up, parent by parent (certificates never change holder). ``value``: what
    the split that made it sent."""
    path = [_certificate(session, certificate_id)]
    while path[-1].parent_id:
        path.append(_certificate(session, path[-1].parent_id))
    path.reverse()
    certificate = path[-1]
    if certificate.holder_id not in {c.holder_id for c in path[:-1]}:
        return None
    sender = path[-2]
    return NewAlert(
        kind=CIRCULAR_TRANSFER,
        condition=f"{CIRCULAR_TRANSFER}:{certificate.id}",
        member_id=certificate.holder_id,
        subject=f"certificate {certificate.id}",
        details={
            "certificate_id": certificate.id,
            "root_id": certificate.root_id,
            "issuer_id": certificate.issuer_id,
            "from_member_id": sender.holder_id,
            "returned_to_member_id": certificate.holder_id,
            "holder_path": [c.holder_id for c in path],
            "certificate_path": [c.id for c in path],
            "value": format_amount(value),
            "block": certificate.created_block,
        },
        audience=frozenset({certificate.holder_id}),
    )


def _certificate(session: Session, certificate_id: int) -> CertificateRow:
    row = session.get(CertificateRow, certificate_id)
    if row is None:
        raise LookupError(f"no certificate {certificate_id} in the read model")
    return row


def exposures_of(issuer_ids: frozenset[int]) -> Select[int, int, int]:
    """``outstanding_by_holder`` of ``issuer_ids`` as the projections keep it: a range of
    the exposures' key per issuer, however many certificates the issuers have."""
    return select(ExposureRow.issuer_id, ExposureRow.holder_id, ExposureRow.value).where(
        ExposureRow.issuer_id.in_(sorted(issuer_ids)), ExposureRow.value > 0
    )


def concentration_alerts(
    session: Session, rule: ConcentrationRule, *, issuer_ids: frozenset[int] | None = None
) -> list[NewAlert]:
    """Holders above the rule's share of an issuer's outstanding value (of ``issuer_ids``,
    from their exposure rows, or of every issuer, summed from the certificates); seen by
    the holder and the issuer, who sees its paper's holders."""
    query = outstanding_by_holder() if issuer_ids is None else exposures_of(issuer_ids)
    by_issuer: dict[int, dict[int, int]] = {}
    for issuer, holder, value in session.execute(query):
        by_issuer.setdefault(issuer, {})[holder] = int(value)
    alerts = []
    for issuer, holdings in sorted(by_issuer.items()):
        if len(holdings) < rule.min_holders:
            continue
        total = sum(holdings.values())
        for holder, value in sorted(holdings.items()):
            if Decimal(value) > rule.share * total:
                alerts.append(
                    NewAlert(
                        kind=CONCENTRATION,
                        condition=f"{CONCENTRATION}:{issuer}:{holder}",
                        member_id=holder,
                        subject=f"member {holder} holds paper of member {issuer}",
                        details={
                            "issuer_id": issuer,
                            "holder_id": holder,
                            "holder_value": format_amount(value),
                            "issuer_outstanding": format_amount(total),
                            "share": str((Decimal(value) / total).quantize(Decimal("0.0001"))),
                            "threshold": str(rule.share),
                        },
                        audience=frozenset({holder, issuer}),
                    )
                )
    return alerts


def grace_period(session: Session) -> int:
    """``GRACE_PERIOD`` as the last indexed ``ParameterSet`` of it set it (0 before, as on
    chain). Governance sets parameters seldom; the key, 64 hex digits, preselects."""
    query = (
        select(ChainEventRow.args_json)
        .where(
            ChainEventRow.name == "ParameterSet",
            ChainEventRow.contract == "ConsortiumGovernance",
            ChainEventRow.args_json.contains(GRACE_PERIOD_KEY),
        )
        .order_by(ChainEventRow.block_number.desc(), ChainEventRow.log_index.desc())
    )
    for args_json in session.scalars(query):
        args = json.loads(args_json)
        if args.get("key") == GRACE_PERIOD_KEY:
            return int(args["value"])
    return 0


def unraised_matured(by: int) -> Select[RootRow]:
    """Unpaid roots matured by ``by`` whose overdue alert is not raised, oldest first: a
    range of the roots' overdue-watch index, whatever the number of other roots."""
    return (
        select(RootRow)
        .where(
            RootRow.repaid == false(),
            RootRow.overdue_alerted == false(),
            RootRow.maturity <= by,
        )
        .order_by(RootRow.maturity, RootRow.id)
    )


def overdue_by(session: Session, timestamp: int) -> list[RootRow]:
    """Unpaid roots overdue at chain time ``timestamp`` (``markOverdue`` would succeed:
    ``timestamp >= maturity + grace``) whose alert is not raised yet, oldest first, at
    most ``OVERDUE_PER_BATCH``."""
    if session.scalar(unraised_matured(timestamp).limit(1)) is None:
        return []  # nothing matured unraised: no need to know the grace period
    latest_maturity = timestamp - grace_period(session)
    if latest_maturity < 0:
        return []  # a grace longer than the chain's age: nothing is overdue yet
    return list(session.scalars(unraised_matured(latest_maturity).limit(OVERDUE_PER_BATCH)))


def overdue(session: Session, root_id: int) -> NewAlert:
    """The root overdue (marked, or past maturity + grace unpaid): about its issuer, seen
    by whoever sees ``RootOverdue`` (the issuer, every holder of its tree, the financier
    of its credit line)."""
    root = _root(session, root_id)
    outstanding = session.scalar(
        select(func.coalesce(func.sum(CertificateRow.value), 0)).where(
            CertificateRow.root_id == root_id
        )
    )
    line = session.get(CreditLineRow, root.line_id)
    audience = event_audience(session, "RootOverdue", {"rootId": root_id}).members
    return NewAlert(
        kind=OVERDUE,
        condition=f"{OVERDUE}:{root_id}",
        member_id=root.issuer_id,
        subject=f"root {root_id} of member {root.issuer_id} is overdue",
        details={
            "root_id": root_id,
            "issuer_id": root.issuer_id,
            "financier_id": None if line is None else line.financier_id,
            "face_value": format_amount(root.face_value),
            "outstanding": format_amount(int(outstanding or 0)),
            "maturity": utc_datetime(root.maturity).isoformat().replace("+00:00", "Z"),
        },
        audience=audience,
    )
