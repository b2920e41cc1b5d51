"""The ledger's JSON-RPC server: a client that goes away is not an error of the node's."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from chain.embedded.http import _JsonRpcServer


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
