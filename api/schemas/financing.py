"""Financing requests: terms, quotes, approval and rejection."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import Amount, Hash32, Id, UtcDateTime

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
