"""Operations: what a POST with ``?wait=false`` is following."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import UtcDateTime


class OperationAccepted(BaseModel):
    """The answer to a POST with ``?wait=false``: follow it at ``/v1/operations/{id}``."""

    operation_id: str
    status: Literal["pending"] = "pending"


class OperationPublic(BaseModel):
    operation_id: str
    status: Literal["pending", "succeeded", "failed"]
    method: str
    path: str
    created_at: UtcDateTime
    completed_at: UtcDateTime | None
    status_code: int | None = Field(description="the write's HTTP status, once done")
    body: Any = Field(None, description="the write's response body (JSON), once done")
