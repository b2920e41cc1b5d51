"""The operations table as the idempotency middleware uses it: claim a key, keep an
answer (sealed where it carries a secret), read it back."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.idempotency.asgi import UNKEPT_HEADERS, Captured
from api.idempotency.encrypted_answers import (
    associated_data,
    is_sealed_with_node_key,
    seal,
    seal_with_node_key,
    unseal,
    unseal_with_node_key,
)
from api.idempotency.posts import KeptPost
from api.readmodel.database import engine_of
from api.readmodel.models import OperationRequestRow, OperationRow, table_of
from api.services.documents import DocumentVault

# Operation states as stored in ``OperationRow.state``.
STATE_PENDING, STATE_SUCCEEDED, STATE_FAILED = "pending", "succeeded", "failed"


def stored_response(row: OperationRow, key: str | None, vault: DocumentVault | None) -> Captured:
    """The response kept in ``row``, its sealed body opened: with ``key`` (the client's
    Idempotency-Key) or with ``vault`` (the node's data key), as it was sealed."""
    headers = [(str(n), str(v)) for n, v in json.loads(row.response_headers or "[]")]
    status = row.status_code or 500
    return Captured(status, headers, stored_body(row, key, vault))


def stored_body(row: OperationRow, key: str | None, vault: DocumentVault | None) -> bytes:
    text = row.response_body or ""
    if not row.response_sealed:
        return text.encode()
    context = associated_data(row.id, row.request_fingerprint, row.status_code or 500)
    if is_sealed_with_node_key(text):
        return unseal_with_node_key(vault, context, text)
    return unseal(key or "", context, text)


def find_operation(session: Session, request: KeptPost) -> OperationRow | None:
    member = (
        OperationRow.member_id.is_(None)
        if request.member_id is None
        else OperationRow.member_id == request.member_id
    )
    return session.scalars(
        select(OperationRow).where(member, OperationRow.idempotency_key == request.stored_key)
    ).one_or_none()


def new_values(request: KeptPost) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "member_id": request.member_id,
        "idempotency_key": request.stored_key,
        "method": "POST",
        "path": request.path[:512],
        "request_fingerprint": request.fingerprint,
        "state": STATE_PENDING,
        "response_sealed": request.sealed or request.secret_answer,
        "created_at": int(time.time()),
    }


def new_row(request: KeptPost) -> OperationRow:
    return OperationRow(**new_values(request))


def store_answer(
    sessions: sessionmaker[Session],
    operation_id: str,
    captured: Captured,
    request: KeptPost,
    vault: DocumentVault | None,
    *,
    kept_request: bool = False,
) -> None:
    """Keep the answer in one statement; an anonymous request's is sealed under its key, a
    member's that carries a secret with the node's data key. ``kept_request``: the
    operation ran from its kept request (``api.idempotency.kept_requests``), which goes in
    the same transaction."""
    headers = [(n, v) for n, v in captured.headers if n.lower() not in UNKEPT_HEADERS]
    context = associated_data(operation_id, request.fingerprint, captured.status)
    if request.sealed:
        assert request.key is not None, "a sealed operation runs with its key"
        body = seal(request.key, context, captured.body)
    elif request.secret_answer:
        assert vault is not None, "a route that answers a secret needs the node's data key"
        body = seal_with_node_key(vault, context, captured.body)
    else:  # JSON text; an undecodable byte becomes U+FFFD rather than a 500
        body = captured.body.decode("utf-8", "replace")
    with engine_of(sessions).begin() as connection:
        connection.execute(
            _STORE_ANSWER,
            {
                "operation_id": operation_id,
                "state": STATE_SUCCEEDED if captured.status < 400 else STATE_FAILED,
                "status_code": captured.status,
                "response_body": body,
                "response_headers": json.dumps(headers),
                "completed_at": int(time.time()),
            },
        )
        if kept_request:
            connection.execute(FORGET_REQUEST, {"operation_id": operation_id})


# Built once, parameters bound per request: every write runs both, and building the
# statement (or going through the ORM) cost more than executing it.
_OPERATIONS = table_of(OperationRow)
_REQUESTS = table_of(OperationRequestRow)
CLAIM = insert(_OPERATIONS)
FORGET_REQUEST = delete(_REQUESTS).where(_REQUESTS.c.operation_id == bindparam("operation_id"))
_STORE_ANSWER = update(_OPERATIONS).where(_OPERATIONS.c.id == bindparam("operation_id"))


def retryable(row: OperationRow) -> bool:
    """A 5xx says the platform failed, not the request: the next retry runs it again."""
    return row.state == STATE_FAILED and (row.status_code or 500) >= 500
