"""Object-level authorization: who may see which certificate or invoice.

Auditors see everything. A member sees a certificate it holds, one whose root it
issued, the ones it transferred out of a certificate it holds, and the ancestors of a
certificate it holds (the path to the core
enterprise's credit is what lets a bank trust a tier-3 supplier). The financier named
in a pending financing request may also read that certificate (to price it before it
decides: ``readable_certificate``), but not act on it. An invoice is
seen by its seller and buyer. Anything else answers 404, so no one learns that
an object exists.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.readmodel.models import CertificateRow, FinancingRequestRow, InvoiceRow, MemberRow
from chain.errors import ScfError

AUDITOR_BIT = 8


class NotFound(ScfError):
    http_status = 404

    def __init__(self, kind: str, ident: object) -> None:
        self.code = f"{kind}_not_found"
        super().__init__(f"no {kind} {ident} visible to you", details={kind: ident})


def is_auditor(member: MemberRow) -> bool:
    return bool(member.roles & AUDITOR_BIT)


def certificates_listed_for(member: MemberRow) -> Select[CertificateRow]:
    """What ``GET /v1/certificates`` shows: holdings and certificates of own roots."""
    query = select(CertificateRow)
    if not is_auditor(member):
        query = query.where(
            or_(CertificateRow.holder_id == member.id, CertificateRow.issuer_id == member.id)
        )
    return query


def visible_certificate(
    session: Session, member: MemberRow, certificate_id: int, *, refresh: bool = False
) -> CertificateRow:
    """The certificate if ``member`` may see it, else 404. ``refresh`` reads it afresh
    even when the session has it (another session, the indexer's, changed it)."""
    row = session.get(CertificateRow, certificate_id, populate_existing=refresh)
    if row is None or not _may_see(session, member, row):
        raise NotFound("certificate", certificate_id)
    return row


def readable_certificate(
    session: Session, member: MemberRow, certificate_id: int
) -> CertificateRow:
    """The certificate if ``member`` may see it or is the financier of a pending request
    on it (reads only: a write takes ``visible_certificate``), else 404."""
    row = session.get(CertificateRow, certificate_id)
    if row is not None and _asked_to_finance(session, member, row):
        return row
    return visible_certificate(session, member, certificate_id)


def _asked_to_finance(session: Session, member: MemberRow, row: CertificateRow) -> bool:
    pending = select(FinancingRequestRow.id).where(
        FinancingRequestRow.certificate_id == row.id,
        FinancingRequestRow.financier_id == member.id,
        FinancingRequestRow.status == "pending",
    )
    return session.scalars(pending.limit(1)).first() is not None


def _may_see(session: Session, member: MemberRow, row: CertificateRow) -> bool:
    if is_auditor(member) or member.id in (row.holder_id, row.issuer_id):
        return True
    parent = session.get(CertificateRow, row.parent_id) if row.parent_id else None
    if parent is not None and parent.holder_id == member.id:
        return True  # a transfer the member made from its holding
    # an ancestor of one of the member's holdings in the same tree
    held = session.scalars(
        select(CertificateRow).where(
            CertificateRow.root_id == row.root_id, CertificateRow.holder_id == member.id
        )
    ).all()
    for certificate in held:
        node: CertificateRow | None = certificate
        while node is not None and node.parent_id:
            if node.parent_id == row.id:
                return True
            node = session.get(CertificateRow, node.parent_id)
    return False


def invoices_listed_for(member: MemberRow) -> Select[InvoiceRow]:
    query = select(InvoiceRow)
    if not is_auditor(member):
        query = query.where(
            or_(InvoiceRow.seller_id == member.id, InvoiceRow.buyer_id == member.id)
        )
    return query


def visible_invoice(session: Session, member: MemberRow, key: str) -> InvoiceRow:
    row = session.get(InvoiceRow, key.lower())
    if row is None or not (is_auditor(member) or member.id in (row.seller_id, row.buyer_id)):
        raise NotFound("invoice", key)
    return row
