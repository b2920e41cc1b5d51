"""Maturity: the issuer repays a root; every holder redeems its certificate (pull)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ConsortiumDep, CurrentMember, IdempotencyKey, SessionDep, WriterDep
from api.errors import ErrorResponse
from api.money import format_amount
from api.readmodel.models import RootRow
from api.schemas import PathId, Redemption, RepaymentCreate
from api.services.visibility import NotFound, visible_certificate
from api.wire import hex0x

router = APIRouter(tags=["maturity"], responses={401: {"model": ErrorResponse}})


@router.post("/v1/repayments", status_code=201, responses={404: {"model": ErrorResponse}})
def repay_root(
    body: RepaymentCreate,
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, object]:
    """The issuer repays a root's face value in settlement tokens."""
    root = session.get(RootRow, body.root_id)
    if root is None or root.issuer_id != member.id:
        raise NotFound("root", body.root_id)
    allowance_key = f"{idempotency_key}:allowance" if idempotency_key else None
    writer.write(
        session,
        member,
        consortium.settlement,
        "approve",
        consortium.maturity.address,
        root.face_value,
        idempotency_key=allowance_key,
    )
    receipt = writer.write(
        session, member, consortium.maturity, "repay", body.root_id, idempotency_key=idempotency_key
    )
    response.headers["X-Transaction-Hash"] = hex0x(receipt["transactionHash"])
    return {"root_id": body.root_id, "amount": format_amount(root.face_value), "repaid": True}


@router.post(
    "/v1/certificates/{certificate_id}/redeem",
    response_model=Redemption,
    responses={404: {"model": ErrorResponse}},
)
def redeem_certificate(
    certificate_id: PathId,
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    idempotency_key: IdempotencyKey = None,
) -> Redemption:
    """The holder redeems a matured certificate of a repaid root for its value."""
    visible_certificate(session, member, certificate_id)
    receipt = writer.write(
        session,
        member,
        consortium.maturity,
        "redeem",
        certificate_id,
        idempotency_key=idempotency_key,
    )
    amount = int(consortium.certificates.event_args(receipt, "CertificateRedeemed")["amount"])
    return Redemption(
        certificate_id=certificate_id,
        amount=format_amount(amount),
        transaction_hash=hex0x(receipt["transactionHash"]),
    )
