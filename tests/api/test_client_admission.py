"""``ScfClient.wait_until_admitted``: an applicant's API key answers 403 until the node
has indexed its admission; the client waits that out and nothing else, against a real
HTTP server that answers on cue."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.client import ApiError, ScfClient

ME = {"id": 6, "name": "Ningbo Valve Co., Ltd.", "status": "active"}


class _Admitting(ThreadingHTTPServer):
    """Answers ``/v1/members/me`` with ``statuses`` in turn, then the member; counts asks."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = list(statuses)
        self.asked = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Admitting

    def do_GET(self) -> None:
        assert self.path == "/v1/members/me"
        self.server.asked += 1
        if self.server.statuses:
            status = self.server.statuses.pop(0)
            code = "forbidden" if status == 403 else "unauthorized"
            self._answer(status, {"error": {"code": code, "message": "not yet"}})
        else:
            self._answer(200, ME)

    def _answer(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the client took between asks, instead of sleeping them."""
    taken: list[float] = []
    monkeypatch.setattr("api.client.time.sleep", taken.append)
    return taken


@contextmanager
def _client(statuses: list[int]) -> Iterator[tuple[ScfClient, _Admitting]]:
    server = _Admitting(statuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        with ScfClient(f"http://{host!s}:{port}", "key") as client:
            yield client, server
    finally:
        server.shutdown()
        server.server_close()


def test_it_asks_again_until_the_admission_is_indexed(waits: list[float]) -> None:
    with _client([403, 403, 403]) as (client, server):
        assert client.wait_until_admitted(interval=0.5) == ME
        assert server.asked == 4
    assert waits == [0.5, 0.5, 0.5]


def test_another_refusal_is_raised_at_once(waits: list[float]) -> None:
    with _client([401]) as (client, server):
        with pytest.raises(ApiError) as refused:
            client.wait_until_admitted()
        assert refused.value.status == 401
        assert server.asked == 1
    assert waits == []


def test_a_403_past_the_timeout_is_raised(waits: list[float]) -> None:
    with _client([403] * 5) as (client, _server):
        with pytest.raises(ApiError) as refused:
            client.wait_until_admitted(timeout=0)
        assert refused.value.status == 403
    assert waits == []
