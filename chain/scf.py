"""Typed reads of the supply-chain-finance contracts.

Writes go through ``ContractHandle.transact(signer, "<solidityName>", ...)``,
whose names are checked against the ABI. Reads of structs come back here as
frozen dataclasses whose fields mirror the Solidity structs in snake_case
(a test compares them with the ABIs), filled by field name, and status enums
mirror Solidity's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, TypeVar

from chain.deploy import Consortium


class MemberStatus(IntEnum):
    """Mirror of ``IMemberRegistry.MemberStatus``."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class InvoiceStatus(IntEnum):
    """Mirror of ``IInvoiceRegistry.InvoiceStatus``."""

    NONE = 0
    REGISTERED = 1
    CONFIRMED = 2
    ASSIGNED = 3
    DISPUTED = 4
    CANCELLED = 5


class CreditLineStatus(IntEnum):
    """Mirror of ``ICreditLines.CreditLineStatus``."""

    NONE = 0
    OPEN = 1
    CLOSED = 2


class FinancingStatus(IntEnum):
    """Mirror of ``IFinancingHub.FinancingStatus``."""

    NONE = 0
    PENDING = 1
    APPROVED = 2
    REJECTED = 3
    CANCELLED = 4
    EXPIRED = 5


@dataclass(frozen=True)
class Member:
    """``IMemberRegistry.Member``."""

    id: int
    name: str
    credit_code_hash: bytes
    certificate_fingerprint: bytes
    status: MemberStatus
    roles: int  # bit mask of ROLE_* bits
    admitted_at: int
    account_count: int


@dataclass(frozen=True)
class Invoice:
    """``IInvoiceRegistry.Invoice``."""

    key: bytes
    seller_id: int
    buyer_id: int
    amount: int
    issue_date: int
    due_date: int
    document_hash: bytes
    status: InvoiceStatus
    certificate_id: int


@dataclass(frozen=True)
class CreditLine:
    """``ICreditLines.CreditLine``."""

    id: int
    financier_id: int
    borrower_id: int
    limit: int
    used: int
    expires_at: int
    granted_at: int
    status: CreditLineStatus


@dataclass(frozen=True)
class Certificate:
    """``ICreditCertificates.Certificate``."""

    id: int
    root_id: int
    parent_id: int
    issuer_id: int
    holder_id: int
    value: int
    locked: int
    redeemed_value: int
    maturity: int
    created_at: int
    redeemed_at: int
    depth: int
    child_count: int


@dataclass(frozen=True)
class Root:
    """``ICreditCertificates.Root``."""

    id: int
    issuer_id: int
    line_id: int
    face_value: int
    redeemed_value: int
    maturity: int
    issued_at: int
    repaid_at: int


@dataclass(frozen=True)
class FinancingRequest:
    """``IFinancingHub.FinancingRequest``."""

    id: int
    certificate_id: int
    requester_id: int
    requester_account: str
    financier_id: int
    amount: int
    max_rate_bps: int
    agreement_hash: bytes
    created_at: int
    expires_at: int
    status: FinancingStatus
    rate_bps: int
    price: int
    financed_certificate_id: int
    closed_at: int


_Record = TypeVar("_Record")
Block = int | str  # a block number, or "latest"


def snake_case(name: str) -> str:
    """``creditCodeHash`` -> ``credit_code_hash``: a Solidity field's name in Python."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _record(cls: type[_Record], struct: Mapping[str, Any]) -> _Record:
    """``cls`` from a struct read by field name (``ContractHandle.call_struct``)."""
    by_name = {snake_case(name): value for name, value in struct.items()}
    record = cls(**{f.name: by_name[f.name] for f in fields(cls)})  # type: ignore[arg-type]
    for name, kind in ((n, t) for n, t in cls.__annotations__.items() if t.endswith("Status")):
        object.__setattr__(record, name, globals()[kind](getattr(record, name)))
    return record


def get_member(consortium: Consortium, member_id: int, block: Block = "latest") -> Member:
    """Member ``member_id``; reverts ``MemberNotFound`` when there is none."""
    return _record(Member, consortium.members.call_struct("getMember", member_id, block=block))


def get_invoice(consortium: Consortium, key: bytes, block: Block = "latest") -> Invoice:
    return _record(Invoice, consortium.invoices.call_struct("getInvoice", key, block=block))


def get_credit_line(consortium: Consortium, line_id: int, block: Block = "latest") -> CreditLine:
    return _record(
        CreditLine, consortium.credit_lines.call_struct("getCreditLine", line_id, block=block)
    )


def get_certificate(
    consortium: Consortium, certificate_id: int, block: Block = "latest"
) -> Certificate:
    values = consortium.certificates.call_struct("getCertificate", certificate_id, block=block)
    return _record(Certificate, values)


def get_root(consortium: Consortium, root_id: int, block: Block = "latest") -> Root:
    return _record(Root, consortium.certificates.call_struct("getRoot", root_id, block=block))


def get_request(
    consortium: Consortium, request_id: int, block: Block = "latest"
) -> FinancingRequest:
    values = consortium.financing.call_struct("getRequest", request_id, block=block)
    return _record(FinancingRequest, values)


def lineage(consortium: Consortium, certificate_id: int) -> list[Certificate]:
    """The path from the root down to ``certificate_id`` (穿透式追溯), read from chain state."""
    path = [get_certificate(consortium, certificate_id)]
    while path[-1].parent_id:
        path.append(get_certificate(consortium, path[-1].parent_id))
    return path[::-1]
