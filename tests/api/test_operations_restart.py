"""?wait=false operations are durable: one accepted by an API that stops before it
completes is resumed by the API started next over the same read model, keys and
transaction store, and completes once (FireFly's operations model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.readmodel.models import OperationRequestRow, OperationRow
from api.services.api_keys import hash_key, issue_key, revoke_key
from api.services.container import services_of
from api.wire import hex0x
from tests.api.app_services import node_writer
from tests.api.conftest import ApiWorld
from tests.api.writes import second_app, sent_count, wait_for
from tests.helpers import AGREEMENT, issue_certificate, mint, request_financing

TERMS = {"rate_bps": 500, "agreement_hash": hex0x(AGREEMENT)}


class Gate:
    """The bank's write lock in the first API, saying when a run waits at it and when a
    run went through it: the run is then known to be inside the route, before anything
    was signed, and known to have ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = threading.Event()
        self.passed = threading.Event()

    def close(self) -> None:
        self._lock.acquire()

    def open(self) -> None:
        self._lock.release()

    def __enter__(self) -> Gate:
        self.waiting.set()
        self._lock.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self._lock.release()
        self.passed.set()


@contextmanager
def serving(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _approval(api_world: ApiWorld) -> str:
    """The path of a financing approval the bank can make (it holds the tokens)."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier3, 50_000_00)
    request_id = request_financing(w, w.tier3, certificate, w.bank, 10_000_00)
    mint(w, w.bank, w.bank, 10_000_00)
    api_world.sync()
    return f"/v1/financing-requests/{request_id}/approve"


def _kept(api_world: ApiWorld, operation_id: str) -> OperationRequestRow | None:
    with api_world.sessions() as session:
        return session.get(OperationRequestRow, operation_id)


def _finished(client: TestClient, api_world: ApiWorld, operation_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        response = client.get(f"/v1/operations/{operation_id}", headers=api_world.auth("bank"))
        assert response.status_code == 200, response.text
        operation: dict[str, Any] = response.json()
        return None if operation["status"] == "pending" else operation

    return wait_for(done)


def test_an_operation_accepted_before_a_stop_completes_once_after_the_restart(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first API accepts the approval (202) and stops before it completes: its run is
    held at the bank's write lock, inside the route, while the API stops (a run under way
    is cut short: its answer is never stored). The next API resumes it at start; the first
    run, let go only then, finds the transactions the resumed run sent under the
    operation's key, and sends none."""
    path = _approval(api_world)
    before = sent_count(api_world, "bank")
    first = second_app(api_world)
    services_of(first).operations.drain_seconds = 0  # a stop does not wait for the run
    gate = Gate()
    monkeypatch.setattr(node_writer(first), "member_lock", lambda _member_id: gate)
    gate.close()
    held = True
    stopping = None
    try:
        client = TestClient(first, raise_server_exceptions=False)
        client.__enter__()
        accepted = client.post(
            path, json=TERMS, params={"wait": "false"}, headers=api_world.auth("bank")
        )
        assert accepted.status_code == 202, accepted.text
        operation_id = accepted.json()["operation_id"]

        # kept for the restart, without the credentials
        kept = _kept(api_world, operation_id)
        assert kept is not None
        assert kept.api_key_hash == hash_key(api_world.keys["bank"])
        assert all(name.lower() != "authorization" for name, _ in json.loads(kept.headers))
        assert api_world.keys["bank"] not in kept.headers + kept.body
        assert kept.body_sealed  # the node has a data key: the body is sealed with it

        assert gate.waiting.wait(timeout=30)  # the first run is in the route
        stopping = threading.Thread(target=client.__exit__, args=(None, None, None))
        stopping.start()  # returns once the held run, if it had started, is let go
        with serving(second_app(api_world)) as restarted:
            operation = _finished(restarted, api_world, operation_id)
            assert operation["status"] == "succeeded", operation
            assert operation["status_code"] == 200
            assert operation["body"]["status"] == "approved"
            assert _kept(api_world, operation_id) is None  # let go with the answer
            sent_by_resumed = sum(node_writer(restarted.app).transaction_counts()[0].values())
        gate.open()
        held = False
        assert gate.passed.wait(timeout=60)  # the first run went on, and ended
    finally:
        if held:
            gate.open()
        if stopping is not None:
            stopping.join(timeout=60)
    assert stopping is not None
    assert not stopping.is_alive()
    # the first run signed nothing: it found both transactions under the operation's key
    assert sum(node_writer(first).transaction_counts()[0].values()) == 0
    assert sent_by_resumed >= 1
    assert sent_count(api_world, "bank") == before + sent_by_resumed
    with api_world.sessions() as session:
        row = session.get_one(OperationRow, operation_id)
        assert (row.state, row.status_code) == ("succeeded", 200)
    # and the bank's client reads it from the API it talks to now
    again = api_world.client.get(f"/v1/operations/{operation_id}", headers=api_world.auth("bank"))
    assert again.json()["status"] == "succeeded"


def test_a_restart_resumes_nothing_when_nothing_is_pending(api_world: ApiWorld) -> None:
    with api_world.sessions() as session:
        assert session.scalars(select(OperationRequestRow)).all() == []
    before = sent_count(api_world, "bank")
    with serving(second_app(api_world)) as restarted:
        assert restarted.get("/healthz").status_code == 200
    assert sent_count(api_world, "bank") == before


def test_a_resumed_operation_authenticates_again(
    api_world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept request runs with the credentials it came with, checked as it runs: its API
    key revoked while the node was down, the resumed operation fails 401 and signs
    nothing. The first API stops right after its 202, before its worker took the
    operation."""
    path = _approval(api_world)
    bank = api_world.world.bank
    with api_world.sessions.begin() as session:
        issued = issue_key(session, bank.id, label="revoked while the node is down")
    before = sent_count(api_world, "bank")
    first = second_app(api_world)
    monkeypatch.setattr(services_of(first).operations, "submit", lambda _operation_id: None)
    with serving(first) as client:
        accepted = client.post(
            path,
            json=TERMS,
            params={"wait": "false"},
            headers={"Authorization": f"Bearer {issued.key}"},
        )
    assert accepted.status_code == 202, accepted.text
    operation_id = accepted.json()["operation_id"]
    assert _kept(api_world, operation_id) is not None
    with api_world.sessions.begin() as session:
        assert revoke_key(session, bank.id, issued.prefix) == 1
    with serving(second_app(api_world)) as restarted:
        operation = _finished(restarted, api_world, operation_id)
    assert (operation["status"], operation["status_code"]) == ("failed", 401)
    assert operation["body"]["error"]["code"] == "unauthenticated"
    assert _kept(api_world, operation_id) is None
    assert sent_count(api_world, "bank") == before
