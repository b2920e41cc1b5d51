"""Request and response bodies (``XCreate`` / ``XPublic`` / ``XList``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path as FastApiPath
from pydantic import AfterValidator, BaseModel, Field

# Ids are positive and fit a signed 64-bit SQL integer.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


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
    key: str
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
    seller_credit_code: str = Field(
        min_length=18, max_length=64, description="the caller's unified social credit code"
    )
    invoice_code: str = Field(default="", max_length=64)
    invoice_number: str = Field(min_length=1, max_length=64)
    buyer_id: Id
    amount: Amount
    issue_date: date
    due_date: date
    document_hash: Hash32


class InvoiceDispute(BaseModel):
    reason_hash: Hash32


class CertificateCreate(BaseModel):
    holder_id: Annotated[
        int, Field(ge=1, le=MAX_ID, description="the supplier the certificate is issued to")
    ]
    face_value: Amount
    maturity: date = Field(description="maturity day; the certificate matures 00:00 UTC")
    credit_line_id: Id
    invoice_keys: list[Hash32] = Field(min_length=1, max_length=32)


class TransferCreate(BaseModel):
    to_member_id: Id
    amount: Amount


class CreditLineCreate(BaseModel):
    borrower_id: Annotated[int, Field(ge=1, le=MAX_ID, description="a core enterprise")]
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


class FinancingCreate(BaseModel):
    certificate_id: Id
    financier_id: Id
    amount: Amount
    agreement_hash: Hash32
    expires_at: datetime = Field(description="approval only before this time (ISO 8601)")


class FinancingApprove(BaseModel):
    rate_bps: int = Field(ge=0, le=10_000, description="annual discount rate, basis points")


class FinancingReject(BaseModel):
    reason_hash: Hash32


class FinancingPublic(BaseModel):
    id: int
    certificate_id: int
    requester_id: int
    financier_id: int
    amount: str
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


class HealthPublic(BaseModel):
    status: Literal["ok"]
    chain_id: int
    head_block: int
    head_time: UtcDateTime = Field(description="the head block's timestamp")


PathId = Annotated[int, FastApiPath(ge=1, le=MAX_ID)]
