"""Financing requests (discounting): quote, request on the seller's terms, approve within
them, reject, cancel, expire."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.deps import ConsortiumDep, CurrentMember, SessionDep, WriteDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.readmodel.models import FinancingRequestRow, MemberRow
from api.readmodel.paging import fetch_page
from api.schemas.common import MAX_ID, CanonicalInt, Offset, PathId
from api.schemas.financing import (
    FinancingApprove,
    FinancingCreate,
    FinancingList,
    FinancingPublic,
    FinancingQuote,
    FinancingReject,
)
from api.services.anchors import require_stored_document
from api.services.financing_terms import AMOUNT_PATTERN, QuoteNeedsMaturity, quote, require_terms
from api.services.visibility import (
    NotFound,
    is_auditor,
    readable_certificate,
    visible_certificate,
)
from api.wire import bytes32, timestamp, utc_datetime, utc_midnight
from chain.errors import ScfError

router = APIRouter(
    prefix="/v1/financing-requests",
    tags=["financing"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)


def to_public(row: FinancingRequestRow) -> FinancingPublic:
    return FinancingPublic(
        id=row.id,
        certificate_id=row.certificate_id,
        requester_id=row.requester_id,
        financier_id=row.financier_id,
        amount=format_amount(row.amount),
        max_rate_bps=row.max_rate_bps,
        agreement_hash=row.agreement_hash,
        expires_at=utc_datetime(row.expires_at),
        status=row.status,
        rate_bps=row.rate_bps,
        price=None if row.price is None else format_amount(row.price),
        financed_certificate_id=row.financed_certificate_id,
    )


class NotTheFinancier(ScfError):
    code = "not_the_financier"
    http_status = 403


class NotAParty(ScfError):
    code = "not_a_party"
    http_status = 403


class RequestNotPending(ScfError):
    code = "financing_not_pending"
    http_status = 409


def visible_request(session: Session, member: MemberRow, request_id: int) -> FinancingRequestRow:
    session.expire_all()
    row = session.get(FinancingRequestRow, request_id)
    parties = () if row is None else (row.requester_id, row.financier_id)
    if row is None or not (is_auditor(member) or member.id in parties):
        raise NotFound("financing_request", request_id)
    return row


@router.get("/quote", response_model=FinancingQuote)
def quote_financing(
    member: CurrentMember,
    session: SessionDep,
    consortium: ConsortiumDep,
    amount: Annotated[str, Query(pattern=AMOUNT_PATTERN, description='decimal, e.g. "1000.00"')],
    rate_bps: Annotated[int, Query(ge=0, le=10_000, description="annual rate, basis points")],
    certificate_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="price to this certificate's maturity")
    ] = None,
    maturity: Annotated[
        date | None, Query(description="or to this maturity day (00:00 UTC)")
    ] = None,
) -> FinancingQuote:
    """What discounting ``amount`` at ``rate_bps`` pays now, computed by the ledger's own
    pricing (the contract's ``quote``): choose the ``max_rate_bps`` of a request with it.
    Give a ``certificate_id`` you can see (or are asked to finance), or a ``maturity``
    day."""
    if (certificate_id is None) == (maturity is None):
        raise QuoteNeedsMaturity("give exactly one of certificate_id and maturity")
    if certificate_id is not None:
        maturity_at = readable_certificate(session, member, certificate_id).maturity
    else:
        assert maturity is not None
        maturity_at = utc_midnight(maturity)
    return quote(consortium, parse_amount(amount), rate_bps, maturity_at)


@router.post("", response_model=FinancingPublic, status_code=201)
def request_financing(body: FinancingCreate, write: WriteDep) -> FinancingPublic:
    """The holder escrows part of a certificate and asks a financier to discount it on its
    terms: at most ``max_rate_bps``, before ``expires_at``, under the agreement
    ``agreement_hash`` (a stored document the financier can read, 422 otherwise)."""
    visible_certificate(write.session, write.member, body.certificate_id)
    require_stored_document(
        write.session,
        write.member,
        body.agreement_hash,
        field="agreement_hash",
        shared_with=body.financier_id,
    )
    hub = write.consortium.financing
    receipt = write.send(
        hub,
        "requestFinancing",
        body.certificate_id,
        body.financier_id,
        parse_amount(body.amount),
        body.max_rate_bps,
        bytes32(body.agreement_hash),
        timestamp(body.expires_at),
    )
    request_id = int(hub.event_args(receipt, "FinancingRequested")["requestId"])
    return to_public(visible_request(write.session, write.member, request_id))


@router.post("/{request_id}/approve", response_model=FinancingPublic)
def approve_financing(
    request_id: PathId, body: FinancingApprove, write: WriteDep
) -> FinancingPublic:
    """The financier approves at a rate within the requester's terms, naming the request's
    agreement: in one transaction the escrowed value becomes its certificate and the
    discounted price moves to the requester in settlement tokens. A worse rate is refused
    with ``FinancingRateAboveAccepted``, another agreement with ``FinancingAgreementMismatch``
    (409), before anything is signed."""
    request = visible_request(write.session, write.member, request_id)
    # checked here because the allowance below is a transaction of its own: a request the
    # hub would refuse must not leave it behind on the ledger
    if request.financier_id != write.member.id:
        raise NotTheFinancier(
            f"only the financier chosen by request {request_id} may approve it",
            details={"request_id": request_id, "financier_id": request.financier_id},
        )
    if request.status != "pending":
        raise RequestNotPending(
            f"financing request {request_id} is {request.status}, not pending",
            details={"request_id": request_id, "status": request.status},
        )
    require_terms(request, body.rate_bps, body.agreement_hash)
    hub = write.consortium.financing
    # the price never exceeds the amount: allow the hub that much of the financier's tokens
    with write.exclusive():
        write.send(
            write.consortium.settlement, "approve", hub.address, request.amount, step="allowance"
        )
        write.send(hub, "approveFinancing", request_id, body.rate_bps, bytes32(body.agreement_hash))
    return to_public(visible_request(write.session, write.member, request_id))


@router.post("/{request_id}/reject", response_model=FinancingPublic)
def reject_financing(request_id: PathId, body: FinancingReject, write: WriteDep) -> FinancingPublic:
    visible_request(write.session, write.member, request_id)
    write.send(write.consortium.financing, "rejectFinancing", request_id, bytes32(body.reason_hash))
    return to_public(visible_request(write.session, write.member, request_id))


@router.post("/{request_id}/cancel", response_model=FinancingPublic)
def cancel_financing(request_id: PathId, write: WriteDep) -> FinancingPublic:
    visible_request(write.session, write.member, request_id)
    write.send(write.consortium.financing, "cancelFinancing", request_id)
    return to_public(visible_request(write.session, write.member, request_id))


@router.post("/{request_id}/expire", response_model=FinancingPublic)
def expire_financing(request_id: PathId, write: WriteDep) -> FinancingPublic:
    """Close a pending request from its ``expires_at`` on; the escrowed value returns to the
    certificate. The ledger lets anyone do it; through the API its parties do."""
    request = visible_request(write.session, write.member, request_id)
    if write.member.id not in (request.requester_id, request.financier_id):
        raise NotAParty(  # an auditor sees the request but writes nothing
            f"only the parties of financing request {request_id} may expire it",
            details={"request_id": request_id},
        )
    write.send(write.consortium.financing, "expireFinancing", request_id)
    return to_public(visible_request(write.session, write.member, request_id))


@router.get("", response_model=FinancingList)
def list_financing_requests(
    member: CurrentMember,
    session: SessionDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> FinancingList:
    """Requests the caller made or received (auditors: all)."""
    query = select(FinancingRequestRow)
    if not is_auditor(member):
        query = query.where(
            or_(
                FinancingRequestRow.requester_id == member.id,
                FinancingRequestRow.financier_id == member.id,
            )
        )
    rows, total = fetch_page(session, query, FinancingRequestRow.id, limit=limit, offset=offset)
    items = [to_public(r) for r in rows]
    return FinancingList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{request_id}", response_model=FinancingPublic)
def read_financing_request(
    request_id: PathId, member: CurrentMember, session: SessionDep
) -> FinancingPublic:
    """One request, for its requester and its financier (auditors: any)."""
    return to_public(visible_request(session, member, request_id))
