"""Certificates: holdings, one certificate, and its lineage tree (穿透式追溯)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentMember, SessionDep, Write, WriteDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.readmodel.models import CertificateRow, RootRow
from api.readmodel.paging import fetch_page
from api.schemas.certificates import (
    CertificateCreate,
    CertificateList,
    CertificatePublic,
    LineageNode,
    RootPublic,
    TransferCreate,
)
from api.schemas.common import MAX_ID, CanonicalInt, Offset, PathId
from api.services.visibility import (
    certificates_listed_for,
    is_auditor,
    readable_certificate,
    visible_certificate,
)
from api.wire import bytes32, utc_day, utc_midnight

router = APIRouter(
    prefix="/v1/certificates",
    tags=["certificates"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)


def to_public(row: CertificateRow) -> CertificatePublic:
    return CertificatePublic(
        id=row.id,
        root_id=row.root_id,
        parent_id=row.parent_id,
        issuer_id=row.issuer_id,
        holder_id=row.holder_id,
        value=format_amount(row.value),
        locked=format_amount(row.locked),
        redeemed_value=format_amount(row.redeemed_value),
        maturity=utc_day(row.maturity),
    )


@router.get("", response_model=CertificateList)
def list_certificates(
    member: CurrentMember,
    session: SessionDep,
    holder_id: Annotated[
        int | None, CanonicalInt, Query(ge=1, le=MAX_ID, description="only this holder's")
    ] = None,
    root_id: Annotated[
        int | None, CanonicalInt, Query(ge=1, le=MAX_ID, description="only this root's tree")
    ] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> CertificateList:
    """Certificates the caller holds or issued (auditors: all), by id."""
    query = certificates_listed_for(member)
    if holder_id is not None:
        query = query.where(CertificateRow.holder_id == holder_id)
    if root_id is not None:
        query = query.where(CertificateRow.root_id == root_id)
    rows, total = fetch_page(session, query, CertificateRow.id, limit=limit, offset=offset)
    return CertificateList(
        items=[to_public(r) for r in rows], total=total, limit=limit, offset=offset
    )


def with_root(session: Session, row: CertificateRow) -> RootPublic:
    """The certificate with its root's face value and standing."""
    root = session.get_one(RootRow, row.root_id)
    return RootPublic(
        **to_public(row).model_dump(),
        face_value=format_amount(root.face_value),
        repaid=root.repaid,
        overdue=root.overdue,
    )


@router.get("/{certificate_id}", response_model=RootPublic)
def read_certificate(
    certificate_id: PathId, member: CurrentMember, session: SessionDep
) -> RootPublic:
    """A certificate you may see (or are asked to finance), with its root's face value
    and whether its issuer has repaid it."""
    return with_root(session, readable_certificate(session, member, certificate_id))


@router.get("/{certificate_id}/lineage", response_model=LineageNode)
def read_certificate_lineage(
    certificate_id: PathId, member: CurrentMember, session: SessionDep
) -> LineageNode:
    """The tree from the root down. The root's issuer and auditors see all of it; a holder
    sees the path from the root to its certificate and the transfers it made from it; the
    financier asked to finance a certificate, the path from the root to it."""
    target = readable_certificate(session, member, certificate_id)
    tree = session.scalars(
        select(CertificateRow).where(CertificateRow.root_id == target.root_id)
    ).all()
    by_id = {row.id: row for row in tree}
    children: dict[int, list[CertificateRow]] = {}
    for row in sorted(tree, key=lambda r: r.id):
        children.setdefault(row.parent_id, []).append(row)

    if is_auditor(member) or member.id == target.issuer_id:
        shown = set(by_id)
    else:
        shown = {target.id}
        node = target
        while node.parent_id:
            node = by_id[node.parent_id]
            shown.add(node.id)
        if target.holder_id == member.id:
            shown.update(child.id for child in children.get(target.id, []))

    def build(row: CertificateRow) -> LineageNode:
        kids = [build(c) for c in children.get(row.id, []) if c.id in shown]
        return LineageNode(**to_public(row).model_dump(), children=kids)

    return build(by_id[target.root_id])


def _new_certificate(write: Write, certificate_id: int) -> CertificatePublic:
    """The certificate a write just created, as the indexer wrote it through its own session.
    Only this row is read afresh: who may see it follows from holder, issuer, parent and
    root, which never change once a certificate exists (a split makes a new one)."""
    shown = visible_certificate(write.session, write.member, certificate_id, refresh=True)
    return to_public(shown)


@router.post("", response_model=CertificatePublic, status_code=201)
def issue_certificate(body: CertificateCreate, write: WriteDep) -> CertificatePublic:
    """A core enterprise issues a certificate to a supplier against confirmed invoices it
    owes that supplier (their total at least the face value), drawing on its credit line."""
    certificates = write.consortium.certificates
    receipt = write.send(
        certificates,
        "issueCertificate",
        body.holder_id,
        parse_amount(body.face_value),
        utc_midnight(body.maturity),
        body.credit_line_id,
        [bytes32(k) for k in body.invoice_keys],
    )
    return _new_certificate(write, int(certificates.event_args(receipt, "CertificateIssued")["id"]))


@router.post("/{certificate_id}/transfers", response_model=CertificatePublic, status_code=201)
def transfer_certificate(
    certificate_id: PathId, body: TransferCreate, write: WriteDep
) -> CertificatePublic:
    """Split-transfer part or all of a certificate's value to another member: the answer is
    the new certificate, whose parent is this one."""
    # the source stays referenced: the new certificate's visibility check reads it again
    source = visible_certificate(write.session, write.member, certificate_id)
    certificates = write.consortium.certificates
    receipt = write.send(
        certificates,
        "splitTransfer",
        source.id,
        body.to_member_id,
        parse_amount(body.amount),
    )
    child_id = int(certificates.event_args(receipt, "CertificateSplit")["childId"])
    return _new_certificate(write, child_id)
