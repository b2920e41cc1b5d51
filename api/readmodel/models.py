"""Tables of the read model. Amounts are integer minor units (fen); hashes 0x-hex."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class IndexerCursor(Base):
    """The last event applied: the indexer resumes right after it."""

    __tablename__ = "indexer_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)


class ChainEventRow(Base):
    """Every consortium event, once: the primary key makes re-applying a no-op."""

    __tablename__ = "chain_events"
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), index=True)
    transaction_hash: Mapped[str] = mapped_column(String(66))
    args_json: Mapped[str] = mapped_column(Text)


class MemberRow(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    credit_code_hash: Mapped[str] = mapped_column(String(66), unique=True)
    roles: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    admitted_block: Mapped[int] = mapped_column(BigInteger)


class MemberAccountRow(Base):
    __tablename__ = "member_accounts"
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)


class InvoiceRow(Base):
    __tablename__ = "invoices"
    key: Mapped[str] = mapped_column(String(66), primary_key=True)
    seller_id: Mapped[int] = mapped_column(BigInteger, index=True)
    buyer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    issue_date: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[int] = mapped_column(BigInteger)
    document_hash: Mapped[str] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CreditLineRow(Base):
    __tablename__ = "credit_lines"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    financier_id: Mapped[int] = mapped_column(BigInteger, index=True)
    borrower_id: Mapped[int] = mapped_column(BigInteger, index=True)
    limit: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))


class CertificateRow(Base):
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root_id: Mapped[int] = mapped_column(BigInteger, index=True)
    parent_id: Mapped[int] = mapped_column(BigInteger, index=True)
    issuer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, index=True)
    value: Mapped[int] = mapped_column(BigInteger)
    locked: Mapped[int] = mapped_column(BigInteger)
    redeemed_value: Mapped[int] = mapped_column(BigInteger)
    maturity: Mapped[int] = mapped_column(BigInteger)
    created_block: Mapped[int] = mapped_column(BigInteger)


class RootRow(Base):
    __tablename__ = "certificate_roots"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    line_id: Mapped[int] = mapped_column(BigInteger)
    face_value: Mapped[int] = mapped_column(BigInteger)
    redeemed_value: Mapped[int] = mapped_column(BigInteger)
    maturity: Mapped[int] = mapped_column(BigInteger)
    repaid: Mapped[bool] = mapped_column(default=False)
    overdue: Mapped[bool] = mapped_column(default=False)


class FinancingRequestRow(Base):
    __tablename__ = "financing_requests"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(BigInteger, index=True)
    requester_id: Mapped[int] = mapped_column(BigInteger, index=True)
    financier_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    agreement_hash: Mapped[str] = mapped_column(String(66))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    rate_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    financed_certificate_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiKeyRow(Base):
    """An API key, stored only as its SHA-256; the key itself is shown once."""

    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
