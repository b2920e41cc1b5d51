"""When the node's JSON-RPC needs its bearer token, and the token file itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nodes.home import NodeHome
from nodes.rpc_token import ensure_token, needs_token, read_token, token_file


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert not needs_token(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "node1.example", "fe80::1"])
def test_anything_beyond_loopback_needs_the_token(host: str) -> None:
    assert needs_token(host)


def test_the_token_is_made_once_private_and_kept(tmp_path: Path) -> None:
    home = NodeHome(tmp_path)
    assert read_token(home) is None
    token = ensure_token(home)
    assert len(token) >= 43  # 256 random bits, url-safe base64
    assert stat.S_IMODE(token_file(home).stat().st_mode) == 0o600
    assert ensure_token(home) == token == read_token(home)
    assert [p.name for p in tmp_path.iterdir()] == ["rpc-token"]  # no draft left behind
    other = tmp_path / "other"
    other.mkdir()
    assert ensure_token(NodeHome(other)) != token
