"""Response bodies of ``/v1/risk``. Amounts are decimal strings; days and instants ISO 8601, UTC."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime


class CoreExposurePublic(BaseModel):
    member_id: int
    name: str
    outstanding: str = Field(description="live value of its certificates not yet repaid")
    live_certificates: int
    repaid_unredeemed: str = Field(description="repaid, waiting for holders to redeem")
    credit_limit: str = Field(description="limits of its open credit lines")
    credit_used: str = Field(description="drawn on its credit lines and not restored")
    credit_available: str


class HoldingPublic(BaseModel):
    issuer_id: int
    value: str = Field(description="outstanding value held of this core enterprise's paper")


class FinancierExposurePublic(BaseModel):
    member_id: int
    name: str
    holdings: list[HoldingPublic]
    holdings_total: str
    credit_granted: str = Field(description="limits of the open lines it granted")
    credit_used: str = Field(description="drawn on the lines it granted")


class ExposureReport(BaseModel):
    as_of: UtcDateTime = Field(description="the ledger head's time")
    core_enterprises: list[CoreExposurePublic]
    financiers: list[FinancierExposurePublic]


class BucketTotal(BaseModel):
    bucket: str
    certificates: int
    value: str


class AgedCertificatePublic(BaseModel):
    certificate_id: int
    root_id: int
    issuer_id: int
    holder_id: int
    value: str
    maturity: date = Field(description="maturity day (00:00 UTC)")
    days_past_maturity: int = Field(description="negative: days until maturity")
    bucket: str
    repaid: bool = Field(description="the issuer has repaid the root")
    overdue: bool = Field(description="the ledger marked the root overdue (after grace)")


class AgingReport(BaseModel):
    as_of: UtcDateTime = Field(description="the ledger head's time")
    buckets: list[BucketTotal] = Field(description="every bucket, over all your certificates")
    items: list[AgedCertificatePublic]
    total: int
    limit: int
    offset: int


class AlertPublic(BaseModel):
    id: int
    kind: str
    severity: str = Field(description="'high' or 'medium'")
    member_id: int | None = Field(description="the member the alert is about")
    subject: str
    details: dict[str, Any]
    created_at: UtcDateTime = Field(description="when it was raised")
    cleared_at: UtcDateTime | None = Field(
        description="when its condition ended (concentration fell back, overdue root repaid); "
        "null while it holds, and for kinds that are facts"
    )
    event_id: str | None = Field(
        description="its id in GET /v1/events and webhooks (event 'RiskAlert'); null for "
        "alerts raised before alerts were streamed"
    )
    transaction_hash: str | None = Field(
        description="the transaction whose event raised it; null when a refused request did"
    )


class AlertList(BaseModel):
    items: list[AlertPublic]
    total: int
    limit: int
    offset: int
