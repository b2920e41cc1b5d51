"""Small ASGI pieces for middleware that holds a request's body and a route's response:
read the body once, hand it on again, and capture what the app answered."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope

# Headers not kept with a captured response: recomputed, or about one connection only.
UNKEPT_HEADERS = frozenset({"content-length", "date", "server", "set-cookie", "connection"})


@dataclass(frozen=True)
class Captured:
    """A response as the routes produced it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def response(self, *extra: tuple[str, str]) -> Response:
        response = Response(self.body, status_code=self.status)
        for name, value in (*self.headers, *extra):
            if name.lower() not in UNKEPT_HEADERS:
                response.headers.append(name, value)
        return response


async def read_body(receive: Receive) -> bytes:
    """The whole request body (it is needed before the routes run)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the routes: the body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def body_then_disconnect(body: bytes) -> Receive:
    """``receive`` for a background run: its client has already had its 202."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return replay


async def capture(app: ASGIApp, scope: Scope, receive: Receive) -> Captured:
    """Run ``app`` and hold its whole response instead of sending it (POST answers are
    small JSON documents)."""
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Captured(status, headers, b"".join(chunks))
