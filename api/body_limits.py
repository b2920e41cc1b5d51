"""Request bodies bounded before anything reads or parses them: one ASGI layer in front
of every route (``api.app``), so no route, middleware or dependency can forget it.

- A body larger than its route's limit answers 413 ``payload_too_large``: at once when
  ``Content-Length`` says so, else as soon as the streamed (chunked) bytes pass the
  limit. No more than the limit is ever held. The limit is ``SCF_BODY_MAX_BYTES``
  (1 MiB), and for document uploads the size of a maximal document in base64
  (``Settings.document_body_max_bytes``).
- A body nesting JSON arrays or objects deeper than ``SCF_JSON_MAX_DEPTH`` (32) answers
  422 ``json_too_deep``: Python's JSON parser recurses per level, and in this process
  (py_ecc raises the recursion limit) a deep enough text overflows the C stack.

Requests without a body (no ``Content-Length``, no ``Transfer-Encoding``) pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi import replaying
from api.errors import error_json
from api.settings import Settings, settings_of
from chain.json_bounds import nesting_exceeds

TOO_LARGE = "payload_too_large"
TOO_DEEP = "json_too_deep"


class BodyLimits:
    """See the module docstring. ``larger``: path prefixes whose bodies may be larger than
    ``body_max_bytes``, with their limit."""

    def __init__(
        self, app: ASGIApp, larger: Mapping[str, Callable[[Settings], int]] | None = None
    ) -> None:
        self.app = app
        self._larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared == 0:
            await self.app(scope, receive, send)
            return
        settings = settings_of(scope["app"])
        limit = self._limit(settings, scope["path"])
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
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
                break
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
        await self.app(scope, replaying(body, receive), send)

    def _limit(self, settings: Settings, path: str) -> int:
        for prefix, limit in self._larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit(settings)
        return settings.body_max_bytes


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


def _too_large(limit: int) -> JSONResponse:
    response = error_json(
        413, TOO_LARGE, f"the request body may hold at most {limit} bytes", {"limit": limit}
    )
    # the rest of the body is never read: the connection cannot carry another request
    response.headers["Connection"] = "close"
    return response
