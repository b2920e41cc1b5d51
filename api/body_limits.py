"""Request bodies bounded before anything reads or parses them, and a member's write
authenticated before its body is read: two ASGI layers in front of every route
(``api.app``), so no route, middleware or dependency can forget them.

- A body larger than its route's limit answers 413 ``payload_too_large``: at once when
  ``Content-Length`` says so, else as soon as the streamed (chunked) bytes pass the
  limit. No more than the limit is ever held. The limit is ``SCF_BODY_MAX_BYTES``
  (1 MiB), and for document uploads the size of a maximal document in base64
  (``Settings.document_body_max_bytes``).
- A body nesting JSON arrays or objects deeper than ``SCF_JSON_MAX_DEPTH`` (32) answers
  422 ``json_too_deep``: Python's JSON parser recurses per level, and in this process
  (py_ecc raises the recursion limit) a deep enough text overflows the C stack.
- A write (any method but GET, HEAD and OPTIONS) that carries a body on a route that is
  not anonymous (``BodyRules.anonymous``: an application to join) is authenticated first
  (``CredentialsFirst``): without valid credentials it answers 401 (403 for a suspended
  member) and not one byte of its body is read. A stranger's megabytes cost nothing;
  a member's count against its own writes in flight (``api.admission``).

``BodyLimits`` sits outside admission control and reads the bodies anyone may send
(reads, anonymous writes) there, so that a slow body holds no place; a member's write
body is read by ``CredentialsFirst``, after admission (authenticating takes a worker
thread) and before the idempotency middleware, which fingerprints it.

- A body that has not all arrived ``SCF_BODY_TIMEOUT_SECONDS`` (30) after the request
  started being read answers 408 ``body_timeout`` and the connection is closed: a body
  trickled or stalled (or shorter than its ``Content-Length``) holds nothing for longer.

Requests without a body (no ``Content-Length``, no ``Transfer-Encoding``) pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import anyio
import anyio.to_thread
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import READ_METHODS
from api.errors import error_json, pool_exhausted, refusal_json
from api.idempotency.asgi import replaying
from api.services.container import services_of
from api.settings import Settings, settings_of
from chain.errors import ScfError
from chain.json_bounds import nesting_exceeds

TOO_LARGE = "payload_too_large"
TOO_DEEP = "json_too_deep"
TOO_SLOW = "body_timeout"


@dataclass(frozen=True)
class BodyRules:
    """``larger``: path prefixes whose bodies may be larger than ``body_max_bytes``, with
    their limit; ``anonymous``: paths whose writes need no credentials."""

    larger: Mapping[str, Callable[[Settings], int]]
    anonymous: frozenset[str]

    @classmethod
    def of(
        cls,
        larger: Mapping[str, Callable[[Settings], int]] | None = None,
        anonymous: Iterable[str] = (),
    ) -> BodyRules:
        return cls(dict(larger or {}), frozenset(anonymous))

    def limit(self, settings: Settings, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit(settings)
        return settings.body_max_bytes

    def credentials_first(self, scope: Scope) -> bool:
        """Whether the request's body waits until its credentials are checked."""
        return scope["method"] not in READ_METHODS and scope["path"] not in self.anonymous


class BodyLimits:
    """The outer layer (see the module docstring): declared lengths for every request;
    the bodies of reads and anonymous writes."""

    def __init__(self, app: ASGIApp, rules: BodyRules | None = None) -> None:
        self.app = app
        self._rules = rules or BodyRules.of()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared == 0:
            await self.app(scope, receive, send)
            return
        settings = settings_of(scope["app"])
        limit = self._rules.limit(settings, scope["path"])
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        if self._rules.credentials_first(scope):  # its body is read after authentication
            await self.app(scope, receive, send)
            return
        await _bounded(self.app, scope, receive, send, settings, limit)


class CredentialsFirst:
    """The inner layer (see the module docstring): a member's write is authenticated, then
    its body read within the limit. The member it found is remembered for the idempotency
    middleware and the route (``api.authentication``): nobody authenticates twice."""

    def __init__(self, app: ASGIApp, rules: BodyRules) -> None:
        self.app = app
        self._rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or _declared_length(scope) == 0
            or not self._rules.credentials_first(scope)
        ):
            await self.app(scope, receive, send)
            return
        try:
            authenticate = services_of(scope["app"]).authenticator.authenticate
            await anyio.to_thread.run_sync(authenticate, scope)
        except ScfError as exc:
            await _unread(refusal_json(exc))(scope, receive, send)
            return
        except PoolTimeout:
            await _unread(pool_exhausted(scope["app"]))(scope, receive, send)
            return
        settings = settings_of(scope["app"])
        limit = self._rules.limit(settings, scope["path"])
        await _bounded(self.app, scope, receive, send, settings, limit)


async def _bounded(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, settings: Settings, limit: int
) -> None:
    """Read the body, never holding more than ``limit`` bytes, check its nesting, and run
    ``app`` on it; or answer 413 / 422."""
    chunks: list[bytes] = []
    received = 0
    complete = False
    with anyio.move_on_after(settings.body_timeout_seconds):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body ended: nobody to answer
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                complete = True
                break
    if not complete:
        await _too_slow(settings.body_timeout_seconds)(scope, receive, send)
        return
    body = b"".join(chunks)
    if nesting_exceeds(body, settings.json_max_depth):
        depth = settings.json_max_depth
        await error_json(
            422,
            TOO_DEEP,
            f"the request body nests JSON arrays and objects deeper than {depth} levels",
            {"max_depth": depth},
        )(scope, receive, send)
        return
    await app(scope, replaying(body, receive), send)


def _declared_length(scope: Scope) -> int | None:
    """The body's declared length; 0 when the request has no body, None when it is sent
    in chunks of unknown total. (The HTTP server has refused a malformed length.)"""
    length: int | None = 0
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
        if name == b"transfer-encoding":
            length = None
    return length


def _unread(response: Response) -> Response:
    """An answer sent with the request's body left unread: the connection cannot carry
    another request."""
    response.headers["Connection"] = "close"
    return response


def _too_large(limit: int) -> Response:
    return _unread(
        error_json(
            413, TOO_LARGE, f"the request body may hold at most {limit} bytes", {"limit": limit}
        )
    )


def _too_slow(seconds: float) -> Response:
    return _unread(
        error_json(
            408,
            TOO_SLOW,
            f"the request body did not arrive within {seconds:g} s",
            {"timeout_seconds": seconds},
        )
    )
