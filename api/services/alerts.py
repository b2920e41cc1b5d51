"""Risk alerts: findings kept in the ``alerts`` table, each raised once (``dedupe_key``).

Three kinds:

- ``duplicate_invoice``: a member tried to register an invoice the consortium already
  has (the ledger refused it with ``InvoiceAlreadyRegistered``); raised by the invoice
  route when it is refused, one alert per invoice and attempting member.
- ``circular_transfer``: a split sent value back to a member that already held an
  ancestor of the new certificate in its lineage (A → B → A), a pattern of wash trades
  and of value laundered through a chain of holders; about the recipient.
- ``concentration``: one holder holds more than the configured share of a core
  enterprise's outstanding value, once at least the configured number of members hold
  its paper (a first certificate, all with one supplier, is no finding); about the
  holder.

The last two are found by ``RiskMonitor.scan`` from the read model. Certificates never
change holder, so the circular check only looks at certificates it has not seen yet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.money import format_amount
from api.readmodel.models import AlertRow, CertificateRow, MemberRow, RootRow
from api.services.visibility import is_auditor
from api.wire import hex0x
from chain.deploy import Consortium
from chain.scf import get_invoice

log = logging.getLogger(__name__)

DUPLICATE_INVOICE = "duplicate_invoice"
CIRCULAR_TRANSFER = "circular_transfer"
CONCENTRATION = "concentration"
KINDS = (DUPLICATE_INVOICE, CIRCULAR_TRANSFER, CONCENTRATION)


@dataclass(frozen=True)
class NewAlert:
    kind: str
    dedupe_key: str
    member_id: int | None
    subject: str
    details: dict[str, Any]


def raise_alerts(session: Session, alerts: Iterable[NewAlert]) -> int:
    """Insert the alerts not raised before; return how many were new. Concurrent scans of
    two API processes may find the same thing: the unique ``dedupe_key`` settles it."""
    rows = [
        {
            "kind": a.kind,
            "dedupe_key": a.dedupe_key,
            "member_id": a.member_id,
            "subject": a.subject,
            "details_json": json.dumps(a.details, sort_keys=True),
            "created_at": int(time.time()),
        }
        for a in alerts
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        statement = insert(AlertRow).on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = session.execute(statement.returning(AlertRow.id), rows)
        return len(result.all())
    created = 0
    for row in rows:  # other databases: one savepoint per alert
        try:
            with session.begin_nested():
                session.add(AlertRow(**row))
            created += 1
        except IntegrityError:
            pass
    return created


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
        dedupe_key=f"{DUPLICATE_INVOICE}:{key}:{attempting_member_id}",
        member_id=attempting_member_id,
        subject=f"invoice {key}",
        details={
            "invoice_key": key,
            "attempting_member_id": attempting_member_id,
            "first_registrant_id": first.seller_id,
            "registered_amount": format_amount(first.amount),
            "attempted_amount": format_amount(attempted_amount),
        },
    )
    with Session(session.get_bind()) as own, own.begin():
        raise_alerts(own, [alert])
    log.warning(
        "duplicate invoice %s attempted by member %s (first registered by member %s)",
        key,
        attempting_member_id,
        first.seller_id,
    )


class RiskMonitor:
    """Finds circular transfers and concentration in the read model and raises alerts.
    Keeps, in memory, the highest certificate id already checked for circularity (a
    restart re-checks everything once; dedupe makes that harmless)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_through = 0

    def scan(self, session: Session, concentration_share: Decimal, min_holders: int) -> int:
        """Raise what is new and commit; return how many alerts were raised."""
        with self._lock:
            found, checked_through = self._circular_transfers(session)
            found += concentration_alerts(session, concentration_share, min_holders)
            created = raise_alerts(session, found)
            session.commit()
            self._checked_through = checked_through
            return created

    def _circular_transfers(self, session: Session) -> tuple[list[NewAlert], int]:
        new = session.scalars(
            select(CertificateRow)
            .where(CertificateRow.id > self._checked_through)
            .order_by(CertificateRow.id)
        ).all()
        if not new:
            return [], self._checked_through
        roots = {c.root_id for c in new if c.parent_id}
        tree = {
            c.id: c
            for c in session.scalars(
                select(CertificateRow).where(CertificateRow.root_id.in_(roots))
            )
        }
        alerts = []
        for certificate in new:
            path = _path_from_root(tree, certificate) if certificate.parent_id else []
            earlier_holders = [c.holder_id for c in path[:-1]]
            if certificate.holder_id in earlier_holders:
                alerts.append(_circular_alert(path))
        return alerts, new[-1].id


def _path_from_root(tree: dict[int, CertificateRow], leaf: CertificateRow) -> list[CertificateRow]:
    path = [leaf]
    while path[-1].parent_id:
        path.append(tree[path[-1].parent_id])
    return path[::-1]


def _circular_alert(path: list[CertificateRow]) -> NewAlert:
    certificate, sender = path[-1], path[-2]
    return NewAlert(
        kind=CIRCULAR_TRANSFER,
        dedupe_key=f"{CIRCULAR_TRANSFER}:{certificate.id}",
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
            "value": format_amount(certificate.value),
            "block": certificate.created_block,
        },
    )


def outstanding_by_holder() -> Select[int, int, int]:
    """(issuer, holder, value) of live certificates of roots not yet repaid."""
    return (
        select(
            CertificateRow.issuer_id,
            CertificateRow.holder_id,
            func.sum(CertificateRow.value),
        )
        .join(RootRow, RootRow.id == CertificateRow.root_id)
        .where(CertificateRow.value > 0, RootRow.repaid == false())
        .group_by(CertificateRow.issuer_id, CertificateRow.holder_id)
    )


def concentration_alerts(session: Session, share: Decimal, min_holders: int) -> list[NewAlert]:
    by_issuer: dict[int, dict[int, int]] = {}
    for issuer_id, holder_id, value in session.execute(outstanding_by_holder()):
        by_issuer.setdefault(issuer_id, {})[holder_id] = int(value)
    alerts = []
    for issuer_id, holdings in sorted(by_issuer.items()):
        if len(holdings) < min_holders:
            continue
        total = sum(holdings.values())
        for holder_id, value in sorted(holdings.items()):
            if Decimal(value) > share * total:
                alerts.append(
                    NewAlert(
                        kind=CONCENTRATION,
                        dedupe_key=f"{CONCENTRATION}:{issuer_id}:{holder_id}",
                        member_id=holder_id,
                        subject=f"member {holder_id} holds paper of member {issuer_id}",
                        details={
                            "issuer_id": issuer_id,
                            "holder_id": holder_id,
                            "holder_value": format_amount(value),
                            "issuer_outstanding": format_amount(total),
                            "share": str((Decimal(value) / total).quantize(Decimal("0.0001"))),
                            "threshold": str(share),
                        },
                    )
                )
    return alerts


def alerts_listed_for(member: MemberRow, kind: str | None) -> Select[AlertRow]:
    """Auditors see every alert; a member the alerts about itself."""
    query = select(AlertRow)
    if not is_auditor(member):
        query = query.where(AlertRow.member_id == member.id)
    if kind is not None:
        query = query.where(AlertRow.kind == kind)
    return query
