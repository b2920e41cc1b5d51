"""Invoices: the anchors a member sells or buys under (reads)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import CurrentMember, SessionDep, Write, WriteDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.readmodel.models import InvoiceRow
from api.readmodel.paging import fetch_page
from api.schemas.common import CanonicalInt, Offset
from api.schemas.invoices import InvoiceCreate, InvoiceDispute, InvoiceList, InvoicePublic
from api.services.alerts import record_duplicate_invoice
from api.services.anchors import require_stored_document
from api.services.visibility import invoices_listed_for, visible_invoice
from api.wire import bytes32, hex0x, utc_day, utc_midnight
from chain.credit_code import credit_code_hash
from chain.errors import ContractRevert, ScfError
from chain.invoice_key import invoice_key

router = APIRouter(
    prefix="/v1/invoices",
    tags=["invoices"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

InvoiceKey = Annotated[str, Path(pattern="^0x[0-9a-fA-F]{64}$", description="the invoice key")]
STATUSES = ("registered", "confirmed", "assigned", "disputed", "cancelled")


def to_public(row: InvoiceRow) -> InvoicePublic:
    return InvoicePublic(
        key=row.key,
        invoice_code=row.invoice_code,
        invoice_number=row.invoice_number,
        seller_id=row.seller_id,
        buyer_id=row.buyer_id,
        amount=format_amount(row.amount),
        issue_date=utc_day(row.issue_date),
        due_date=utc_day(row.due_date),
        document_hash=row.document_hash,
        status=row.status,
        certificate_id=row.certificate_id,
    )


@router.get("", response_model=InvoiceList)
def list_invoices(
    member: CurrentMember,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> InvoiceList:
    """Invoices the caller sold or bought (auditors: all)."""
    query = invoices_listed_for(member)
    if status is not None:
        query = query.where(InvoiceRow.status == status)
    rows, total = fetch_page(session, query, InvoiceRow.key, limit=limit, offset=offset)
    return InvoiceList(items=[to_public(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{key}", response_model=InvoicePublic)
def read_invoice(key: InvoiceKey, member: CurrentMember, session: SessionDep) -> InvoicePublic:
    return to_public(visible_invoice(session, member, key))


class NotYourCreditCode(ScfError):
    code = "seller_mismatch"
    http_status = 403


@router.post("", response_model=InvoicePublic, status_code=201)
def create_invoice(body: InvoiceCreate, write: WriteDep) -> InvoicePublic:
    """Register an invoice anchor as its seller. The ledger derives the key from the
    caller's own credit code and the invoice's canonical code and number (VAT: 10 or 12-digit
    code + 8-digit number; 数电发票: no code + 20-digit number; anything else is 422
    ``invalid_invoice_identity``). The same invoice registered before, by its seller, is
    refused with ``InvoiceAlreadyRegistered`` (409). The document must be stored on the
    platform and readable by the caller (422 ``document_not_stored``)."""
    seller_hash = bytes32(write.member.credit_code_hash)
    if body.seller_credit_code is not None and credit_code_hash(body.seller_credit_code) != (
        seller_hash
    ):
        raise NotYourCreditCode("the seller credit code is not the calling member's")
    key = invoice_key(seller_hash, body.invoice_code, body.invoice_number)
    require_stored_document(write.session, write.member, body.document_hash, field="document_hash")
    try:
        write.send(
            write.consortium.invoices,
            "registerInvoice",
            body.invoice_code,
            body.invoice_number,
            body.buyer_id,
            parse_amount(body.amount),
            utc_midnight(body.issue_date),
            utc_midnight(body.due_date),
            bytes32(body.document_hash),
        )
    except ContractRevert as refused:
        if refused.error_name == "InvoiceAlreadyRegistered":  # an alert for the risk desk
            record_duplicate_invoice(
                write.session,
                write.consortium,
                invoice_key=key,
                attempting_member_id=write.member.id,
                attempted_amount=parse_amount(body.amount),
            )
        raise
    return to_public(visible_invoice(write.session, write.member, hex0x(key)))


def _buyer_action(write: Write, function: str, key: str, *extra: Any) -> InvoicePublic:
    invoice = visible_invoice(write.session, write.member, key)
    write.send(write.consortium.invoices, function, bytes32(invoice.key), *extra)
    write.session.expire_all()
    return to_public(visible_invoice(write.session, write.member, key))


@router.post("/{key}/confirm", response_model=InvoicePublic)
def confirm_invoice(key: InvoiceKey, write: WriteDep) -> InvoicePublic:
    """The buyer confirms it owes the invoice (确权)."""
    return _buyer_action(write, "confirmInvoice", key)


@router.post("/{key}/dispute", response_model=InvoicePublic)
def dispute_invoice(key: InvoiceKey, body: InvoiceDispute, write: WriteDep) -> InvoicePublic:
    """The buyer disputes the invoice, with the hash of its reasons document."""
    return _buyer_action(write, "disputeInvoice", key, bytes32(body.reason_hash))
