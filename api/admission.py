"""Admission: work beyond what the node can run at once is refused at the door, at once.

A burst of writes used to queue for worker threads and pooled SQL connections until
every thread waited on the pool: clients timed out after a minute, hundreds of
requests answered 500 and ``/healthz`` was silent for minutes. Now every request that
may take a worker thread or a pooled connection is admitted first, on the event loop
(an ASGI layer after the body limits, before the idempotency middleware's first thread
hop): a refusal costs neither. A request is in flight from its admission until the
app has answered it.

- At most ``requests_max_in_flight`` requests at once: the next answers 503
  ``overloaded``.
- At most ``writes_max_in_flight`` of them writes (every method but GET, HEAD and
  OPTIONS): 503 ``overloaded``. Fewer than the worker threads, so that reads always
  find one while writes wait for their blocks.
- At most ``writes_max_in_flight_per_caller`` writes of one caller (its API key, else
  its client certificate, else its address): 429 ``rate_limited``, so one member's
  burst leaves room for the others.
- The last ``writes_reserved_percent`` of the write places go only to callers with at
  most one write running (``LIGHT_CALLER_WRITES``): 429 ``rate_limited`` for the others,
  so that three callers at their own bound cannot fill the node and refuse every other
  member.

Every refusal says ``Retry-After`` (``overload_retry_after_seconds``); nothing of a
refused request ran, so it can be sent again as it was (with its Idempotency-Key).
Paths with bounds of their own are not counted (``EXEMPT``): ``/healthz`` needs no
worker thread, the event streams are bounded per member and per process.

Why this is enough: a request holds at most one connection of each pool at a time
(from its route until FastAPI's response validation, a second worker-thread hop), so
``api.readmodel.database`` sizes each pool to the requests in flight plus the node's
own threads, and no request waits for a connection. The worker threads are anyio's
default limiter of the event loop, set here to ``worker_threads`` tokens.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_json, status_of
from api.settings import Settings, settings_of
from chain.errors import ScfError

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# bounded elsewhere, or needing no worker thread: never refused here
EXEMPT = ("/healthz", "/metrics", "/v1/events")
# a caller with fewer writes running than this may take the node's reserved places
LIGHT_CALLER_WRITES = 2


class Overloaded(ScfError):
    """The node runs as much as it can at once; nothing of this request ran."""

    code = "overloaded"
    http_status = 503

    def __init__(self, message: str, retry_after: int, details: dict[str, int]) -> None:
        super().__init__(message, details={**details, "retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


class TooManyWrites(ScfError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"this caller has {limit} writes running already, the most it may at once; "
            f"retry in {retry_after} s (with the same Idempotency-Key)",
            details={"limit": limit, "retry_after": retry_after},
        )
        self.headers = {"Retry-After": str(retry_after)}


class ReservedForOthers(ScfError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, running: int, retry_after: int) -> None:
        super().__init__(
            f"this caller has {running} writes running and the node's remaining places are "
            f"kept for callers with fewer than {LIGHT_CALLER_WRITES}; retry in {retry_after} s "
            "(with the same Idempotency-Key)",
            details={"limit": running, "retry_after": retry_after},
        )
        self.headers = {"Retry-After": str(retry_after)}


def overloaded(settings: Settings, what: str, limit: int) -> Overloaded:
    retry_after = settings.overload_retry_after_seconds
    return Overloaded(
        f"this node runs {limit} {what} at once, the most it may; retry in {retry_after} s "
        "(with the same Idempotency-Key)",
        retry_after,
        {"limit": limit},
    )


@dataclass
class InFlight:
    """Requests in flight, in all, as writes, and as writes per caller. Thread-safe (a
    test may serve one app from two event loops); each count returns to zero."""

    _requests: int = 0
    _writes: int = 0
    _callers: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, settings: Settings, caller: str | None) -> Callable[[], None]:
        """Count a request (a write when ``caller`` is given) or raise the refusal; return
        the function that ends it (once)."""
        with self._lock:
            if self._requests >= settings.requests_max_in_flight:
                raise overloaded(settings, "requests", settings.requests_max_in_flight)
            if caller is not None:
                if self._writes >= settings.writes_max_in_flight:
                    raise overloaded(settings, "writes", settings.writes_max_in_flight)
                per_caller = settings.writes_max_in_flight_per_caller
                running = self._callers[caller]
                if running >= per_caller:
                    raise TooManyWrites(per_caller, settings.overload_retry_after_seconds)
                if running >= LIGHT_CALLER_WRITES and self._writes >= _unreserved(settings):
                    raise ReservedForOthers(running, settings.overload_retry_after_seconds)
                self._writes += 1
                self._callers[caller] += 1
            self._requests += 1
        ended = False

        def end() -> None:
            nonlocal ended
            with self._lock:
                if ended:
                    return
                ended = True
                self._requests -= 1
                if caller is not None:
                    self._writes -= 1
                    self._callers[caller] -= 1
                    if not self._callers[caller]:
                        del self._callers[caller]  # memory stays bounded by what is in flight

        return end

    def counts(self) -> tuple[int, int]:
        """(requests, writes) in flight now."""
        with self._lock:
            return self._requests, self._writes


class AdmissionControl:
    """The ASGI layer (see the module docstring); ``in_flight`` is what it counts."""

    def __init__(self, app: ASGIApp, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = settings_of(scope["app"])
        _size_worker_threads(settings.worker_threads)
        if _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        write = scope["method"] not in READ_METHODS
        try:
            end = self.in_flight.admit(settings, caller_of(scope) if write else None)
        except ScfError as refusal:
            response = error_json(
                status_of(refusal), refusal.code, refusal.message, refusal.details
            )
            response.headers.update(getattr(refusal, "headers", None) or {})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            end()


def _unreserved(settings: Settings) -> int:
    """Write places any caller may take; the rest only callers with few writes running."""
    limit = settings.writes_max_in_flight
    return limit - limit * settings.writes_reserved_percent // 100


def caller_of(scope: Scope) -> str:
    """Who sends the request, as far as the request says without a database: a digest of
    its API key, else of its client certificate, else its address. (A key that turns out
    to be wrong is refused by the route; here it is only a name to count under.)"""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return "key:" + hashlib.sha256(value).hexdigest()[:32]
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain: list[str] = tls.get("client_cert_chain") or []
    if chain:
        return "certificate:" + hashlib.sha256(chain[0].encode()).hexdigest()[:32]
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def _exempt(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in EXEMPT)


def _size_worker_threads(tokens: int) -> None:
    """Give the event loop's default thread limiter (where FastAPI runs ``def`` routes and
    dependencies, and the middleware its database work) ``tokens`` threads."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    if limiter.total_tokens != tokens:
        limiter.total_tokens = tokens
