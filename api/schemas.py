"""Request and response bodies (``XCreate`` / ``XPublic`` / ``XList``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

ROLE_NAMES = {1: "CORE_ENTERPRISE", 2: "SUPPLIER", 4: "FINANCIER", 8: "AUDITOR"}


def role_names(mask: int) -> list[str]:
    return [name for bit, name in ROLE_NAMES.items() if mask & bit]


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
