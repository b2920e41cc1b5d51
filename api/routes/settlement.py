"""Settlement tokens: a financier mints against deposits and burns on withdrawal; members pay."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ConsortiumDep, CurrentMember, IdempotencyKey, SessionDep, WriterDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.schemas import Balance, BurnCreate, MintCreate, SettlementTransferCreate
from api.wire import bytes32, hex0x

router = APIRouter(
    prefix="/v1/settlement",
    tags=["settlement"],
    responses={401: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)


def _balance(consortium: ConsortiumDep, member_id: int, account: str) -> Balance:
    amount = int(consortium.settlement.call("balanceOf", account))
    return Balance(member_id=member_id, account=account, balance=format_amount(amount))


@router.get("/balance", response_model=Balance)
def read_balance(
    member: CurrentMember, session: SessionDep, writer: WriterDep, consortium: ConsortiumDep
) -> Balance:
    """The caller's settlement-token balance, read from the ledger."""
    return _balance(consortium, member.id, writer.account_of(session, member.id))


@router.post("/mint", response_model=Balance, status_code=201)
def mint_tokens(
    body: MintCreate,
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Balance:
    """A financier mints tokens to a member against an off-chain deposit."""
    to = writer.payee_of(session, body.to_member_id)
    receipt = writer.write(
        session,
        member,
        consortium.settlement,
        "mint",
        to,
        parse_amount(body.amount),
        bytes32(body.bank_reference),
        idempotency_key=idempotency_key,
    )
    response.headers["X-Transaction-Hash"] = hex0x(receipt["transactionHash"])
    return _balance(consortium, body.to_member_id, to)


@router.post("/burn", response_model=Balance)
def burn_tokens(
    body: BurnCreate,
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Balance:
    """A financier burns its own tokens on an off-chain withdrawal."""
    receipt = writer.write(
        session,
        member,
        consortium.settlement,
        "burn",
        parse_amount(body.amount),
        bytes32(body.bank_reference),
        idempotency_key=idempotency_key,
    )
    response.headers["X-Transaction-Hash"] = hex0x(receipt["transactionHash"])
    return _balance(consortium, member.id, writer.account_of(session, member.id))


@router.post("/transfers", response_model=Balance, status_code=201)
def transfer_tokens(
    body: SettlementTransferCreate,
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Balance:
    """Pay another member; the answer is the caller's balance afterwards."""
    receipt = writer.write(
        session,
        member,
        consortium.settlement,
        "transfer",
        writer.payee_of(session, body.to_member_id),
        parse_amount(body.amount),
        idempotency_key=idempotency_key,
    )
    response.headers["X-Transaction-Hash"] = hex0x(receipt["transactionHash"])
    return _balance(consortium, member.id, writer.account_of(session, member.id))
