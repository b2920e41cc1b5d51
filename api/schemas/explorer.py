"""The explorer's answers: blocks, decoded transactions, nodes, search matches."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime


class BlockPublic(BaseModel):
    number: int
    hash: str
    parent_hash: str
    timestamp: UtcDateTime
    transaction_count: int
    gas_used: int


class BlockList(BaseModel):
    head: int = Field(description="the ledger's newest block")
    items: list[BlockPublic] = Field(description="newest first")


class EventDecoded(BaseModel):
    log_index: int
    contract: str
    name: str
    args: dict[str, Any]


class TransactionPublic(BaseModel):
    hash: str
    block_number: int
    transaction_index: int
    sender: str = Field(description="the signing account")
    sender_member_id: int | None = Field(description="the member the account is bound to")
    to: str | None
    status: Literal["succeeded", "failed", "pending"]
    gas_used: int | None
    contract: str | None = Field(description="the consortium contract called, by name")
    function: str | None = Field(description="the function called, decoded from the input")
    args: dict[str, Any] = Field(description="its arguments by name")
    events: list[EventDecoded] = Field(description="the consortium's events it emitted")


class BlockDetail(BlockPublic):
    transactions: list[TransactionPublic] = Field(description="a page of them, in block order")
    limit: int
    offset: int


class NodePublic(BaseModel):
    id: str
    owner_member_id: int
    endpoint: str
    allowed: bool = Field(description="false once the committee removed it")
    added_at: UtcDateTime
    public_key: str


class NodeList(BaseModel):
    items: list[NodePublic]


class SearchMatchPublic(BaseModel):
    kind: Literal["block", "transaction", "member"]
    ref: str = Field(description="a block's number, a transaction's hash, a member's id")


class SearchAnswer(BaseModel):
    query: str
    matches: list[SearchMatchPublic]
