"""The Python client backs off when the node refuses work (503/429) and retries a POST
under the same Idempotency-Key, against a real HTTP server that refuses on cue."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.client import ApiError, ScfClient


class _Refusing(ThreadingHTTPServer):
    """Answers ``refusals`` (status, Retry-After) in turn, then 201; keeps what it saw."""

    def __init__(self, refusals: list[tuple[int, str | None]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refusals = list(refusals)
        self.keys: list[str | None] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Refusing

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.keys.append(self.headers.get("Idempotency-Key"))
        if self.server.refusals:
            status, retry_after = self.server.refusals.pop(0)
            code = "overloaded" if status == 503 else "rate_limited"
            self._answer(status, {"error": {"code": code, "message": "busy"}}, retry_after)
        else:
            self._answer(201, {"id": 7}, None)

    def _answer(self, status: int, body: object, retry_after: str | None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the client chose, instead of sleeping them."""
    chosen: list[float] = []
    monkeypatch.setattr("api.client.time.sleep", chosen.append)
    return chosen


def _serve(refusals: list[tuple[int, str | None]]) -> Iterator[_Refusing]:
    server = _Refusing(refusals)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: _Refusing) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def test_a_refused_post_is_retried_under_its_key_after_retry_after(waits: list[float]) -> None:
    for server in _serve([(503, "2"), (429, "1")]):
        with ScfClient(_url(server), "key", retries=3) as api:
            assert api.post("/v1/things", {"a": 1}) == {"id": 7}
        assert len(server.keys) == 3
        assert len(set(server.keys)) == 1
        assert server.keys[0]
    # Retry-After, plus up to as much again so refused clients spread out.
    assert 2 <= waits[0] <= 4
    assert 1 <= waits[1] <= 2


def test_without_retry_after_the_client_backs_off_doubling(waits: list[float]) -> None:
    for server in _serve([(503, None), (503, "Wed, 21 Oct 2026 07:28:00 GMT"), (503, "-3")]):
        with ScfClient(_url(server), "key", retries=3) as api:
            api.post("/v1/things")
    assert [0.5 <= waits[0] <= 1.0, 1.0 <= waits[1] <= 2.0, 2.0 <= waits[2] <= 4.0] == [True] * 3


def test_a_huge_retry_after_is_capped(waits: list[float]) -> None:
    for server in _serve([(503, "86400")]):
        with ScfClient(_url(server), "key", retries=1) as api:
            api.post("/v1/things")
    assert len(waits) == 1
    assert waits[0] <= 30


def test_the_last_refusal_is_raised_once_retries_are_spent(waits: list[float]) -> None:
    for server in _serve([(503, "1")] * 3):
        with ScfClient(_url(server), "key", retries=2) as api, pytest.raises(ApiError) as refused:
            api.post("/v1/things")
        assert len(server.keys) == 3
    assert refused.value.status == 503
    assert refused.value.code == "overloaded"
    assert len(waits) == 2
