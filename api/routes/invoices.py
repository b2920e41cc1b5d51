"""Invoices: the anchors a member sells or buys under (reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.money import format_amount
from api.readmodel.models import InvoiceRow
from api.schemas import InvoiceList, InvoicePublic
from api.services.visibility import invoices_listed_for, visible_invoice

router = APIRouter(
    prefix="/v1/invoices",
    tags=["invoices"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

STATUSES = ("registered", "confirmed", "assigned", "disputed", "cancelled")


def to_public(row: InvoiceRow) -> InvoicePublic:
    return InvoicePublic(
        key=row.key,
        seller_id=row.seller_id,
        buyer_id=row.buyer_id,
        amount=format_amount(row.amount),
        issue_date=row.issue_date,
        due_date=row.due_date,
        document_hash=row.document_hash,
        status=row.status,
        certificate_id=row.certificate_id,
    )


@router.get("", response_model=InvoiceList)
def list_invoices(
    member: CurrentMember,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InvoiceList:
    """Invoices the caller sold or bought (auditors: all)."""
    query = invoices_listed_for(member)
    if status is not None:
        query = query.where(InvoiceRow.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(InvoiceRow.key).limit(limit).offset(offset))
    return InvoiceList(items=[to_public(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{key}", response_model=InvoicePublic)
def read_invoice(
    key: Annotated[str, Path(pattern="^0x[0-9a-fA-F]{64}$", description="the invoice key")],
    member: CurrentMember,
    session: SessionDep,
) -> InvoicePublic:
    return to_public(visible_invoice(session, member, key))
