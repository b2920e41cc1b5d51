"""Credit lines a financier grants a core enterprise."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, Strict

from api.schemas.common import MAX_ID, Amount


class CreditLineCreate(BaseModel):
    borrower_id: Annotated[int, Strict(), Field(ge=1, le=MAX_ID, description="a core enterprise")]
    limit: Amount
    expires_on: date = Field(description="no draws from 00:00 UTC of this day")


class CreditLinePublic(BaseModel):
    id: int
    financier_id: int
    borrower_id: int
    limit: str
    used: str
    available: str
    expires_at: date = Field(description="expiry day: no draws from 00:00 UTC of this day")
    status: str


class CreditLineList(BaseModel):
    items: list[CreditLinePublic]
    total: int
    limit: int
    offset: int
