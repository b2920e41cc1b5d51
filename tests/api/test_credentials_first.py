"""A member's write is authenticated before its body is read, and the body is read within
its limit: the app is driven over ASGI with a ``receive`` that counts what it hands out.

The idempotency middleware once read a POST's whole body before anything checked who
sent it (a 300 MB chunked POST took the API from 164 MB to 761 MB)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message

from api.settings import get_settings
from tests.api.conftest import ApiWorld

CHUNK = b" " * 65_536


@dataclass
class Client:
    """One request's client: ``chunks`` to send (then an endless supply of ``CHUNK`` if
    ``endless``), and what the app took and answered."""

    chunks: list[bytes]
    endless: bool = False
    stalls: bool = False  # after ``chunks``, sends nothing more (and never ends)
    taken: int = 0  # body messages the app received
    bytes_taken: int = 0
    answer: list[Message] = field(default_factory=list)

    async def receive(self) -> Message:
        if self.taken < len(self.chunks):
            chunk = self.chunks[self.taken]
            more = self.endless or self.stalls or self.taken + 1 < len(self.chunks)
        elif self.stalls:
            await asyncio.sleep(3600)
            raise AssertionError("a stalled body was waited for an hour")
        else:
            chunk, more = CHUNK, True
        self.taken += 1
        self.bytes_taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(self, message: Message) -> None:
        self.answer.append(message)

    @property
    def status(self) -> int:
        return int(self.answer[0]["status"])

    @property
    def error(self) -> str:
        body = b"".join(m.get("body", b"") for m in self.answer[1:])
        code: str = json.loads(body)["error"]["code"]
        return code


def _post(
    world: ApiWorld, path: str, client: Client, headers: dict[str, str], length: int | None
) -> Client:
    framing = (
        [(b"transfer-encoding", b"chunked")]
        if length is None
        else [(b"content-length", str(length).encode())]
    )
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            *[(k.lower().encode(), v.encode()) for k, v in headers.items()],
            *framing,
        ],
        "client": ("127.0.0.1", 50_000),
        "server": ("testserver", 80),
    }
    asyncio.run(world.client.app(scope, client.receive, client.send))  # type: ignore[arg-type]
    return client


def test_a_write_without_credentials_is_refused_before_its_body_is_read(
    api_world: ApiWorld,
) -> None:
    for path in ("/v1/documents", "/v1/webhooks", "/v1/certificates/1/transfers", "/v1/x"):
        for headers in ({}, {"Authorization": "Bearer scf_not-a-key"}):
            declared = _post(api_world, path, Client([CHUNK] * 16), headers, 16 * len(CHUNK))
            assert (declared.status, declared.error, declared.taken) == (401, "unauthenticated", 0)
            streamed = _post(api_world, path, Client([], endless=True), headers, None)
            assert (streamed.status, streamed.error, streamed.taken) == (401, "unauthenticated", 0)
            assert (b"connection", b"close") in streamed.answer[0]["headers"]


def test_a_members_body_is_read_only_up_to_its_limit(api_world: ApiWorld) -> None:
    limit = get_settings().body_max_bytes
    auth = api_world.auth("tier1") | {"Idempotency-Key": "credentials-first-1"}
    endless = _post(api_world, "/v1/webhooks", Client([], endless=True), auth, None)
    assert (endless.status, endless.error) == (413, "payload_too_large")
    assert limit < endless.bytes_taken <= limit + len(CHUNK)  # cut off as the limit passed

    declared = _post(api_world, "/v1/webhooks", Client([]), auth, 300 * 1024 * 1024)
    assert (declared.status, declared.error, declared.taken) == (413, "payload_too_large", 0)


def test_a_members_write_runs_once_authenticated(api_world: ApiWorld) -> None:
    body = json.dumps({"content": "aGVsbG8gY3JlZGVudGlhbHM=", "filename": "x.txt"}).encode()
    headers = api_world.auth("tier2") | {"Idempotency-Key": "credentials-first-2"}
    stored = _post(api_world, "/v1/documents", Client([body[:10], body[10:]]), headers, len(body))
    assert stored.status == 201
    assert stored.taken == 2
    again = _post(api_world, "/v1/documents", Client([body]), headers, len(body))
    assert again.status == 201  # the stored answer, replayed
    assert (b"idempotent-replayed", b"true") in again.answer[0]["headers"]


def test_an_anonymous_write_is_read_without_credentials_and_bounded(
    api_world: ApiWorld,
) -> None:
    path = "/v1/members/applications"
    shallow = b'{"name": [[["x"]]]}'
    parsed = _post(api_world, path, Client([shallow]), {}, len(shallow))
    assert (parsed.status, parsed.error, parsed.taken) == (422, "validation_error", 1)
    endless = _post(api_world, path, Client([], endless=True), {}, None)
    assert (endless.status, endless.error) == (413, "payload_too_large")
    assert endless.bytes_taken <= get_settings().body_max_bytes + len(CHUNK)


def test_a_body_that_stalls_is_answered_408_and_the_connection_closed(
    api_world: ApiWorld,
) -> None:
    app = api_world.client.app
    settings = get_settings().model_copy(update={"body_timeout_seconds": 0.5})
    app.dependency_overrides[get_settings] = lambda: settings  # type: ignore[attr-defined]
    try:
        auth = api_world.auth("tier1") | {"Idempotency-Key": "credentials-first-stall"}
        for path, headers in (("/v1/webhooks", auth), ("/v1/members/applications", {})):
            stalled = _post(api_world, path, Client([b'{"url": '], stalls=True), headers, 1000)
            assert (stalled.status, stalled.error) == (408, "body_timeout")
            assert (b"connection", b"close") in stalled.answer[0]["headers"]
    finally:
        del app.dependency_overrides[get_settings]  # type: ignore[attr-defined]
