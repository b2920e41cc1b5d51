"""Invoices: registration, dispute and how they are shown."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.common import Amount, Hash32, Id


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
