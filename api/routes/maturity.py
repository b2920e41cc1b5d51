"""Maturity: the issuer repays a root; every holder redeems its certificate (pull); an
unpaid root is marked overdue once its grace period is over."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import WriteDep
from api.errors import ErrorResponse
from api.money import format_amount
from api.readmodel.models import RootRow
from api.routes.certificates import with_root
from api.schemas.certificates import Redemption, RepaymentCreate, RootPublic
from api.schemas.common import PathId
from api.services.visibility import NotFound, visible_certificate
from api.wire import hex0x
from chain.errors import ScfError

router = APIRouter(tags=["maturity"], responses={401: {"model": ErrorResponse}})


class NotARoot(ScfError):
    code = "certificate_not_root"
    http_status = 422


@router.post("/v1/repayments", status_code=201, responses={404: {"model": ErrorResponse}})
def repay_root(body: RepaymentCreate, write: WriteDep) -> dict[str, object]:
    """The issuer repays a root's face value in settlement tokens."""
    root = write.session.get(RootRow, body.root_id)
    if root is None or root.issuer_id != write.member.id:
        raise NotFound("root", body.root_id)
    maturity = write.consortium.maturity
    with write.exclusive():  # no other repayment of this issuer may reset the allowance
        write.send(
            write.consortium.settlement,
            "approve",
            maturity.address,
            root.face_value,
            step="allowance",
        )
        write.send(maturity, "repay", body.root_id)
    return {"root_id": body.root_id, "amount": format_amount(root.face_value), "repaid": True}


@router.post(
    "/v1/certificates/{certificate_id}/redeem",
    response_model=Redemption,
    responses={404: {"model": ErrorResponse}},
)
def redeem_certificate(certificate_id: PathId, write: WriteDep) -> Redemption:
    """The holder redeems a matured certificate of a repaid root for its value."""
    visible_certificate(write.session, write.member, certificate_id)
    receipt = write.send(write.consortium.maturity, "redeem", certificate_id)
    redeemed = write.consortium.certificates.event_args(receipt, "CertificateRedeemed")
    return Redemption(
        certificate_id=certificate_id,
        amount=format_amount(int(redeemed["amount"])),
        transaction_hash=hex0x(receipt["transactionHash"]),
    )


@router.post(
    "/v1/certificates/{certificate_id}/overdue",
    response_model=RootPublic,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
def mark_overdue(certificate_id: PathId, write: WriteDep) -> RootPublic:
    """Record on the ledger that a root its issuer has not repaid by maturity plus the
    ``GRACE_PERIOD`` parameter is overdue; the risk reports show it. Members who may see
    the root may mark it."""
    certificate = visible_certificate(write.session, write.member, certificate_id)
    if certificate.parent_id:
        raise NotARoot(
            f"certificate {certificate_id} is not a root: mark its root "
            f"{certificate.root_id} overdue",
            details={"certificate_id": certificate_id, "root_id": certificate.root_id},
        )
    write.send(write.consortium.maturity, "markOverdue", certificate_id)
    write.session.expire_all()  # the indexer wrote the event through its own session
    return with_root(
        write.session, visible_certificate(write.session, write.member, certificate_id)
    )
