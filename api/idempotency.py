"""``Idempotency-Key`` and ``?wait=false`` for every authenticated POST, in one place.

An ASGI middleware in front of the routes, so no route repeats any of this:

- A POST with an ``Idempotency-Key`` (scoped to the authenticated member) is recorded
  as an ``OperationRow`` with a fingerprint of the request (method, path, query without
  ``wait``, canonical JSON body) before it runs, and its response (status, body,
  headers such as ``X-Transaction-Hash``) once it is done. The same key and request
  again returns the stored response (header ``Idempotent-Replayed: true``) without
  running anything; the same key with another request is 422 ``idempotency_key_reused``.
- A duplicate that arrives while the first is still running waits for it, up to
  ``DEFAULT_WAIT_SECONDS`` (``app.state.idempotency_wait_seconds``), then gets the
  stored response, or 409 ``request_in_progress`` if the first is still running.
- An operation left ``pending`` by a crashed process, or one that ended in a 5xx, is run
  again by the next request with the same key and body. That cannot send a second
  ledger transaction: the writer keys each transaction in the transaction manager's
  durable store by the same Idempotency-Key, so the re-run finds it there.
- ``?wait=false`` answers 202 ``{"operation_id", "status": "pending"}`` with a
  ``Location`` at ``/v1/operations/{id}`` and runs the request on a background thread;
  its stored response is read there when done.

POSTs without a valid API key pass through untouched (the route answers 401, or
handles anonymous requests itself): there is no member to scope a key to, and a stored
response could carry a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import (
    UNKEPT_HEADERS,
    Captured,
    body_then_disconnect,
    capture,
    read_body,
    replaying,
)
from api.errors import error_json
from api.readmodel.models import OperationRow
from api.schemas import OperationAccepted
from api.services.api_keys import authenticate
from chain.errors import ScfError

log = logging.getLogger(__name__)

KEY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128  # the operations table's column
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_WAIT_SECONDS = 30.0  # a duplicate waits this long for the first request to finish
BACKGROUND_WORKERS = 4
_POLL_SECONDS = 0.02
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


# Operation states as stored in ``OperationRow.state``.
STATE_PENDING, STATE_SUCCEEDED, STATE_FAILED = "pending", "succeeded", "failed"


class InvalidRequest(ScfError):
    code = "validation_error"
    http_status = 422


class IdempotencyKeyReused(ScfError):
    code = "idempotency_key_reused"
    http_status = 422


class RequestInProgress(ScfError):
    code = "request_in_progress"
    http_status = 409


class BackgroundUnavailable(ScfError):
    code = "writes_unavailable"
    http_status = 503


def stored_response(row: OperationRow) -> Captured:
    headers = [(str(n), str(v)) for n, v in json.loads(row.response_headers or "[]")]
    return Captured(row.status_code or 500, headers, (row.response_body or "").encode())


@dataclass(frozen=True)
class _Request:
    """What the middleware needs to know about one POST."""

    member_id: int
    key: str | None
    wait: bool
    fingerprint: str
    path: str


# ---- decisions taken for a request with an Idempotency-Key -------------------------------


@dataclass(frozen=True)
class _Execute:
    operation_id: str


@dataclass(frozen=True)
class _Replay:
    response: Captured


@dataclass(frozen=True)
class _Reused:
    operation_id: str
    path: str


@dataclass(frozen=True)
class _InProgress:
    operation_id: str
    done: threading.Event | None  # None: another process is running it


_Decision = _Execute | _Replay | _Reused | _InProgress


class IdempotencyMiddleware:
    """See the module docstring. One instance per app: it owns the table of requests this
    process is running and the background workers of ``?wait=false``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._decide_lock = threading.Lock()  # claims of keyed requests, one at a time
        self._running_lock = threading.Lock()  # guards _running only (held for microseconds)
        # (member, key) -> set when the request this process runs under that key is done
        self._running: dict[tuple[int, str], threading.Event] = {}
        self._background = _workers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._draining_on_shutdown(receive), send)
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        replay_body = replaying(body, receive)
        sessions: sessionmaker[Session] = scope["app"].state.sessions
        response: Response
        try:
            request = await anyio.to_thread.run_sync(_describe, scope, body, sessions)
        except ScfError as exc:
            response = _error(exc)
        else:
            if request is None:  # nothing to keep: not a member, or neither key nor wait=false
                await self.app(scope, replay_body, send)
                return
            try:
                response = await self._handle(scope, replay_body, body, request, sessions)
            except ScfError as exc:
                response = _error(exc)
        await response(scope, replay_body, send)

    # ---- one request ---------------------------------------------------------------------
    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        body: bytes,
        request: _Request,
        sessions: sessionmaker[Session],
    ) -> Response:
        """Run, replay, refuse or accept the request: the response to send."""
        _strip_wait(scope)
        if request.key is None:  # wait=false without a key: nothing to deduplicate
            operation_id = await anyio.to_thread.run_sync(_insert_unkeyed, sessions, request)
            self._start_background(dict(scope), body, sessions, operation_id, None)
            return _accepted(operation_id)
        slot = (request.member_id, request.key)
        wait_seconds = float(
            getattr(scope["app"].state, "idempotency_wait_seconds", DEFAULT_WAIT_SECONDS)
        )
        deadline = time.monotonic() + wait_seconds
        while True:
            decision = await anyio.to_thread.run_sync(self._decide, sessions, request)
            if isinstance(decision, _Reused):
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {request.key!r} was already used for a different request "
                    f"(POST {decision.path}); use a new key for a new request",
                    details={"idempotency_key": request.key, "operation_id": decision.operation_id},
                )
            if isinstance(decision, _Replay):
                return decision.response.response((REPLAYED_HEADER, "true"))
            if isinstance(decision, _Execute):
                if not request.wait:
                    self._start_background(dict(scope), body, sessions, decision.operation_id, slot)
                    return _accepted(decision.operation_id)
                captured = await self._execute(
                    scope, receive, sessions, decision.operation_id, slot
                )
                return captured.response()
            if not request.wait:
                return _accepted(decision.operation_id)
            if decision.done is None or not await _wait_until(decision.done, deadline):
                raise RequestInProgress(
                    f"a request with Idempotency-Key {request.key!r} is still running; "
                    f"retry later or follow /v1/operations/{decision.operation_id}",
                    details={"idempotency_key": request.key, "operation_id": decision.operation_id},
                )

    def _decide(self, sessions: sessionmaker[Session], request: _Request) -> _Decision:
        """Claim the key for this request, or say why not. Runs in a worker thread."""
        assert request.key is not None
        slot = (request.member_id, request.key)
        with self._decide_lock:
            # Look at _running before the row: a run that is over by now has stored its
            # response before leaving _running, so the row read next shows it.
            with self._running_lock:
                done = self._running.get(slot)
            with sessions() as session:
                row = _operation(session, request)
                if row is not None and row.request_fingerprint != request.fingerprint:
                    return _Reused(row.id, row.path)
                if row is not None and done is not None:
                    return _InProgress(row.id, done)
                if row is not None and row.state != STATE_PENDING and not _retryable(row):
                    return _Replay(stored_response(row))
                if row is None:
                    row = _new_row(request)
                    session.add(row)
                else:  # left pending by a crash, or ended in a 5xx: run it again
                    row.state, row.status_code, row.completed_at = STATE_PENDING, None, None
                    row.response_body = row.response_headers = None
                operation_id = row.id
                try:
                    session.commit()
                except IntegrityError:  # another process claimed the key a moment ago
                    session.rollback()
                    other = _operation(session, request)
                    return _InProgress(other.id if other else operation_id, None)
            with self._running_lock:
                self._running[slot] = threading.Event()
            return _Execute(operation_id)

    async def _execute(
        self,
        scope: Scope,
        receive: Receive,
        sessions: sessionmaker[Session],
        operation_id: str,
        slot: tuple[int, str] | None,
    ) -> Captured:
        """Run the routes for a claimed operation and store what they answered."""
        try:
            try:
                captured = await capture(self.app, scope, receive)
            except Exception:
                # Stored as a 500 so /v1/operations shows it; a retry runs it again.
                failure = error_json(500, "internal_error", "an unexpected error occurred")
                crashed = Captured(500, [("content-type", "application/json")], bytes(failure.body))
                await anyio.to_thread.run_sync(_store, sessions, operation_id, crashed)
                raise
            await anyio.to_thread.run_sync(_store, sessions, operation_id, captured)
            return captured
        finally:
            self._release(slot)

    def _release(self, slot: tuple[int, str] | None) -> None:
        if slot is None:
            return
        with self._running_lock:
            done = self._running.pop(slot, None)
        if done is not None:
            done.set()

    # ---- ?wait=false ---------------------------------------------------------------------
    def _start_background(
        self,
        scope: Scope,
        body: bytes,
        sessions: sessionmaker[Session],
        operation_id: str,
        slot: tuple[int, str] | None,
    ) -> None:
        async def run() -> None:
            try:
                await self._execute(scope, body_then_disconnect(body), sessions, operation_id, slot)
            except Exception:
                log.exception("operation %s failed in the background", operation_id)

        try:
            self._background.submit(lambda: asyncio.run(run()))
        except RuntimeError as exc:  # the app is shutting down
            self._release(slot)
            raise BackgroundUnavailable("this API node is shutting down; retry") from exc

    def _draining_on_shutdown(self, receive: Receive) -> Receive:
        """Let background operations finish before the app's resources close."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                draining, self._background = self._background, _workers()
                await anyio.to_thread.run_sync(draining.shutdown)
            return message

        return wrapped


# ---- request parsing ---------------------------------------------------------------------


def _describe(scope: Scope, body: bytes, sessions: sessionmaker[Session]) -> _Request | None:
    """The POST as the middleware sees it, or None when there is nothing to keep."""
    has_key = any(k.lower() == b"idempotency-key" for k, _ in scope["headers"])
    if not has_key and not any(k == "wait" for k, _ in _query(scope)):
        return None
    member_id = _member_id(scope, sessions)
    if member_id is None:
        return None
    key = _idempotency_key(scope)
    wait = _wait(scope)
    if key is None and wait:
        return None
    return _Request(member_id, key, wait, _fingerprint(scope, body), scope["path"])


def _member_id(scope: Scope, sessions: sessionmaker[Session]) -> int | None:
    scheme, _, credentials = _header(scope, "authorization").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    with sessions() as session:
        try:
            return authenticate(session, credentials.strip()).id
        except ScfError:  # the route gives the right 401/403
            return None


def _header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    values = [v for k, v in scope["headers"] if k.lower() == wanted]
    return values[-1].decode("latin-1") if values else ""


def _idempotency_key(scope: Scope) -> str | None:
    if not any(k.lower() == b"idempotency-key" for k, _ in scope["headers"]):
        return None
    key = _header(scope, KEY_HEADER)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidRequest(
            f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            details={"errors": [{"location": "header.Idempotency-Key", "problem": "invalid"}]},
        )
    return key


def _query(scope: Scope) -> list[tuple[str, str]]:
    return parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)


def _wait(scope: Scope) -> bool:
    values = [v for k, v in _query(scope) if k == "wait"]
    if not values:
        return True
    value = values[-1].strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidRequest(
        "wait must be true or false",
        details={"errors": [{"location": "query.wait", "problem": f"not a boolean: {value!r}"}]},
    )


def _strip_wait(scope: Scope) -> None:
    """The request as the routes see it: ``wait`` is the middleware's parameter."""
    query = [(k, v) for k, v in _query(scope) if k != "wait"]
    scope["query_string"] = urlencode(query).encode("latin-1")


def _fingerprint(scope: Scope, body: bytes) -> str:
    """Method, path, query (without ``wait``) and body; a JSON body in canonical form, so
    that key order and spacing do not make two equal requests different."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:  # not JSON (or empty): the bytes themselves
        canonical = body
    query = sorted((k, v) for k, v in _query(scope) if k != "wait")
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], urlencode(query)):
        digest.update(part.encode() + b"\0")
    digest.update(canonical)
    return digest.hexdigest()


# ---- storage -----------------------------------------------------------------------------


def _workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(BACKGROUND_WORKERS, "scf-operation")


def _operation(session: Session, request: _Request) -> OperationRow | None:
    return session.scalars(
        select(OperationRow).where(
            OperationRow.member_id == request.member_id,
            OperationRow.idempotency_key == request.key,
        )
    ).one_or_none()


def _new_row(request: _Request) -> OperationRow:
    return OperationRow(
        id=str(uuid.uuid4()),
        member_id=request.member_id,
        idempotency_key=request.key,
        method="POST",
        path=request.path[:512],
        request_fingerprint=request.fingerprint,
        state=STATE_PENDING,
        created_at=int(time.time()),
    )


def _insert_unkeyed(sessions: sessionmaker[Session], request: _Request) -> str:
    with sessions.begin() as session:
        row = _new_row(request)
        session.add(row)
        return row.id


def _store(sessions: sessionmaker[Session], operation_id: str, captured: Captured) -> None:
    headers = [(n, v) for n, v in captured.headers if n.lower() not in UNKEPT_HEADERS]
    with sessions.begin() as session:
        row = session.get(OperationRow, operation_id)
        if row is None:
            return
        row.state = STATE_SUCCEEDED if captured.status < 400 else STATE_FAILED
        row.status_code = captured.status
        # POST answers are JSON text; an undecodable byte becomes U+FFFD rather than a 500
        row.response_body = captured.body.decode("utf-8", "replace")
        row.response_headers = json.dumps(headers)
        row.completed_at = int(time.time())


def _retryable(row: OperationRow) -> bool:
    """A 5xx says the platform failed, not the request: the next retry runs it again."""
    return row.state == STATE_FAILED and (row.status_code or 500) >= 500


async def _wait_until(done: threading.Event, deadline: float) -> bool:
    """Whether ``done`` was set before ``deadline``; polls without holding a thread."""
    while not done.is_set():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
    return True


def _error(exc: ScfError) -> Response:
    return error_json(exc.http_status, exc.code, exc.message, exc.details)


def _accepted(operation_id: str) -> JSONResponse:
    return JSONResponse(
        OperationAccepted(operation_id=operation_id).model_dump(),
        status_code=202,
        headers={"Location": f"/v1/operations/{operation_id}"},
    )


# ---- OpenAPI -----------------------------------------------------------------------------

_WAIT_PARAMETER = {
    "name": "wait",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": True},
    "description": "false: answer 202 at once with an operation id and run the write in the "
    "background; follow it at /v1/operations/{id}",
}
_KEY_PARAMETER = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "the same key with the same request returns the stored response, once; "
    "with a different request, 422 idempotency_key_reused",
}


def document_in_openapi(app: FastAPI) -> None:
    """Add ``wait`` and ``Idempotency-Key`` to every authenticated POST in /openapi.json,
    with the 202 answer and the 409 of a duplicate still running."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for item in schema.get("paths", {}).values():
            operation = item.get("post")
            if operation is None or not operation.get("security"):
                continue
            parameters = operation.setdefault("parameters", [])
            present = {(p.get("in"), str(p.get("name", "")).lower()) for p in parameters}
            for parameter in (_WAIT_PARAMETER, _KEY_PARAMETER):
                if (parameter["in"], str(parameter["name"]).lower()) not in present:
                    parameters.append(dict(parameter))
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "202",
                {
                    "description": "accepted (wait=false): the write runs in the background",
                    "content": {
                        "application/json": {"schema": OperationAccepted.model_json_schema()}
                    },
                },
            )
            responses.setdefault(
                "409",
                {
                    "description": "conflict (a duplicate of a request still running)",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }
                    },
                },
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_idempotency(app: FastAPI) -> None:
    app.add_middleware(IdempotencyMiddleware)
    document_in_openapi(app)
