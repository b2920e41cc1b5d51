"""Membership: who am I, who is in the consortium."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func, or_, select

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.readmodel.models import MemberAccountRow, MemberRow
from api.readmodel.paging import fetch_page
from api.schemas.common import CanonicalInt, Offset, PathId
from api.schemas.members import MemberList, MemberMe, MemberPublic
from api.wire import hex0x
from chain.credit_code import InvalidCreditCode, credit_code_hash
from chain.errors import ScfError
from chain.roles import role_names

router = APIRouter(
    prefix="/v1/members",
    tags=["members"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


class MemberNotFound(ScfError):
    code = "member_not_found"
    http_status = 404


def to_public(row: MemberRow) -> MemberPublic:
    return MemberPublic(
        id=row.id,
        name=row.name,
        credit_code_hash=row.credit_code_hash,
        roles=role_names(row.roles),
        status=row.status,
    )


@router.get("/me", response_model=MemberMe)
def read_member_me(member: CurrentMember, session: SessionDep) -> MemberMe:
    """The calling member and its bound signing accounts."""
    accounts = session.scalars(
        select(MemberAccountRow.address).where(MemberAccountRow.member_id == member.id)
    ).all()
    return MemberMe(**to_public(member).model_dump(), accounts=sorted(accounts))


@router.get("", response_model=MemberList)
def list_members(
    member: CurrentMember,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="name contains it (any case), or it is the member's whole credit code",
        ),
    ] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> MemberList:
    """Consortium members (names and roles are known to every member), by id; with ``q``,
    those it names."""
    query = select(MemberRow)
    if q is not None:
        query = query.where(_named_by(q))
    rows, total = fetch_page(session, query, MemberRow.id, limit=limit, offset=offset)
    return MemberList(items=[to_public(r) for r in rows], total=total, limit=limit, offset=offset)


def _named_by(q: str) -> ColumnElement[bool]:
    """A name containing ``q``; or, where ``q`` is a valid credit code, the member that
    registered it (the read model keeps only the code's hash, as the ledger does)."""
    text = q.strip()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    by_name = func.lower(MemberRow.name).like(f"%{escaped.lower()}%", escape="\\")
    try:
        code = hex0x(credit_code_hash(text))
    except InvalidCreditCode:
        return by_name
    return or_(by_name, MemberRow.credit_code_hash == code)


@router.get("/{member_id}", response_model=MemberPublic, responses={404: {"model": ErrorResponse}})
def read_member(member_id: PathId, member: CurrentMember, session: SessionDep) -> MemberPublic:
    row = session.get(MemberRow, member_id)
    if row is None:
        raise MemberNotFound(f"no member with id {member_id}", details={"member_id": member_id})
    return to_public(row)
