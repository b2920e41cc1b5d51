"""A real node whose JSON-RPC listens beyond loopback (``--rpc-host 0.0.0.0``): every
request needs the bearer token in the home's ``rpc-token``, refused with 401 before its
body is read; the node's own clients (the API, the read replica, ``scf-node status``)
send it and work as before."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from nodes.runtime.dev_node import ChildNode, dev_node
from tests.security.node import declared_post

OTHER_LOOPBACK = "127.0.0.2"  # reaches a wildcard listener only


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rpc-token") / "home"


@pytest.fixture(scope="module")
def node(home: Path) -> Iterator[ChildNode]:
    with dev_node(home, home.parent / "node.log", options=["--rpc-host", "0.0.0.0"]) as running:
        yield running


@pytest.fixture(scope="module")
def token(node: ChildNode, home: Path) -> str:
    return (home / "rpc-token").read_text().strip()


def _post(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"fromBlock": "0x0"}]}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def _everywhere(node: ChildNode) -> str:
    return f"http://{OTHER_LOOPBACK}:{urlsplit(node.rpc_url).port}"


def test_the_token_file_is_private(node: ChildNode, home: Path) -> None:
    assert stat.S_IMODE((home / "rpc-token").stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["loopback", "wildcard"])
def test_without_the_token_nothing_is_read(node: ChildNode, token: str, where: str) -> None:
    url = node.rpc_url if where == "loopback" else _everywhere(node)
    for headers in (None, {"Authorization": "Bearer not-the-token"}):
        refused = _post(url, headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == -32600
        assert "result" not in refused.json()
    allowed = _post(url, {"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    assert isinstance(allowed.json()["result"], list)


def test_the_token_is_checked_before_the_body(node: ChildNode) -> None:
    status, answer = declared_post(node.rpc_url, "/", 200 * 1024 * 1024)  # sends no body
    assert status == 401
    assert "Authorization" in answer["error"]["message"]


def test_the_node_clients_use_the_token(node: ChildNode, home: Path) -> None:
    # the API and the read replica reach the ledger (they started, and answer)
    key = (home / "operator-api-key").read_text().strip()
    for base in (node.api_url, node.read_url):
        me = httpx.get(
            f"{base}/v1/members/me", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert me.status_code == 200, me.text
    # and so do the commands beside the running node
    status = subprocess.run(
        [sys.executable, "-m", "nodes", "status", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    shown: dict[str, Any] = json.loads(status.stdout)
    assert shown["node"]["running"] is True
    assert shown["head"]["block"] > 0  # read over the JSON-RPC, with the token
