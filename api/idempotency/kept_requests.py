"""Requests of operations accepted with ``?wait=false``, kept until their answer is
(``operation_requests``): what the operations worker (``api.idempotency.worker``) runs,
and runs again after a restart.

A kept request holds no credentials: the API key only as its SHA-256 and the client
certificate (public), so that the run authenticates again (a member suspended or a key
revoked meanwhile is refused then). Its body is sealed with the node's data key where the
node has one (a document upload is as private as the document)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope

from api.authentication import Authenticator, KeptCredentials
from api.idempotency.encrypted_answers import (
    associated_data,
    seal_with_node_key,
    unseal_with_node_key,
)
from api.idempotency.posts import KeptPost
from api.idempotency.store import FORGET_REQUEST, STATE_PENDING, new_row
from api.readmodel.models import OperationRequestRow, OperationRow, table_of
from api.services.documents import DocumentVault

# never kept: the credentials (the run authenticates with ``KeptCredentials``)
UNKEPT_REQUEST_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
_REQUEST_CONTEXT = 0  # associated data of a sealed body: no answer has status 0


@dataclass(frozen=True)
class KeptRequest:
    """An operation's request as kept, and whether the operation still waits for it."""

    operation_id: str
    post: KeptPost
    pending: bool
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    credentials: KeptCredentials

    def scope(self, app: Any) -> Scope:
        """The request as the routes get it, to run on ``app`` (no connection is open)."""
        headers = list(self.headers)
        if self.post.key is None:
            # the writer keys the ledger transactions by it: a run again after a restart
            # finds the transaction it sent before rather than sending a second one
            headers.append((b"idempotency-key", operation_key(self.operation_id).encode()))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.post.path,
            "raw_path": self.post.path.encode(),
            "root_path": "",
            "query_string": self.query_string,
            "headers": headers,
            "client": None,
            "server": None,
            "app": app,
            "state": {},
            "extensions": {},
        }
        Authenticator.kept(scope, self.credentials)
        return scope


def operation_key(operation_id: str) -> str:
    """The Idempotency-Key an operation accepted without one runs under."""
    return f"operation:{operation_id}"


def request_values(
    operation_id: str,
    fingerprint: str,
    scope: Scope,
    body: bytes,
    vault: DocumentVault | None,
) -> dict[str, Any]:
    """The ``operation_requests`` row of a request about to be accepted."""
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in scope["headers"]
        if name.lower() not in UNKEPT_REQUEST_HEADERS
    ]
    if vault is not None:
        context = associated_data(operation_id, fingerprint, _REQUEST_CONTEXT)
        stored, sealed = seal_with_node_key(vault, context, body), True
    else:
        stored, sealed = base64.b64encode(body).decode("ascii"), False
    credentials = Authenticator.credentials_of(scope)
    return {
        "operation_id": operation_id,
        "query_string": scope["query_string"].decode("latin-1"),
        "headers": json.dumps(headers),
        "body": stored,
        "body_sealed": sealed,
        "api_key_hash": credentials.api_key_hash,
        "client_certificate": credentials.client_certificate,
    }


def keep_request(sessions: sessionmaker[Session], values: dict[str, Any]) -> None:
    """Keep the request of a claimed operation; one kept for an earlier run of it (an
    operation run again under its key) is replaced."""
    with sessions.begin() as session:
        session.execute(FORGET_REQUEST, {"operation_id": values["operation_id"]})
        session.execute(_KEEP, values)


def accept_unkeyed(
    sessions: sessionmaker[Session],
    request: KeptPost,
    scope: Scope,
    body: bytes,
    vault: DocumentVault | None,
) -> str:
    """Record an operation without an Idempotency-Key and its request, in one
    transaction; its id."""
    with sessions.begin() as session:
        row = new_row(request)
        session.add(row)
        session.flush()
        session.execute(_KEEP, request_values(row.id, request.fingerprint, scope, body, vault))
        return row.id


def resumable(sessions: sessionmaker[Session]) -> list[tuple[str, KeptPost]]:
    """The operations whose kept request still waits to run, oldest first (with their
    ``KeptPost``: their claim on their key); requests of operations done are let go."""
    with sessions.begin() as session:
        rows = session.execute(
            select(OperationRow)
            .join(OperationRequestRow, OperationRequestRow.operation_id == OperationRow.id)
            .order_by(OperationRow.created_at)
        ).scalars()
        waiting: list[OperationRow] = []
        done: list[OperationRow] = []
        for row in rows:
            (waiting if row.state == STATE_PENDING else done).append(row)
        for row in done:
            session.execute(FORGET_REQUEST, {"operation_id": row.id})
        return [(row.id, _post(row)) for row in waiting]


def load_request(
    sessions: sessionmaker[Session], operation_id: str, vault: DocumentVault | None
) -> KeptRequest | None:
    """The kept request of ``operation_id``; None if there is none (any more)."""
    with sessions() as session:
        found = session.execute(
            select(OperationRow, OperationRequestRow)
            .join(OperationRequestRow, OperationRequestRow.operation_id == OperationRow.id)
            .where(OperationRow.id == operation_id)
        ).first()
        if found is None:
            return None
        row, kept = found
        headers: list[tuple[str, str]] = json.loads(kept.headers)
        if kept.body_sealed:
            context = associated_data(row.id, row.request_fingerprint, _REQUEST_CONTEXT)
            body = unseal_with_node_key(vault, context, kept.body)
        else:
            body = base64.b64decode(kept.body)
        return KeptRequest(
            operation_id=row.id,
            post=_post(row),
            pending=row.state == STATE_PENDING,
            query_string=kept.query_string.encode("latin-1"),
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            body=body,
            credentials=KeptCredentials(kept.api_key_hash, kept.client_certificate),
        )


def _post(row: OperationRow) -> KeptPost:
    """The operation as the middleware keeps it (only members' operations are kept)."""
    return KeptPost(
        member_id=row.member_id,
        key=row.idempotency_key,
        wait=False,
        fingerprint=row.request_fingerprint,
        path=row.path,
        secret_answer=row.response_sealed,
    )


_KEEP = insert(table_of(OperationRequestRow))
