"""Operations: the status and, once done, the stored result of a write (``?wait=false``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.idempotency.store import stored_body
from api.readmodel.models import OperationRow
from api.schemas.operations import OperationPublic
from api.services.container import services_of
from api.services.visibility import NotFound
from api.wire import optional_utc_datetime, utc_datetime

router = APIRouter(
    prefix="/v1/operations",
    tags=["operations"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

OperationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=36,
        pattern="^[0-9a-f-]+$",
        description="the operation id a POST with wait=false answered",
    ),
]


def _body(row: OperationRow, request: Request) -> Any:
    if row.response_body is None:
        return None
    # a member's answer that carries a secret is kept sealed with the node's data key
    text = stored_body(row, None, services_of(request.app).document_vault)
    try:
        return json.loads(text)
    except ValueError:  # every write answers JSON; keep anything else as text
        return text.decode("utf-8", "replace")


def to_public(row: OperationRow, request: Request) -> OperationPublic:
    done = row.state != "pending"
    return OperationPublic(
        operation_id=row.id,
        status=row.state,  # type: ignore[arg-type]  # the column holds only the three states
        method=row.method,
        path=row.path,
        created_at=utc_datetime(row.created_at),
        completed_at=optional_utc_datetime(row.completed_at),
        status_code=row.status_code if done else None,
        body=_body(row, request) if done else None,
    )


@router.get("/{operation_id}", response_model=OperationPublic)
def read_operation(
    operation_id: OperationId, member: CurrentMember, session: SessionDep, request: Request
) -> OperationPublic:
    """A write of the calling member: pending, or succeeded / failed with the status code
    and body it answered. Another member's operation is 404."""
    row = session.get(OperationRow, operation_id)
    if row is None or row.member_id != member.id:
        raise NotFound("operation", operation_id)
    return to_public(row, request)
