"""The benchmark's kept-alive client: JSON both ways, and a connection the server closed
while idle is opened again for the next request."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator

import pytest

from scripts.bench.http_client import KeptAliveClient


class _OneRequestPerConnection(socketserver.StreamRequestHandler):
    """Answers one HTTP/1.1 request as if keeping the connection, then drops it silently
    (what a server's idle keep-alive timeout does)."""

    def handle(self) -> None:
        request_line = self.rfile.readline().decode()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", "0")))
        answer = json.dumps({"line": request_line.strip(), "body": body.decode()}).encode()
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(answer)}\r\n\r\n".encode()
            + answer
        )


@pytest.fixture
def url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _OneRequestPerConnection)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_posts_and_gets_survive_a_closed_connection(url: str) -> None:
    with KeptAliveClient(url, timeout=5) as client:
        first = client.post("/v1/things", json_body={"a": 1}, headers={"X-Key": "k"})
        assert first.status_code == 200
        assert first.json() == {"line": "POST /v1/things HTTP/1.1", "body": '{"a": 1}'}
        # the server dropped that connection: the next request goes out on a new one
        second = client.get("/v1/things", params={"holder_id": 7}, headers={})
        assert second.json()["line"] == "GET /v1/things?holder_id=7 HTTP/1.1"
