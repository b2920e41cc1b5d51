"""The settlement token: mint, burn, transfer, balances and issuance caps."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import Amount, Hash32, Id


class MintCreate(BaseModel):
    to_member_id: Id
    amount: Amount
    bank_reference: Hash32 = Field(description="hash of the off-chain deposit record")


class BurnCreate(BaseModel):
    amount: Amount
    bank_reference: Hash32


class SettlementTransferCreate(BaseModel):
    to_member_id: Id
    amount: Amount


class Balance(BaseModel):
    member_id: int
    account: str
    balance: str


class Issuance(BaseModel):
    """A financier's settlement-token issuance against its governance cap."""

    member_id: int
    outstanding: str = Field(description="minted minus burned (not below zero), CNY")
    cap: str = Field(
        description="the most it may have outstanding: its own cap, set by a set_issuance_cap "
        "proposal, or else the consortium-wide ISSUANCE_CAP parameter"
    )
    available: str = Field(description="what it may still mint now: cap minus outstanding")
    own_cap: bool = Field(description="true once the committee set this financier's own cap")
