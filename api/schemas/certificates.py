"""Credit certificates: issue, transfer, lineage, repayment and redemption."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, Strict

from api.schemas.common import MAX_ID, Amount, Hash32, Id


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


class RepaymentCreate(BaseModel):
    root_id: Id


class Redemption(BaseModel):
    certificate_id: int
    amount: str
    transaction_hash: str


class RootPublic(CertificatePublic):
    """A certificate as ``GET /v1/certificates/{id}`` shows it, with how its root's issuer
    stands with repayment."""

    face_value: str = Field(description="the root's face value: what its issuer repays")
    repaid: bool = Field(description="the issuer repaid the root's face value")
    overdue: bool = Field(description="the root is marked overdue on the ledger (`RootOverdue`)")
