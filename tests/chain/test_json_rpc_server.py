"""The ledger's JSON-RPC server: a client that goes away is not an error of the node's; a
body that is slow, short of its length or too large holds no thread and is never
buffered; with a token, nothing is read before the token is checked."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chain.backends.embedded import EmbeddedLedger
from chain.backends.rpc import RpcLedger
from chain.backends.scf_node import ScfNodeLedger
from chain.embedded.http import _JsonRpcServer, make_server, serve_in_background
from chain.errors import LedgerError
from tests.security.node import declared_post


@pytest.fixture
def server() -> Iterator[_JsonRpcServer]:
    server = _JsonRpcServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    yield server
    server.server_close()


@pytest.mark.parametrize("gone", [ConnectionResetError, BrokenPipeError, ConnectionAbortedError])
def test_a_client_that_went_away_prints_nothing(
    server: _JsonRpcServer, gone: type[ConnectionError], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        raise gone("the client went away")
    except ConnectionError:
        server.handle_error(None, ("127.0.0.1", 50000))
    assert capsys.readouterr().err == ""


def test_any_other_failure_is_still_reported(
    server: _JsonRpcServer, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        raise ValueError("a bug in a handler")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 50000))
    assert "ValueError: a bug in a handler" in capsys.readouterr().err


# ---- a served ledger: slow or lying bodies, sizes, the bearer token -------------------------

TOKEN = "the-token"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLedger]:
    opened = EmbeddedLedger(tmp_path_factory.mktemp("rpc") / "ledger", dev=True)
    yield opened
    opened.close()


@contextmanager
def _serving(ledger: EmbeddedLedger, **options: Any) -> Iterator[str]:
    server = make_server(ledger.handler, "127.0.0.1", 0, **options)
    serve_in_background(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _block_number(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=60)


def _closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the client's timeout,
    60 s, fails the test if it never does)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_body_shorter_than_its_length_does_not_hold_a_thread(ledger: EmbeddedLedger) -> None:
    with _serving(ledger, read_timeout=2.0) as url, _connect(url) as stalled:
        stalled.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"jsonrpc": "2.0", '
        )  # ... and the rest never comes
        # meanwhile the server answers others
        for _ in range(3):
            assert _block_number(url).json()["result"].startswith("0x")
        answer = _closed_by_server(stalled)
        assert answer.startswith(b"HTTP/1.0 408") or answer.startswith(b"HTTP/1.1 408")
        assert b'"code": -32600' in answer
        assert _block_number(url).status_code == 200


def test_a_trickled_body_is_cut_off(ledger: EmbeddedLedger) -> None:
    """A byte every half second keeps each read alive, never the whole body."""
    with _serving(ledger, read_timeout=1.0) as url, _connect(url) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        answered = b""
        for _ in range(60):  # 30 s of trickle at most
            try:
                slow.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([slow], [], [], 0.5)
            if readable:
                answered = _closed_by_server(slow)
                break
        assert b" 408 " in answered.split(b"\r\n", 1)[0]


def test_headers_that_never_end_do_not_hold_a_thread(ledger: EmbeddedLedger) -> None:
    with _serving(ledger, read_timeout=1.0) as url, _connect(url) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        assert _block_number(url).status_code == 200
        _closed_by_server(stalled)  # closed: the test would time out otherwise


def test_an_idle_kept_alive_connection_is_closed_and_the_client_reconnects(
    ledger: EmbeddedLedger,
) -> None:
    with _serving(ledger, read_timeout=0.2) as url:
        client = ScfNodeLedger(url)
        first = client.block_number()
        time.sleep(1.0)  # the server closed the idle connection meanwhile
        assert client.block_number() >= first  # sent again on a new one
        client.close()


def test_connections_beyond_the_bound_are_told_to_come_back(ledger: EmbeddedLedger) -> None:
    with _serving(ledger, max_connections=2) as url:
        idle = [_connect(url), _connect(url)]  # each holds a thread, sending nothing
        time.sleep(0.2)  # both accepted
        with _connect(url) as third:
            refused = _closed_by_server(third)
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in refused
        assert b'"code": -32005' in refused
        idle[0].close()
        for _ in range(100):  # its thread ends when it sees the close, and frees its place
            answer = _block_number(url)
            if answer.status_code == 200:
                break
            time.sleep(0.05)
        assert answer.json()["result"].startswith("0x")
        idle[1].close()


def test_a_huge_declared_length_is_refused_without_reading_the_body(
    ledger: EmbeddedLedger,
) -> None:
    with _serving(ledger) as url:
        status, answer = declared_post(url, "/", 500 * 1024 * 1024)  # sends no body
        assert status == 413
        assert answer["error"]["code"] == -32600


def test_without_the_token_a_request_is_refused_before_its_body(ledger: EmbeddedLedger) -> None:
    with _serving(ledger, token=TOKEN) as url:
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            refused = _block_number(url, headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert refused.json()["error"]["code"] == -32600
        # the body is never read: a declared 500 MB answers 401, not 413, and at once
        status, answer = declared_post(url, "/", 500 * 1024 * 1024)
        assert status == 401
        assert "Authorization" in answer["error"]["message"]
        allowed = _block_number(url, {"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        assert allowed.json()["result"].startswith("0x")


def test_an_open_method_needs_no_token_and_opens_nothing_else(ledger: EmbeddedLedger) -> None:
    """A consortium peer's signed forward is answered without the token; every other
    method, and a batch that holds the open one, still needs it."""
    with _serving(ledger, token=TOKEN, open_methods=frozenset({"eth_chainId"})) as url:
        open_call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        answered = httpx.post(url, json=open_call, timeout=30)
        assert answered.status_code == 200
        assert int(answered.json()["result"], 16) == ledger.chain_id
        assert _block_number(url).status_code == 401
        batch = [open_call, {**open_call, "method": "eth_blockNumber"}]
        assert httpx.post(url, json=batch, timeout=30).status_code == 401
        assert httpx.post(url, content=b"{not json", timeout=30).status_code == 401
        allowed = _block_number(url, {"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200


def test_the_node_clients_send_the_token(ledger: EmbeddedLedger) -> None:
    with _serving(ledger, token=TOKEN) as url:
        for client in (ScfNodeLedger(url, token=TOKEN), RpcLedger(url, token=TOKEN)):
            assert client.block_number() >= 0
            assert client.chain_id == ledger.chain_id  # through web3.py's pipeline
            client.close()
        for client in (ScfNodeLedger(url), RpcLedger(url)):
            with pytest.raises(LedgerError):
                client.block_number()
            client.close()
