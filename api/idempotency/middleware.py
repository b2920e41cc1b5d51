"""``Idempotency-Key`` on every POST and ``?wait=false`` on every member's POST, in one place.

An ASGI middleware in front of the routes, so no route repeats any of this:

- A POST with an ``Idempotency-Key`` (scoped to the member the route will see: API key,
  client certificate, or both naming one member) is recorded
  as an ``OperationRow`` with a fingerprint of the request (method, path, query without
  ``wait``, canonical JSON body) before it runs, and its response (status, body,
  headers such as ``X-Transaction-Hash``) once it is done. The same key and request
  again returns the stored response (header ``Idempotent-Replayed: true``) without
  running anything; the same key with another request is 422 ``idempotency_key_reused``.
- A duplicate that arrives while the first is still running waits for it, up to
  ``DEFAULT_WAIT_SECONDS`` (``ApiServices.idempotency_wait_seconds``), then gets the
  stored response, or 409 ``request_in_progress`` if the first is still running.
- An operation left ``pending`` by a crashed process, or one that ended in a 5xx, is run
  again by the next request with the same key and body. That cannot send a second
  ledger transaction: the writer keys each transaction in the transaction manager's
  durable store by the same Idempotency-Key, so the re-run finds it there.
- ``?wait=false`` answers 202 ``{"operation_id", "status": "pending"}`` with a
  ``Location`` at ``/v1/operations/{id}`` once the request is kept
  (``api.idempotency.kept_requests``); the operations worker (``api.idempotency.worker``)
  runs it, after a restart too, and its stored response is read there when done.

A POST the app declares anonymous (``AnonymousPost``: an application to join) keeps its
Idempotency-Key scoped to the key itself, whatever credentials come with it. Its answer
carries a secret (the applicant's API key), so the table holds the key only as a SHA-256
and the body sealed under the key (``api.idempotency.encrypted_answers``); a replay
presents the key and opens it. Its ``admit`` hook (the rate limit) runs on every such
request, replays included. ``?wait=false`` is refused there: no member could follow the operation.

Other POSTs without valid credentials pass through untouched (the route answers 401):
there is no member to scope a key to. One with a body never gets here:
``api.body_limits.CredentialsFirst`` answers 401 before its body is read, and reads the
body of one with credentials (within its limit) before this middleware does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import overloaded
from api.errors import error_json, pool_exhausted, refusal_json
from api.idempotency.asgi import (
    Captured,
    body_then_disconnect,
    capture,
    read_body,
    replaying,
)
from api.idempotency.kept_requests import accept_unkeyed, keep_request, load_request, request_values
from api.idempotency.openapi import document_in_openapi
from api.idempotency.posts import AnonymousPost, KeptPost, describe, strip_wait
from api.idempotency.store import (
    CLAIM,
    STATE_PENDING,
    find_operation,
    new_row,
    new_values,
    retryable,
    store_answer,
    stored_response,
)
from api.readmodel.database import engine_of
from api.schemas.operations import OperationAccepted
from api.services.container import services_of
from api.services.documents import DocumentVault
from api.settings import settings_of
from chain.errors import ScfError

log = logging.getLogger(__name__)

REPLAYED_HEADER = "Idempotent-Replayed"
_POLL_SECONDS = 0.02


class IdempotencyKeyReused(ScfError):
    code = "idempotency_key_reused"
    http_status = 422


class RequestInProgress(ScfError):
    code = "request_in_progress"
    http_status = 409


def node_vault_of(scope: Scope) -> DocumentVault | None:
    """The node's data key, which seals answers that carry a secret (None: the API has none)."""
    return services_of(scope["app"]).document_vault


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

    def __init__(
        self,
        app: ASGIApp,
        anonymous: Iterable[AnonymousPost] = (),
        secret_answers: Iterable[str] = (),
    ) -> None:
        self.app = app
        self._anonymous = {post.path: post for post in anonymous}
        self._secret_answers = frozenset(secret_answers)
        self._decide_lock = threading.Lock()  # claims of keyed requests, one at a time
        self._running_lock = threading.Lock()  # guards _running only (held for microseconds)
        # (member, key) -> set when the request this process runs under that key is done
        self._running: dict[tuple[int | None, str], threading.Event] = {}
        self._queued = 0  # operations accepted with wait=false and not yet done
        self._app: Any = None  # the FastAPI app, which the operations worker runs on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # before the app's lifespan starts the worker
            self._app = scope["app"]
            services_of(self._app).operations.attach(self)
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        replay_body = replaying(body, receive)
        sessions = services_of(scope["app"]).operation_sessions
        response: Response
        try:
            # one worker-thread hop for both: each hop costs thread switches under the GIL
            request, first = await anyio.to_thread.run_sync(
                self._describe_and_claim, scope, body, sessions
            )
        except ScfError as exc:
            response = refusal_json(exc)
        except PoolTimeout:
            response = pool_exhausted(scope["app"])
        else:
            if request is None:  # nothing to keep: no member, or neither key nor wait=false
                await self.app(scope, replay_body, send)
                return
            try:
                response = await self._handle(scope, replay_body, body, request, sessions, first)
            except ScfError as exc:
                response = refusal_json(exc)
            except PoolTimeout:  # the operation stays pending: a retry runs it again
                response = pool_exhausted(scope["app"])
        await response(scope, replay_body, send)

    def _describe_and_claim(
        self, scope: Scope, body: bytes, sessions: sessionmaker[Session]
    ) -> tuple[KeptPost | None, _Decision | None]:
        """The request as the middleware keeps it and, when it has a key, the first claim."""
        request = describe(scope, body, self._anonymous, self._secret_answers)
        if request is None or request.key is None:
            return request, None
        return request, self._decide(sessions, request, node_vault_of(scope))

    # ---- one request ---------------------------------------------------------------------
    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        body: bytes,
        request: KeptPost,
        sessions: sessionmaker[Session],
        first: _Decision | None = None,
    ) -> Response:
        """Run, replay, refuse or accept the request: the response to send. ``first`` is
        the claim already made for it, if any."""
        strip_wait(scope)
        if request.key is None:  # wait=false without a key: nothing to deduplicate
            self._reserve_background(scope, request)
            try:
                operation_id = await self._accept_unkeyed(scope, body, request)
            except BaseException:
                self._unreserve_background()
                raise
            return _accepted(operation_id)
        wait_seconds = services_of(scope["app"]).idempotency_wait_seconds
        deadline = time.monotonic() + wait_seconds
        decision = first
        while True:
            if decision is None:
                decision = await anyio.to_thread.run_sync(
                    self._decide, sessions, request, node_vault_of(scope)
                )
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
                    self._reserve_background(scope, request)  # refused: the claim is let go
                    await self._accept(scope, body, decision.operation_id, request)
                    return _accepted(decision.operation_id)
                captured = await self._execute(
                    scope, receive, sessions, decision.operation_id, request
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
            decision = None  # the first run is over: claim again

    def _decide(
        self, sessions: sessionmaker[Session], request: KeptPost, vault: DocumentVault | None
    ) -> _Decision:
        """Claim the key for this request, or say why not. Runs in a worker thread."""
        slot = request.slot
        with self._decide_lock:
            # Look at _running before the row: a run that is over by now has stored its
            # response before leaving _running, so the row read next shows it.
            with self._running_lock:
                done = self._running.get(slot)
            decision: _Decision | None = None
            if done is None:
                decision = self._claim_new(sessions, request)
            if decision is None:
                decision = self._claim_existing(sessions, request, done, vault)
            if isinstance(decision, _Execute):
                with self._running_lock:
                    self._running[slot] = threading.Event()
            return decision

    @staticmethod
    def _claim_new(sessions: sessionmaker[Session], request: KeptPost) -> _Execute | None:
        """Most keys are new: one INSERT claims them. None when the key has a row already."""
        values = new_values(request)
        try:
            with engine_of(sessions).begin() as connection:
                connection.execute(CLAIM, values)
        except IntegrityError:
            return None
        return _Execute(values["id"])

    @staticmethod
    def _claim_existing(
        sessions: sessionmaker[Session],
        request: KeptPost,
        done: threading.Event | None,
        vault: DocumentVault | None,
    ) -> _Decision:
        with sessions() as session:
            row = find_operation(session, request)
            if row is not None and row.request_fingerprint != request.fingerprint:
                return _Reused(row.id, row.path)
            if row is not None and done is not None:
                return _InProgress(row.id, done)
            if row is not None and row.state != STATE_PENDING and not retryable(row):
                return _Replay(stored_response(row, request.key, vault))
            if row is None:
                row = new_row(request)
                session.add(row)
            else:  # left pending by a crash, or ended in a 5xx: run it again
                row.state, row.status_code, row.completed_at = STATE_PENDING, None, None
                row.response_body = row.response_headers = None
            operation_id = row.id
            try:
                session.commit()
            except IntegrityError:  # another process claimed the key a moment ago
                session.rollback()
                other = find_operation(session, request)
                return _InProgress(other.id if other else operation_id, None)
        return _Execute(operation_id)

    async def _execute(
        self,
        scope: Scope,
        receive: Receive,
        sessions: sessionmaker[Session],
        operation_id: str,
        request: KeptPost,
        *,
        kept_request: bool = False,
    ) -> Captured:
        """Run the routes for a claimed operation and store what they answered (sealed
        under the request's key where it is anonymous). ``kept_request``: it ran from its
        kept request (``?wait=false``), let go with the answer."""
        vault = node_vault_of(scope)
        try:
            try:
                captured = await capture(self.app, scope, receive)
            except Exception:
                # Stored as a 500 so /v1/operations shows it; a retry runs it again.
                failure = error_json(500, "internal_error", "an unexpected error occurred")
                crashed = Captured(500, [("content-type", "application/json")], bytes(failure.body))
                await anyio.to_thread.run_sync(
                    partial(store_answer, kept_request=kept_request),
                    sessions,
                    operation_id,
                    crashed,
                    request,
                    vault,
                )
                raise
            await anyio.to_thread.run_sync(
                partial(store_answer, kept_request=kept_request),
                sessions,
                operation_id,
                captured,
                request,
                vault,
            )
            return captured
        finally:
            self._release(request)

    def _release(self, request: KeptPost) -> None:
        if request.key is None:  # not claimed: nothing to release
            return
        slot = request.slot
        with self._running_lock:
            done = self._running.pop(slot, None)
        if done is not None:
            done.set()

    # ---- ?wait=false ---------------------------------------------------------------------
    def _reserve_background(self, scope: Scope, request: KeptPost) -> None:
        """Take a place among the operations accepted and not yet done, or refuse with 503
        ``overloaded``: their queue is bounded (``writes_max_queued``), as the writes a
        client waits for are (``api.admission``). A refused operation's claim is let go;
        its row, still pending, runs when the client retries under the same key."""
        settings = settings_of(scope["app"])
        with self._running_lock:
            full = self._queued >= settings.writes_max_queued
            if not full:
                self._queued += 1
        if full:
            self._release(request)
            raise overloaded(
                settings, "operations accepted with wait=false", settings.writes_max_queued
            )

    def _unreserve_background(self) -> None:
        with self._running_lock:
            self._queued -= 1

    async def _accept_unkeyed(self, scope: Scope, body: bytes, request: KeptPost) -> str:
        """Record a reserved operation without a key with its request; hand it to the
        worker. Its id."""
        services = services_of(scope["app"])
        services.operations.require_running()
        operation_id = await anyio.to_thread.run_sync(
            # durable commits: a 202 promises the operation runs, after a power loss too
            accept_unkeyed,
            services.sessions,
            request,
            scope,
            body,
            services.document_vault,
        )
        operations = services.operations
        operations.submit(operation_id)
        return operation_id

    async def _accept(
        self, scope: Scope, body: bytes, operation_id: str, request: KeptPost
    ) -> None:
        """Keep the request of a reserved, claimed operation; hand it to the worker. Kept
        before the 202 with a durable commit (which makes the claim before it durable
        too): an accepted operation runs, after a restart or a power loss too."""
        services = services_of(scope["app"])
        operations = services.operations
        try:
            operations.require_running()
            values = request_values(
                operation_id, request.fingerprint, scope, body, services.document_vault
            )
            await anyio.to_thread.run_sync(keep_request, services.sessions, values)
            operations.submit(operation_id)
        except BaseException:
            self._unreserve_background()
            self._release(request)
            raise

    # ---- the operations worker's runner (``api.idempotency.worker.OperationRunner``) ----
    def resume(self, operations: list[KeptPost]) -> None:
        """Claim the keys of operations about to be resumed, and count them as queued."""
        with self._running_lock:
            for post in operations:
                self._queued += 1
                if post.key is not None:
                    self._running[post.slot] = threading.Event()

    async def run(self, operation_id: str) -> None:
        """Run one reserved operation from its kept request; a fresh scope, so the route
        authenticates with the kept credentials as the operation runs."""
        services = services_of(self._app)
        sessions = services.operation_sessions
        try:
            kept = await anyio.to_thread.run_sync(
                load_request, sessions, operation_id, services.document_vault
            )
            if kept is None:
                return
            if not kept.pending:  # done meanwhile (a client's retry ran it)
                self._release(kept.post)
                return
            receive = body_then_disconnect(kept.body)
            await self._execute(
                kept.scope(self._app), receive, sessions, operation_id, kept.post, kept_request=True
            )
        finally:
            self._unreserve_background()


# ---- helpers -----------------------------------------------------------------------------


async def _wait_until(done: threading.Event, deadline: float) -> bool:
    """Whether ``done`` was set before ``deadline``; polls without holding a thread."""
    while not done.is_set():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
    return True


def _accepted(operation_id: str) -> JSONResponse:
    return JSONResponse(
        OperationAccepted(operation_id=operation_id).model_dump(),
        status_code=202,
        headers={"Location": f"/v1/operations/{operation_id}"},
    )


def install_idempotency(
    app: FastAPI, anonymous: Iterable[AnonymousPost] = (), secret_answers: Iterable[str] = ()
) -> None:
    """The middleware and its documentation; ``anonymous``: the POSTs that need no
    credentials and keep their Idempotency-Key scoped to the key itself;
    ``secret_answers``: paths of members' POSTs whose answers carry a secret."""
    anonymous = tuple(anonymous)
    app.add_middleware(IdempotencyMiddleware, anonymous=anonymous, secret_answers=secret_answers)
    document_in_openapi(app, anonymous)
