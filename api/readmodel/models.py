"""Tables of the read model. Amounts are integer minor units (fen); hashes 0x-hex."""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """The model's table, for Core statements built once on a hot path."""
    return cast(Table, model.__table__)


# A 64-bit serial key; SQLite only auto-increments a column declared INTEGER.
SerialId = BigInteger().with_variant(Integer(), "sqlite")


class IndexerCursor(Base):
    """The last event applied (row 1): the indexer resumes right after it. Row 2, once a node
    switched to a migration's successors, says up to which block the indexer caught up with
    them (api/readmodel/indexer.py, ``SWITCH_ID``)."""

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
    # the canonical identity the key was derived from (NULL on rows indexed before 0006)
    invoice_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    invoice_number: Mapped[str | None] = mapped_column(String(20), nullable=True)


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
    """A root certificate. ``overdue_alerted``: its ``overdue`` alert is raised (by
    ``RootOverdue``, or by the indexer once chain time passed maturity + grace); the index
    lets each batch find the unpaid roots still to raise without reading the others."""

    __tablename__ = "certificate_roots"
    __table_args__ = (
        Index("ix_certificate_roots_overdue_watch", "repaid", "overdue_alerted", "maturity"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    line_id: Mapped[int] = mapped_column(BigInteger)
    face_value: Mapped[int] = mapped_column(BigInteger)
    redeemed_value: Mapped[int] = mapped_column(BigInteger)
    maturity: Mapped[int] = mapped_column(BigInteger)
    repaid: Mapped[bool] = mapped_column(default=False)
    overdue: Mapped[bool] = mapped_column(default=False)  # the ledger marked it (RootOverdue)
    overdue_alerted: Mapped[bool] = mapped_column(default=False)


class ExposureRow(Base):
    """What a holder holds of an issuer's paper: the value of its live certificates of
    roots not yet repaid, kept by the projections in the transaction of each event that
    changes it. The alert watch reads an issuer's few rows here (its key's prefix) instead
    of summing the issuer's certificates after every batch. A row falls to 0, not away."""

    __tablename__ = "exposures"
    issuer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


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
    # the highest rate the requester accepts (NULL on rows indexed before 0006)
    max_rate_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKeyRow(Base):
    """An API key, stored only as its SHA-256; the key itself is shown once."""

    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# --- off-chain records the API keeps beside the projections --------------------------


class ApplicationRow(Base):
    """An enterprise's application to join: the admission proposal it created and the
    API key (hash only) that starts working once the proposal is executed."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    credit_code: Mapped[str] = mapped_column(String(18))
    credit_code_hash: Mapped[str] = mapped_column(String(66), index=True)
    roles: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str] = mapped_column(Text, default="")
    account: Mapped[str] = mapped_column(String(42), unique=True)
    certificate_fingerprint: Mapped[str | None] = mapped_column(String(66), nullable=True)
    proposal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | admitted | rejected
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class DocumentRow(Base):
    """One member's record of an off-chain document, AES-GCM encrypted at rest; ``hash`` is
    the SHA-256 of the plaintext, the value anchored on chain.

    Each uploader has a record of its own (one per ``owner_id`` and ``hash``): a member that
    uploads bytes another member stored gets its own record, and learns nothing of the
    other's."""

    __tablename__ = "member_documents"
    __table_args__ = (UniqueConstraint("owner_id", "hash"),)
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    hash: Mapped[str] = mapped_column(String(66), index=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(256), default="")
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DocumentPartyRow(Base):
    """A member the owner of a document record shared it with."""

    __tablename__ = "member_document_parties"
    document_id: Mapped[int] = mapped_column(
        SerialId, ForeignKey("member_documents.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class DocumentDeliveryRow(Base):
    """A document record on its way to the node of one of its parties at another
    institution (``api.services.document_exchange``): written in the same transaction as
    the record or its new party, kept until that node took it (``delivered``) or refused it
    for good (``refused``), so nothing is lost on a crash."""

    __tablename__ = "document_deliveries"
    __table_args__ = (UniqueConstraint("document_id", "member_id", "node_id"),)
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        SerialId, ForeignKey("member_documents.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int] = mapped_column(BigInteger)  # the party that node serves
    node_id: Mapped[str] = mapped_column(String(66))  # 0x-hex NodeRegistry id
    url: Mapped[str] = mapped_column(String(512))  # the node's document endpoint
    certificate: Mapped[str] = mapped_column(String(64))  # SHA-256 of its TLS certificate
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending|delivered|refused
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str] = mapped_column(String(512), default="")


class OperationRow(Base):
    """One POST kept for idempotency and asynchronous writes: the request's fingerprint
    and, once done, the exact response it got.

    An anonymous POST (no member: ``member_id`` null) keeps its Idempotency-Key only as a
    SHA-256 and its response body sealed under the key (``response_sealed``)."""

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key"),
        # NULLs are distinct in a unique constraint: anonymous keys need their own index
        Index(
            "uq_operations_anonymous_key",
            "idempotency_key",
            unique=True,
            sqlite_where=text("member_id IS NULL"),
            postgresql_where=text("member_id IS NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_sealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OperationRequestRow(Base):
    """The request of an operation accepted with ``?wait=false``, kept until its answer is:
    what the operations worker runs, and runs again after a restart. Never the
    credentials themselves: the API key only as its SHA-256 (``api_keys.key_hash``)."""

    __tablename__ = "operation_requests"
    operation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    query_string: Mapped[str] = mapped_column(Text)
    headers: Mapped[str] = mapped_column(Text)  # JSON [[name, value], ...]
    body: Mapped[str] = mapped_column(Text)  # sealed with the node's key, else base64
    body_sealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    api_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)  # PEM


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[str] = mapped_column(Text, default="")  # comma-separated, "" = all
    created_at: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebhookOwnerRow(Base):
    """One row per member that registered a webhook. A registration first bumps its
    member's row, which holds a write lock to commit (PostgreSQL: the row's lock; SQLite:
    the database's), so one member's registrations check the limit and the URL one at a
    time, each seeing the others' webhooks."""

    __tablename__ = "webhook_owners"
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    registrations: Mapped[int] = mapped_column(BigInteger, default=0)  # ever made


class WebhookDeliveryRow(Base):
    """One event owed to one webhook: retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "block_number", "log_index"),)
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)
    event_name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebhookCursor(Base):
    """The last chain event fanned out to webhooks."""

    __tablename__ = "webhook_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)


class AlertRow(Base):
    """A risk alert; ``dedupe_key`` makes raising the same finding twice a no-op.

    ``condition`` names what is found (e.g. ``concentration:<issuer>:<holder>``): at most one
    alert of a condition is open (``cleared_at`` null) at a time. An alert raised since 0008
    has a place in the event feed, ``(block_number, log_index)``, right after the events of
    the block it was raised at (``log_index`` from ``api.services.alerts.ALERT_LOG_BASE``)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(BigInteger)  # when raised, unix seconds
    condition: Mapped[str] = mapped_column(String(200), index=True, default="")
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    cleared_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # the transaction whose event raised it (none: a refused request raised it)
    transaction_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class AlertAudienceRow(Base):
    """The members who may see an alert besides auditors (who see every alert)."""

    __tablename__ = "alert_audience"
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


# ---- the member portal (api.portal): its users, their sessions, and who did what -------


class PortalUserRow(Base):
    """A member's staff member who signs in to the portal; created (invited) by the
    member's API key holder. ``role``: viewer, operator (经办) or approver (复核)."""

    __tablename__ = "portal_users"
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    # argon2id with its parameters; None until the user accepts its invitation
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # base32, sealed with the node's data key (api.portal.totp_secrets)
    totp_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # the SHA-256 of the one-time code with which the user sets its password, and its end
    invitation_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    invitation_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PortalSessionRow(Base):
    """A signed-in browser. The cookie carries the token; only its SHA-256 is kept here."""

    __tablename__ = "portal_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PortalAuditRow(Base):
    """Who did what through the portal, or to its users: one row per action, kept."""

    __tablename__ = "portal_audit"
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the API key
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(64))  # "ok" or the refusal's error code
    client: Mapped[str] = mapped_column(String(64))  # the browser's address
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class PortalMemberSettingsRow(Base):
    """A member's portal settings: whether its portal users' money-moving actions wait for
    a second person (maker-checker, 经办/复核). No row: off."""

    __tablename__ = "portal_member_settings"
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    maker_checker: Mapped[bool] = mapped_column(Boolean, server_default=false())
    changed_at: Mapped[int] = mapped_column(BigInteger)
    changed_by: Mapped[str] = mapped_column(String(64))  # "api_key" or "user:<id>"


class PortalPendingActionRow(Base):
    """A money-moving REST call prepared by a maker in the portal, sent only when a
    checker of the same member confirms it: exactly ``method path body`` under
    ``idempotency_key`` (fixed at preparation, so it is sent once however often it is
    confirmed). ``status``: pending, sending, done, refused (by the API), rejected (by
    the checker)."""

    __tablename__ = "portal_pending_actions"
    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # split_transfer, request_financing, ...
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)  # JSON, exactly as it will be sent
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    maker_id: Mapped[int] = mapped_column(Integer)
    prepared_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    checker_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # a rejection's
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # the API's, JSON
