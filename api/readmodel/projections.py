"""One handler per chain event: how it changes the read model's tables.

Handlers only apply what the event says; the indexer decides order and
transactions. Events without a handler are still stored in ``chain_events``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.readmodel.models import (
    CertificateRow,
    CreditLineRow,
    ExposureRow,
    FinancingRequestRow,
    InvoiceRow,
    MemberAccountRow,
    MemberRow,
    RootRow,
    table_of,
)
from api.wire import hex0x
from chain.events import ChainEvent
from chain.roles import Role

ROLE_BITS = {
    Role.CORE_ENTERPRISE.id: 1,
    Role.SUPPLIER.id: 2,
    Role.FINANCIER.id: 4,
    Role.AUDITOR.id: 8,
}

Handler = Callable[[Session, ChainEvent], None]


def _get(session: Session, model: type[Any], key: Any, event: ChainEvent) -> Any:
    row = session.get(model, key)
    if row is None:  # the chain emitted it, so the read model missed an earlier event
        raise LookupError(
            f"{event.name} at {event.position} refers to unknown {model.__name__} {key}"
        )
    return row


# ---- members ---------------------------------------------------------------------------


def member_admitted(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.add(
        MemberRow(
            id=a["memberId"],
            name=a["name"],
            credit_code_hash=hex0x(a["creditCodeHash"]),
            roles=a["roles"],
            status="active",
            admitted_block=e.block_number,
        )
    )
    session.flush()


def member_status(status: str) -> Handler:
    def apply(session: Session, e: ChainEvent) -> None:
        _get(session, MemberRow, e.args["memberId"], e).status = status

    return apply


def member_role(granted: bool) -> Handler:
    def apply(session: Session, e: ChainEvent) -> None:
        member = _get(session, MemberRow, e.args["memberId"], e)
        bit = ROLE_BITS[bytes(e.args["role"])]
        member.roles = member.roles | bit if granted else member.roles & ~bit

    return apply


def account_bound(session: Session, e: ChainEvent) -> None:
    session.merge(MemberAccountRow(address=e.args["account"], member_id=e.args["memberId"]))


def account_unbound(session: Session, e: ChainEvent) -> None:
    row = session.get(MemberAccountRow, e.args["account"])
    if row is not None:
        session.delete(row)


# ---- invoices and credit lines ---------------------------------------------------------


def invoice_registered(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.add(
        InvoiceRow(
            key=hex0x(a["key"]),
            seller_id=a["sellerId"],
            buyer_id=a["buyerId"],
            amount=a["amount"],
            issue_date=a["issueDate"],
            due_date=a["dueDate"],
            document_hash=hex0x(a["documentHash"]),
            status="registered",
            # absent from the legacy event (a migrated consortium's history): NULL
            invoice_code=a.get("invoiceCode"),
            invoice_number=a.get("invoiceNumber"),
        )
    )


def invoice_rekeyed(session: Session, e: ChainEvent) -> None:
    """A migration's import moved a legacy invoice under the key derived on chain today."""
    invoice = _get(session, InvoiceRow, hex0x(e.args["legacyKey"]), e)
    invoice.key = hex0x(e.args["key"])
    session.flush()


def invoice_status(status: str) -> Handler:
    def apply(session: Session, e: ChainEvent) -> None:
        invoice = _get(session, InvoiceRow, hex0x(e.args["key"]), e)
        invoice.status = status
        if status == "assigned":
            invoice.certificate_id = e.args["certificateId"]

    return apply


def credit_line_granted(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.add(
        CreditLineRow(
            id=a["lineId"],
            financier_id=a["financierId"],
            borrower_id=a["borrowerId"],
            limit=a["limit"],
            used=0,
            expires_at=a["expiresAt"],
            status="open",
        )
    )


def credit_line_limit_changed(session: Session, e: ChainEvent) -> None:
    _get(session, CreditLineRow, e.args["lineId"], e).limit = e.args["newLimit"]


def credit_line_closed(session: Session, e: ChainEvent) -> None:
    _get(session, CreditLineRow, e.args["lineId"], e).status = "closed"


def credit_line_used(session: Session, e: ChainEvent) -> None:
    _get(session, CreditLineRow, e.args["lineId"], e).used = e.args["used"]


# ---- certificates ----------------------------------------------------------------------


def certificate_issued(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.add(
        RootRow(
            id=a["id"],
            issuer_id=a["issuerId"],
            line_id=a["lineId"],
            face_value=a["faceValue"],
            redeemed_value=0,
            maturity=a["maturity"],
        )
    )
    session.add(
        CertificateRow(
            id=a["id"],
            root_id=a["id"],
            parent_id=0,
            issuer_id=a["issuerId"],
            holder_id=a["holderId"],
            value=a["faceValue"],
            locked=0,
            redeemed_value=0,
            maturity=a["maturity"],
            created_block=e.block_number,
        )
    )
    session.flush()
    _add_exposures(session, [(a["issuerId"], a["holderId"], a["faceValue"])])


# ---- exposures: (issuer, holder) -> value of live certificates of unrepaid roots ------

_EXPOSURES = table_of(ExposureRow)


def _upsert_exposure(dialect: Any) -> Any:
    """INSERT a row, or add its value to the row already there (one statement)."""
    statement = dialect.insert(_EXPOSURES)
    return statement.on_conflict_do_update(
        index_elements=[_EXPOSURES.c.issuer_id, _EXPOSURES.c.holder_id],
        set_={"value": _EXPOSURES.c.value + statement.excluded.value},
    )


_ADD_EXPOSURE = {"sqlite": _upsert_exposure(sqlite), "postgresql": _upsert_exposure(postgresql)}


def _add_exposures(session: Session, changes: Iterable[tuple[int, int, int]]) -> None:
    """Add each ``(issuer, holder, delta)`` to the holder's exposure to the issuer, with
    SQL of its own (no ORM object: the session never holds an exposure row). Call after
    ``session.flush()`` when the change depends on rows the session changed."""
    deltas: dict[tuple[int, int], int] = {}
    for issuer, holder, delta in changes:
        key = (int(issuer), int(holder))
        deltas[key] = deltas.get(key, 0) + int(delta)
    # one row per key (a statement may not change a row twice), in key order (two writers
    # lock the rows they share in the same order)
    rows = [
        {"issuer_id": issuer, "holder_id": holder, "value": delta}
        for (issuer, holder), delta in sorted(deltas.items())
        if delta
    ]
    if rows:
        connection = session.connection()
        connection.execute(_ADD_EXPOSURE[connection.dialect.name], rows)


def _root_repaid(session: Session, root_id: int) -> bool:
    repaid = session.connection().scalar(select(RootRow.repaid).where(RootRow.id == root_id))
    return bool(repaid)


# Every transfer indexes a split: one UPDATE … RETURNING and one INSERT, built once, with
# no ORM object (its read, identity map and flush cost more than the statements).
_CERTIFICATES = table_of(CertificateRow)
_SPLIT_SOURCE = (
    update(_CERTIFICATES)
    .where(_CERTIFICATES.c.id == bindparam("source_id"))
    .values(value=bindparam("source_value"))
    .returning(_CERTIFICATES.c.issuer_id, _CERTIFICATES.c.holder_id, _CERTIFICATES.c.maturity)
)
_ADD_CERTIFICATE = insert(_CERTIFICATES)


def certificate_split(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.flush()  # the ORM's pending changes first, in event order
    source = (
        session.connection()
        .execute(_SPLIT_SOURCE, {"source_id": a["sourceId"], "source_value": a["sourceValue"]})
        .one_or_none()
    )
    if source is None:  # the chain emitted it, so the read model missed an earlier event
        raise LookupError(
            f"{e.name} at {e.position} refers to unknown CertificateRow {a['sourceId']}"
        )
    session.connection().execute(
        _ADD_CERTIFICATE,
        {
            "id": a["childId"],
            "root_id": a["rootId"],
            "parent_id": a["sourceId"],
            "issuer_id": source.issuer_id,
            "holder_id": a["toId"],
            "value": a["amount"],
            "locked": 0,
            "redeemed_value": 0,
            "maturity": source.maturity,
            "created_block": e.block_number,
        },
    )
    _forget(session, CertificateRow, a["sourceId"])
    # a root repaid early can still be split until maturity: its paper is no exposure
    if not _root_repaid(session, a["rootId"]):
        _add_exposures(
            session,
            [
                (source.issuer_id, source.holder_id, -a["amount"]),
                (source.issuer_id, a["toId"], a["amount"]),
            ],
        )


def _forget(session: Session, model: type[Any], key: Any) -> None:
    """Drop the session's copy of a row a Core statement changed: later handlers in the
    same batch read it again."""
    row = session.identity_map.get(session.identity_key(model, key))
    if row is not None:
        session.expire(row)


def certificate_locked(session: Session, e: ChainEvent) -> None:
    _get(session, CertificateRow, e.args["id"], e).locked = e.args["locked"]


def root_repaid(session: Session, e: ChainEvent) -> None:
    root = _get(session, RootRow, e.args["rootId"], e)
    if not root.repaid:  # its live certificates stop counting: subtract them per holder
        session.flush()
        held = session.connection().execute(
            select(CertificateRow.holder_id, func.sum(CertificateRow.value))
            .where(CertificateRow.root_id == root.id, CertificateRow.value > 0)
            .group_by(CertificateRow.holder_id)
        )
        _add_exposures(session, [(root.issuer_id, holder, -value) for holder, value in held])
    root.repaid = True


def root_overdue(session: Session, e: ChainEvent) -> None:
    _get(session, RootRow, e.args["rootId"], e).overdue = True


def certificate_redeemed(session: Session, e: ChainEvent) -> None:
    certificate = _get(session, CertificateRow, e.args["id"], e)
    root = _get(session, RootRow, e.args["rootId"], e)
    if not root.repaid:  # the ledger redeems only repaid roots' paper; kept true regardless
        _add_exposures(session, [(root.issuer_id, certificate.holder_id, -certificate.value)])
    certificate.value = 0
    certificate.redeemed_value = e.args["amount"]
    root.redeemed_value += e.args["amount"]


# ---- financing -------------------------------------------------------------------------


def financing_requested(session: Session, e: ChainEvent) -> None:
    a = e.args
    session.add(
        FinancingRequestRow(
            id=a["requestId"],
            certificate_id=a["certificateId"],
            requester_id=a["requesterId"],
            financier_id=a["financierId"],
            amount=a["amount"],
            agreement_hash=hex0x(a["agreementHash"]),
            expires_at=a["expiresAt"],
            status="pending",
            max_rate_bps=a.get("maxRateBps", 0),  # the legacy event had no seller terms
        )
    )


def financing_approved(session: Session, e: ChainEvent) -> None:
    request = _get(session, FinancingRequestRow, e.args["requestId"], e)
    request.status = "approved"
    request.rate_bps = e.args["rateBps"]
    request.price = e.args["price"]
    request.financed_certificate_id = e.args["financedCertificateId"]


def financing_closed(status: str) -> Handler:
    def apply(session: Session, e: ChainEvent) -> None:
        _get(session, FinancingRequestRow, e.args["requestId"], e).status = status

    return apply


HANDLERS: dict[str, Handler] = {
    "MemberAdmitted": member_admitted,
    "MemberSuspended": member_status("suspended"),
    "MemberReinstated": member_status("active"),
    "MemberRoleGranted": member_role(granted=True),
    "MemberRoleRevoked": member_role(granted=False),
    "MemberAccountBound": account_bound,
    "MemberAccountUnbound": account_unbound,
    "InvoiceRegistered": invoice_registered,
    "LegacyInvoiceRekeyed": invoice_rekeyed,
    "InvoiceConfirmed": invoice_status("confirmed"),
    "InvoiceDisputed": invoice_status("disputed"),
    "InvoiceCancelled": invoice_status("cancelled"),
    "InvoiceAssigned": invoice_status("assigned"),
    "CreditLineGranted": credit_line_granted,
    "CreditLineLimitChanged": credit_line_limit_changed,
    "CreditLineClosed": credit_line_closed,
    "CreditLineDrawn": credit_line_used,
    "CreditLineRestored": credit_line_used,
    "CertificateIssued": certificate_issued,
    "CertificateSplit": certificate_split,
    "CertificateValueLocked": certificate_locked,
    "CertificateValueUnlocked": certificate_locked,
    "RootRepaid": root_repaid,
    "RootOverdue": root_overdue,
    "CertificateRedeemed": certificate_redeemed,
    "FinancingRequested": financing_requested,
    "FinancingApproved": financing_approved,
    "FinancingRejected": financing_closed("rejected"),
    "FinancingCancelled": financing_closed("cancelled"),
    "FinancingExpired": financing_closed("expired"),
}
