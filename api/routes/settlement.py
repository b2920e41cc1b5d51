"""Settlement tokens: a financier mints against deposits and burns on withdrawal; members pay."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import ConsortiumDep, CurrentMember, SessionDep, Write, WriteDep, WriterDep
from api.errors import ErrorResponse
from api.money import format_amount, parse_amount
from api.readmodel.models import MemberAccountRow, MemberRow
from api.schemas.common import PathId
from api.schemas.settlement import (
    Balance,
    BurnCreate,
    Issuance,
    MintCreate,
    SettlementTransferCreate,
)
from api.services.visibility import NotFound, is_auditor
from api.wire import bytes32

FINANCIER_BIT = 4  # MemberRegistry.roleBit(FINANCIER)

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
    """The caller's settlement-token balance, read from the ledger: in the account this
    node signs with for it, or where it is paid when its key is on another node (a read
    needs no signing key)."""
    return _balance(consortium, member.id, writer.payee_of(session, member.id))


@router.get(
    "/issuance/{member_id}", response_model=Issuance, responses={404: {"model": ErrorResponse}}
)
def read_issuance(
    member_id: PathId, member: CurrentMember, session: SessionDep, consortium: ConsortiumDep
) -> Issuance:
    """A financier's outstanding issuance and cap, read from the ledger: for the financier
    itself, auditors and governors; anyone else, or a member that is no financier, gets
    404 ``financier_not_found``."""
    financier = session.get(MemberRow, member_id)
    if financier is None or not financier.roles & FINANCIER_BIT:
        raise NotFound("financier", member_id)
    if (
        member.id != member_id
        and not is_auditor(member)
        and not _governs(session, consortium, member)
    ):
        raise NotFound("financier", member_id)
    outstanding, cap = (int(v) for v in consortium.settlement.call("issuanceOf", member_id))
    own = bool(consortium.settlement.call("hasOwnIssuanceCap", member_id))
    return Issuance(
        member_id=member_id,
        outstanding=format_amount(outstanding),
        cap=format_amount(cap),
        available=format_amount(max(cap - outstanding, 0)),
        own_cap=own,
    )


def _governs(session: SessionDep, consortium: ConsortiumDep, member: MemberRow) -> bool:
    """True when one of ``member``'s accounts is a governor (the committee sets the caps)."""
    accounts = session.scalars(
        select(MemberAccountRow.address).where(MemberAccountRow.member_id == member.id)
    )
    return any(consortium.governance.call("isGovernor", a) for a in accounts)


@router.post("/mint", response_model=Balance, status_code=201)
def mint_tokens(body: MintCreate, write: WriteDep) -> Balance:
    """A financier mints tokens to a member against an off-chain deposit."""
    to = write.writer.payee_of(write.session, body.to_member_id)
    amount = parse_amount(body.amount)
    write.send(write.consortium.settlement, "mint", to, amount, bytes32(body.bank_reference))
    return _balance(write.consortium, body.to_member_id, to)


@router.post("/burn", response_model=Balance)
def burn_tokens(body: BurnCreate, write: WriteDep) -> Balance:
    """A financier burns its own tokens on an off-chain withdrawal."""
    amount = parse_amount(body.amount)
    write.send(write.consortium.settlement, "burn", amount, bytes32(body.bank_reference))
    return _own_balance(write)


@router.post("/transfers", response_model=Balance, status_code=201)
def transfer_tokens(body: SettlementTransferCreate, write: WriteDep) -> Balance:
    """Pay another member; the answer is the caller's balance afterwards."""
    to = write.writer.payee_of(write.session, body.to_member_id)
    write.send(write.consortium.settlement, "transfer", to, parse_amount(body.amount))
    return _own_balance(write)


def _own_balance(write: Write) -> Balance:
    account = write.writer.account_of(write.session, write.member.id)
    return _balance(write.consortium, write.member.id, account)
