"""Request and response bodies (``XCreate`` / ``XPublic`` / ``XList``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path as FastApiPath
from fastapi import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, Strict

# Ids are positive and fit a signed 64-bit SQL integer. In a JSON body an id is a JSON
# integer: strict, so "4.0", 4.0, "4" and true are refused rather than read as 4.
MAX_ID = 2**63 - 1
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]

_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,18}")


def _canonical_int(value: Any) -> Any:
    """A path or query integer spelled one way only: ASCII digits without sign, leading
    zero, fraction or underscore (pydantic alone reads "1.0", "+1", "01" and "1_0" as 1).
    At most 19 digits, so that a huge number is refused before it is converted."""
    if isinstance(value, str) and not _CANONICAL_INT.fullmatch(value):
        raise ValueError("must be a whole number written in plain digits, such as 42")
    return value


# Every integer in a path or query goes through this, then its bounds.
CanonicalInt = BeforeValidator(_canonical_int)
# how many rows a list skips: bounded, so that the database never gets a number it
# cannot hold (9223372036854775808 was a 500)
Offset = Annotated[int, CanonicalInt, Query(ge=0, le=MAX_ID, description="rows to skip")]


def _in_utc(moment: datetime) -> datetime:
    # A naive time would be ambiguous on the wire; every time the API answers is aware.
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


# An instant in a response: ISO 8601 in UTC with a Z suffix, "2026-11-25T17:12:55Z"
# (pydantic writes UTC as Z). Calendar days are plain ``date``: "2027-01-31".
UtcDateTime = Annotated[
    datetime,
    AfterValidator(_in_utc),
    Field(examples=["2026-11-25T17:12:55Z"]),
]


class MemberPublic(BaseModel):
    id: int
    name: str
    credit_code_hash: str = Field(description="keccak-256 of the unified social credit code")
    roles: list[str]
    status: str


class MemberMe(MemberPublic):
    accounts: list[str] = Field(description="signing accounts bound on chain")


class MemberList(BaseModel):
    items: list[MemberPublic]
    total: int
    limit: int
    offset: int


class CertificatePublic(BaseModel):
    id: int
    root_id: int
    parent_id: int = Field(description="0 for a root certificate")
    issuer_id: int
    holder_id: int
    value: str = Field(description="live value, decimal string with 2 fraction digits")
    locked: str = Field(description="value escrowed for financing")
    redeemed_value: str
    maturity: date = Field(description="maturity day: the certificate matures 00:00 UTC")


class CertificateList(BaseModel):
    items: list[CertificatePublic]
    total: int
    limit: int
    offset: int


class LineageNode(CertificatePublic):
    children: list[LineageNode] = []


class InvoicePublic(BaseModel):
    key: str = Field(description="keccak256(abi.encode(seller credit-code hash, code, number))")
    invoice_code: str | None = Field(
        description="发票代码 the key was derived from; empty for a fully digital e-invoice"
    )
    invoice_number: str | None = Field(description="发票号码 the key was derived from")
    seller_id: int
    buyer_id: int
    amount: str
    issue_date: date
    due_date: date
    document_hash: str
    status: str
    certificate_id: int | None


class InvoiceList(BaseModel):
    items: list[InvoicePublic]
    total: int
    limit: int
    offset: int


Hash32 = Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$", description="32 bytes, 0x-hex")]
Amount = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,16}(\.[0-9]{1,2})?$", description='decimal, e.g. "125000.50"'),
]


class InvoiceCreate(BaseModel):
    seller_credit_code: str | None = Field(
        default=None,
        min_length=18,
        max_length=64,
        description="optional: the caller's own unified social credit code (the ledger uses "
        "the one the caller was admitted with; any other is refused)",
    )
    invoice_code: str = Field(
        default="",
        max_length=64,
        description="发票代码: 10 or 12 digits for a VAT invoice; empty for a fully digital "
        "e-invoice (数电发票)",
        examples=["4403123400"],
    )
    invoice_number: str = Field(
        max_length=64,
        description="发票号码: 8 digits for a VAT invoice, 20 for a fully digital e-invoice",
        examples=["00000001"],
    )
    buyer_id: Id
    amount: Amount
    issue_date: date = Field(description="not later than today; the due date comes after it")
    due_date: date = Field(description="within the maximum tenor (governance, default 365 days)")
    document_hash: Hash32 = Field(
        description="hash of the invoice document stored with POST /v1/documents, readable "
        "by the caller"
    )


class InvoiceDispute(BaseModel):
    reason_hash: Hash32


class CertificateCreate(BaseModel):
    holder_id: Annotated[
        int,
        Strict(),
        Field(ge=1, le=MAX_ID, description="the supplier the certificate is issued to"),
    ]
    face_value: Amount
    maturity: date = Field(description="maturity day; the certificate matures 00:00 UTC")
    credit_line_id: Id
    invoice_keys: list[Hash32] = Field(min_length=1, max_length=32)


class TransferCreate(BaseModel):
    to_member_id: Id
    amount: Amount


class CreditLineCreate(BaseModel):
    borrower_id: Annotated[int, Strict(), Field(ge=1, le=MAX_ID, description="a core enterprise")]
    limit: Amount
    expires_on: date = Field(description="no draws from 00:00 UTC of this day")


class CreditLinePublic(BaseModel):
    id: int
    financier_id: int
    borrower_id: int
    limit: str
    used: str
    available: str
    expires_at: date = Field(description="expiry day: no draws from 00:00 UTC of this day")
    status: str


class CreditLineList(BaseModel):
    items: list[CreditLinePublic]
    total: int
    limit: int
    offset: int


class MintCreate(BaseModel):
    to_member_id: Id
    amount: Amount
    bank_reference: Hash32 = Field(description="hash of the off-chain deposit record")


class BurnCreate(BaseModel):
    amount: Amount
    bank_reference: Hash32


class SettlementTransferCreate(BaseModel):
    to_member_id: Id
    amount: Amount


class Balance(BaseModel):
    member_id: int
    account: str
    balance: str


class Issuance(BaseModel):
    """A financier's settlement-token issuance against its governance cap."""

    member_id: int
    outstanding: str = Field(description="minted minus burned (not below zero), CNY")
    cap: str = Field(
        description="the most it may have outstanding: its own cap, set by a set_issuance_cap "
        "proposal, or else the consortium-wide ISSUANCE_CAP parameter"
    )
    available: str = Field(description="what it may still mint now: cap minus outstanding")
    own_cap: bool = Field(description="true once the committee set this financier's own cap")


RateBps = Annotated[int, Field(ge=0, le=10_000, description="annual rate, basis points")]


class FinancingCreate(BaseModel):
    certificate_id: Id
    financier_id: Id
    amount: Amount
    max_rate_bps: RateBps = Field(
        description="the highest annual discount rate you accept (basis points): the "
        "financier cannot approve at a worse rate; see GET /v1/financing-requests/quote"
    )
    agreement_hash: Hash32 = Field(
        description="hash of the financing agreement stored with POST /v1/documents, with "
        "the financier as a party"
    )
    expires_at: datetime = Field(
        description="your deadline: approval only before this time (ISO 8601)"
    )


class FinancingApprove(BaseModel):
    rate_bps: RateBps = Field(description="annual discount rate, at most the request's terms")
    agreement_hash: Hash32 = Field(
        description="the agreement you approve under: the request's own agreement_hash"
    )


class FinancingQuote(BaseModel):
    """The price of ``amount`` at ``rate_bps`` with ``days`` to maturity, as the ledger
    computes it on approval (ACT/365, discount rounded up to the fen)."""

    amount: str
    rate_bps: int
    maturity: date = Field(description="maturity day: 00:00 UTC")
    quoted_at: UtcDateTime = Field(description="the ledger time the quote is for")
    days: int = Field(description="whole days from quoted_at to maturity, a started day counts")
    discount: str
    price: str = Field(
        description="paid on an approval at this rate now; later approvals at the same rate "
        "pay at least this much (fewer days)"
    )


class FinancingReject(BaseModel):
    reason_hash: Hash32


class FinancingPublic(BaseModel):
    id: int
    certificate_id: int
    requester_id: int
    financier_id: int
    amount: str
    max_rate_bps: int | None = Field(description="the highest rate the requester accepts")
    agreement_hash: str
    expires_at: UtcDateTime = Field(description="approval only before this instant")
    status: str
    rate_bps: int | None
    price: str | None
    financed_certificate_id: int | None


class FinancingList(BaseModel):
    items: list[FinancingPublic]
    total: int
    limit: int
    offset: int


class RepaymentCreate(BaseModel):
    root_id: Id


class Redemption(BaseModel):
    certificate_id: int
    amount: str
    transaction_hash: str


class RootPublic(CertificatePublic):
    """A root certificate as ``GET /v1/certificates/{id}`` shows it, with how its issuer
    stands with repayment."""

    face_value: str
    repaid: bool = Field(description="the issuer repaid the face value")
    overdue: bool = Field(description="marked overdue on the ledger (`RootOverdue`)")


class OperationAccepted(BaseModel):
    """The answer to a POST with ``?wait=false``: follow it at ``/v1/operations/{id}``."""

    operation_id: str
    status: Literal["pending"] = "pending"


class OperationPublic(BaseModel):
    operation_id: str
    status: Literal["pending", "succeeded", "failed"]
    method: str
    path: str
    created_at: UtcDateTime
    completed_at: UtcDateTime | None
    status_code: int | None = Field(description="the write's HTTP status, once done")
    body: Any = Field(None, description="the write's response body (JSON), once done")


class ProcessPublic(BaseModel):
    """One child process of the node."""

    name: str = Field(description="ledger or read_replica")
    state: Literal["running", "restarting"]
    pid: int | None = Field(description="its process id while it runs")
    restarts: int = Field(description="times the node started it again since the node started")
    last_exit_code: int | None = Field(
        description="how it ended last (negative: the signal that ended it)"
    )
    down_since: UtcDateTime | None = Field(description="when it ended, while it is down")


class HealthPublic(BaseModel):
    status: Literal["ok"]
    chain_id: int
    head_block: int
    head_time: UtcDateTime = Field(description="the head block's timestamp")
    processes: list[ProcessPublic] = Field(
        default=[], description="the node's child processes, as its supervisor sees them"
    )
    dev_mode: bool = Field(
        default=False,
        description="started with --dev: the faucet key is public and exempt from "
        "permissioning, evm_snapshot/evm_revert are open on the JSON-RPC",
    )


PathId = Annotated[int, CanonicalInt, FastApiPath(ge=1, le=MAX_ID)]
