"""Credit lines: a financier grants a core enterprise a limit that certificates draw on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import or_, select

from api.deps import CurrentMember, SessionDep, WriteDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.readmodel.models import CreditLineRow
from api.readmodel.paging import fetch_page
from api.schemas.common import CanonicalInt, Offset
from api.schemas.credit_lines import CreditLineCreate, CreditLineList, CreditLinePublic
from api.services.visibility import NotFound, is_auditor
from api.wire import utc_day, utc_midnight

router = APIRouter(
    prefix="/v1/credit-lines",
    tags=["credit lines"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)


def to_public(row: CreditLineRow) -> CreditLinePublic:
    return CreditLinePublic(
        id=row.id,
        financier_id=row.financier_id,
        borrower_id=row.borrower_id,
        limit=format_amount(row.limit),
        used=format_amount(row.used),
        available=format_amount(max(0, row.limit - row.used)),
        expires_at=utc_day(row.expires_at),
        status=row.status,
    )


@router.post("", response_model=CreditLinePublic, status_code=201)
def grant_credit_line(body: CreditLineCreate, write: WriteDep) -> CreditLinePublic:
    """A financier grants a core enterprise a credit line."""
    lines = write.consortium.credit_lines
    receipt = write.send(
        lines,
        "grantCreditLine",
        body.borrower_id,
        parse_amount(body.limit),
        utc_midnight(body.expires_on),
    )
    line_id = int(lines.event_args(receipt, "CreditLineGranted")["lineId"])
    row = write.session.get(CreditLineRow, line_id)
    if row is None:
        raise NotFound("credit_line", line_id)
    return to_public(row)


@router.get("", response_model=CreditLineList)
def list_credit_lines(
    member: CurrentMember,
    session: SessionDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> CreditLineList:
    """Lines the caller granted or borrows on (auditors: all)."""
    query = select(CreditLineRow)
    if not is_auditor(member):
        query = query.where(
            or_(CreditLineRow.financier_id == member.id, CreditLineRow.borrower_id == member.id)
        )
    rows, total = fetch_page(session, query, CreditLineRow.id, limit=limit, offset=offset)
    items = [to_public(r) for r in rows]
    return CreditLineList(items=items, total=total, limit=limit, offset=offset)
