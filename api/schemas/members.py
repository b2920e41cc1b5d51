"""Members as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
