"""Hostile requests against a real node: a body nested 70,000 levels deep once ended the
API process (SIGSEGV: py_ecc raises the recursion limit, so the JSON parser overflowed
the C stack) and, sent to the JSON-RPC, the ledger process; bodies of any size were read
whole. Every process must live through them, and a child that ends anyway (here: killed)
is started again while the API recovers by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nodes.runtime.dev_node import ChildNode, dev_node
from tests.security.node import (
    chunked_post,
    declared_post,
    deep_json,
    process,
    runtime,
    wait_for,
)

ATTACK_DEPTH = 70_000  # crashed the API and the ledger before the bound
APPLY = "/v1/members/applications"  # anonymous: anyone can send it


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "home"


@pytest.fixture(scope="module")
def node(home: Path) -> Iterator[ChildNode]:
    with dev_node(home, home.parent / "node.log") as running:
        yield running


@pytest.fixture(scope="module")
def operator_key(node: ChildNode, home: Path) -> str:
    return (home / "operator-api-key").read_text().strip()


def _health(node: ChildNode) -> dict[str, object]:
    answer = httpx.get(f"{node.api_url}/healthz", timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


@pytest.mark.parametrize("path", [APPLY, "/v1/certificates/1/transfers", "/v1/nowhere"])
def test_deep_json_is_refused_before_parsing_on_any_route(
    node: ChildNode, operator_key: str, path: str
) -> None:
    # with credentials: a member's write body is read only once they are checked
    # (test_credentials_first); an application needs none
    answer = httpx.post(
        f"{node.api_url}{path}",
        content=deep_json(ATTACK_DEPTH),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {operator_key}"},
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "json_too_deep"
    _health(node)  # the API lives


def test_nesting_a_little_deep_is_still_read(node: ChildNode) -> None:
    shallow = b'{"name": [[["x"]]]}'
    answer = httpx.post(f"{node.api_url}{APPLY}", content=shallow, timeout=30)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"  # parsed, then judged


def test_a_declared_length_over_the_limit_is_refused_before_the_body(node: ChildNode) -> None:
    status, answer = declared_post(node.api_url, APPLY, 500 * 1024 * 1024)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"


def test_a_chunked_body_is_cut_off_at_the_limit(node: ChildNode, operator_key: str) -> None:
    chunk = b" " * 65536
    status, answer, sent = chunked_post(node.api_url, APPLY, chunk, 64 * 1024 * 1024)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert sent < 64 * 1024 * 1024  # answered before the client was done


def test_a_keyed_write_with_a_huge_body_is_refused(node: ChildNode, operator_key: str) -> None:
    """The idempotency middleware reads a POST's body to fingerprint it: never past the
    limit (a 300 MB body once took the API's memory from 164 MB to 761 MB)."""
    answer = httpx.post(
        f"{node.api_url}/v1/webhooks",
        content=b'{"url": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"Authorization": f"Bearer {operator_key}", "Idempotency-Key": "huge-1"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/certificates?offset=9223372036854775808",  # once a 500 and a reset connection
        "/v1/members?limit=-1",
        "/v1/certificates/1.0",  # once certificate 1
        "/v1/certificates/99999999999999999999999",
        "/v1/certificates/%EF%BC%91",  # a full-width digit one
    ],
)
def test_integers_out_of_range_or_loosely_written_are_422(
    node: ChildNode, operator_key: str, path: str
) -> None:
    answer = httpx.get(
        f"{node.api_url}{path}", headers={"Authorization": f"Bearer {operator_key}"}, timeout=10
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


def test_a_member_flooding_event_streams_is_bounded_and_others_are_served(
    node: ChildNode, operator_key: str
) -> None:
    """120-200 idle streams of one member once took every pooled connection: other
    members' reads waited 23 s and failed. Now a member holds 8 (429 beyond), and an idle
    stream holds no connection."""
    auth = {"Authorization": f"Bearer {operator_key}"}
    with httpx.Client(base_url=node.api_url, headers=auth, timeout=10) as client:
        held = [client.stream("GET", "/v1/events") for _ in range(8)]
        streams = [opened.__enter__() for opened in held]
        try:
            assert [stream.status_code for stream in streams] == [200] * 8
            refused = client.get("/v1/events")
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "rate_limited"
            assert refused.headers["Retry-After"]
            for _ in range(20):  # reads go on beside the held streams
                assert client.get("/v1/members").status_code == 200
        finally:
            for opened in held:
                opened.__exit__(None, None, None)
        # the places come back once the streams are closed
        wait_for(lambda: _opens_a_stream(client) or None, "a stream place freed")


def _opens_a_stream(client: httpx.Client) -> bool:
    with client.stream("GET", "/v1/events") as stream:
        return stream.status_code == 200


def test_deep_json_to_the_ledger_gets_an_error_object(node: ChildNode) -> None:
    answer = httpx.post(node.rpc_url, content=deep_json(ATTACK_DEPTH), timeout=30)
    assert answer.status_code == 200
    assert answer.json()["error"]["code"] == -32700
    # the ledger lives: it answers, and it was not restarted
    assert httpx.post(node.rpc_url, json=_rpc("eth_blockNumber"), timeout=10).json()["result"]
    assert process(_health(node), "ledger")["restarts"] == 0


def test_malformed_json_rpc_gets_error_objects(node: ChildNode) -> None:
    too_large = httpx.post(node.rpc_url, content=b" " * (6 * 1024 * 1024), timeout=30)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == -32600
    by_name = httpx.post(
        node.rpc_url, json={**_rpc("eth_getBalance"), "params": {"address": "0x0"}}, timeout=10
    )
    assert by_name.json()["error"]["code"] == -32602
    bad_address = httpx.post(node.rpc_url, json=_rpc("eth_getBalance", [["x"]]), timeout=10)
    assert "error" in bad_address.json()


def _rpc(method: str, params: list[object] | None = None) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}


def test_a_ledger_that_dies_is_restarted_and_the_api_recovers(
    node: ChildNode, home: Path, operator_key: str
) -> None:
    before = process(_health(node), "ledger")
    log_file = home.parent / "node.log"
    logged_before = log_file.read_text("utf-8", "replace")
    os.kill(before["pid"], signal.SIGKILL)

    def restarted() -> dict[str, object] | None:
        answer = httpx.get(f"{node.api_url}/healthz", timeout=10)
        if answer.status_code != 200:
            return None
        ledger = process(answer.json(), "ledger")
        return ledger if ledger["restarts"] == 1 else None

    ledger = wait_for(restarted, "the ledger is started again and /healthz answers 200")
    assert ledger["state"] == "running"
    assert ledger["pid"] != before["pid"]
    assert ledger["last_exit_code"] == -signal.SIGKILL
    # the API answers members again, with the stored head
    members = httpx.get(
        f"{node.api_url}/v1/members/me",
        headers={"Authorization": f"Bearer {operator_key}"},
        timeout=10,
    )
    assert members.status_code == 200, members.text
    metrics = httpx.get(f"{node.api_url}/metrics", timeout=10).text
    assert 'scf_node_process_restarts_total{process="ledger"} 1.0' in metrics
    assert 'scf_node_process_up{process="ledger"} 1.0' in metrics
    shown = wait_for(
        lambda: process(runtime(home), "ledger")["restarts"] == 1 and runtime(home),
        "node.run.json shows the restart",
    )
    assert process(shown, "ledger")["state"] == "running"
    status = subprocess.run(
        [sys.executable, "-m", "nodes", "status", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)["node"]["processes"]
    assert process({"processes": reported}, "ledger")["restarts"] == 1
    # the outage was told once, not once per request or indexer pass
    logged = log_file.read_text("utf-8", "replace")[len(logged_before) :]
    assert "Traceback" not in logged
    assert logged.count("ledger unreachable") <= 2, logged  # the API, and the replica's


def test_a_read_replica_that_dies_is_restarted(node: ChildNode) -> None:
    before = process(_health(node), "read_replica")
    os.kill(before["pid"], signal.SIGKILL)

    def restarted() -> dict[str, object] | None:
        replica = process(_health(node), "read_replica")
        return replica if replica["restarts"] == 1 and replica["state"] == "running" else None

    replica = wait_for(restarted, "the read replica is started again")
    assert replica["pid"] != before["pid"]
    assert wait_for(
        lambda: httpx.get(f"{node.read_url}/healthz", timeout=10).status_code == 200,
        "the read replica answers",
    )
