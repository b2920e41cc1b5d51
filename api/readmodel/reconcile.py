"""Compare the read model with chain state; an empty list means they agree.

The comparison reads the contracts at one block — the indexer's cursor — so a node
that keeps writing while this runs does not show up as differences: the read model
is checked against the chain exactly as far as it claims to have followed it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.readmodel.exposures import exposure_differences
from api.readmodel.models import (
    CertificateRow,
    CreditLineRow,
    FinancingRequestRow,
    IndexerCursor,
    InvoiceRow,
    MemberRow,
    RootRow,
)
from api.wire import bytes32
from chain.deploy import Consortium
from chain.scf import (
    Block,
    MemberStatus,
    get_certificate,
    get_credit_line,
    get_invoice,
    get_member,
    get_request,
    get_root,
)

MEMBER_STATUS = {MemberStatus.ACTIVE: "active", MemberStatus.SUSPENDED: "suspended"}


def indexed_block(session: Session) -> int | None:
    """The block the read model has applied completely, or None before its first pass."""
    cursor = session.scalars(select(IndexerCursor).order_by(IndexerCursor.id)).first()
    return None if cursor is None else cursor.block_number


def reconcile(session: Session, consortium: Consortium, block: Block | None = None) -> list[str]:
    """Differences between SQL rows and the contracts' state at ``block`` (default: the
    indexer's cursor), one readable line each."""
    at: Block = block if block is not None else (indexed_block(session) or "latest")
    problems: list[str] = []

    def count(what: str, model: type[Any], on_chain: int) -> None:
        in_sql = session.scalar(select(func.count()).select_from(model)) or 0
        if on_chain != in_sql:
            problems.append(f"{what}: {on_chain} on chain, {in_sql} in the read model")

    def check(what: str, fields: str, on_chain: tuple[Any, ...], in_sql: tuple[Any, ...]) -> None:
        if on_chain != in_sql:
            problems.append(f"{what}: chain has ({fields})={on_chain}, read model has {in_sql}")

    count("members", MemberRow, int(consortium.members.call("memberCount", block=at)))
    for member in session.scalars(select(MemberRow)):
        on_chain = get_member(consortium, member.id, at)
        status = MEMBER_STATUS.get(on_chain.status, "unknown")
        check(
            f"member {member.id}",
            "status, roles",
            (status, on_chain.roles),
            (member.status, member.roles),
        )

    certificates = int(consortium.certificates.call("certificateCount", block=at))
    count("certificates", CertificateRow, certificates)
    for cert in session.scalars(select(CertificateRow)):
        c = get_certificate(consortium, cert.id, at)
        check(
            f"certificate {cert.id}",
            "holder, value, locked, redeemed, root, parent",
            (c.holder_id, c.value, c.locked, c.redeemed_value, c.root_id, c.parent_id),
            (
                cert.holder_id,
                cert.value,
                cert.locked,
                cert.redeemed_value,
                cert.root_id,
                cert.parent_id,
            ),
        )
    problems.extend(exposure_differences(session))
    for root_row in session.scalars(select(RootRow)):
        root = get_root(consortium, root_row.id, at)
        check(
            f"root {root_row.id}",
            "face value, redeemed, repaid",
            (root.face_value, root.redeemed_value, root.repaid_at > 0),
            (root_row.face_value, root_row.redeemed_value, root_row.repaid),
        )
    for invoice_row in session.scalars(select(InvoiceRow)):
        invoice = get_invoice(consortium, bytes32(invoice_row.key), at)
        check(
            f"invoice {invoice_row.key}",
            "status, amount, certificate",
            (invoice.status.name.lower(), invoice.amount, invoice.certificate_id or None),
            (invoice_row.status, invoice_row.amount, invoice_row.certificate_id),
        )
    for line_row in session.scalars(select(CreditLineRow)):
        line = get_credit_line(consortium, line_row.id, at)
        check(
            f"credit line {line_row.id}",
            "status, limit, used",
            (line.status.name.lower(), line.limit, line.used),
            (line_row.status, line_row.limit, line_row.used),
        )
    for request_row in session.scalars(select(FinancingRequestRow)):
        request = get_request(consortium, request_row.id, at)
        check(
            f"financing request {request_row.id}",
            "status, amount, price",
            (request.status.name.lower(), request.amount, request.price or None),
            (request_row.status, request_row.amount, request_row.price),
        )
    return problems
