"""Admission (``api.admission``): requests beyond what the node runs at once are refused
at once with Retry-After, before they take a worker thread or a pooled connection;
``/healthz`` answers while every worker thread is taken; a write gives its pooled
connection back before it waits for the ledger. (A real node under a burst of 400
writes: ``tests/security/test_write_burst.py``.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.admission import InFlight
from api.app import create_app
from api.errors import status_of
from api.health import LedgerHead
from api.readmodel.database import make_engine, migrate, session_factory
from api.services.writer import LedgerWriter
from api.settings import Settings, get_settings
from chain.accounts import Signer
from chain.backends import open_ledger
from chain.errors import LedgerError, ScfError
from chain.ledger import Ledger

WAIT = 30.0


class Gate:
    """Test routes that hold their worker thread until ``open`` is set."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)

    def hold(self) -> dict[str, bool]:
        self.entered.release()
        assert self.open.wait(WAIT)
        return {"done": True}

    def wait_entered(self, count: int) -> None:
        for _ in range(count):
            assert self.entered.acquire(timeout=WAIT), "a held request reached its route"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _app(engine: Engine, gate: Gate, settings: Settings) -> FastAPI:
    app = create_app(open_ledger("tester"), session_factory(engine))
    app.dependency_overrides[get_settings] = lambda: settings
    app.post("/test/hold")(gate.hold)
    app.get("/test/hold")(gate.hold)
    return app


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate()
    yield held
    held.open.set()


def _send(pool: ThreadPoolExecutor, client: TestClient, method: str, **kw: Any) -> Future[Any]:
    return pool.submit(client.request, method, "/test/hold", **kw)


def test_writes_beyond_the_bound_are_refused_at_once(engine: Engine, gate: Gate) -> None:
    app = _app(engine, gate, Settings(writes_max_in_flight=2))
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        running = [
            _send(pool, client, "POST", headers={"Authorization": f"Bearer k{i}"}) for i in range(2)
        ]
        gate.wait_entered(2)
        sent = time.monotonic()
        refused = client.post("/test/hold", headers={"Authorization": "Bearer k3"})
        assert time.monotonic() - sent < 5  # not after the held ones
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        error = refused.json()["error"]
        assert error["code"] == "overloaded"
        assert error["details"] == {"limit": 2, "retry_after": 1}
        metrics = client.get("/metrics").text  # not counted itself
        assert 'scf_http_requests_in_flight{kind="write"} 2.0' in metrics
        assert (
            'scf_http_requests_total{method="POST",route="/test/hold",status="503"} 1.0' in metrics
        )
        # reads still run beside the held writes
        read = _send(pool, client, "GET")
        gate.wait_entered(1)
        gate.open.set()
        assert [f.result(WAIT).status_code for f in [*running, read]] == [200] * 3
        # the places are free again
        assert client.post("/test/hold").status_code == 200


def test_one_callers_writes_are_bounded_apart_from_others(engine: Engine, gate: Gate) -> None:
    app = _app(engine, gate, Settings(writes_max_in_flight_per_caller=1))
    mine = {"Authorization": "Bearer mine"}
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        held = _send(pool, client, "POST", headers=mine)
        gate.wait_entered(1)
        refused = client.post("/test/hold", headers=mine)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "1"
        other = _send(pool, client, "POST", headers={"Authorization": "Bearer other"})
        gate.wait_entered(1)  # another caller's write runs
        gate.open.set()
        assert held.result(WAIT).status_code == other.result(WAIT).status_code == 200


def test_the_last_write_places_are_kept_for_callers_with_few_writes_running() -> None:
    in_flight = InFlight()
    settings = Settings(
        writes_max_in_flight=8, writes_max_in_flight_per_caller=6, writes_reserved_percent=25
    )
    for _ in range(5):
        in_flight.admit(settings, "heavy")
    in_flight.admit(settings, "second")  # 6 of 8: the unreserved places are taken
    in_flight.admit(settings, "second")  # it had one running: still a light caller
    with pytest.raises(ScfError, match="kept for callers with fewer than 2") as refused:
        in_flight.admit(settings, "heavy")
    assert status_of(refused.value) == 429
    assert refused.value.code == "rate_limited"
    with pytest.raises(ScfError, match="kept for callers"):
        in_flight.admit(settings, "second")
    in_flight.admit(settings, "newcomer")  # the last place: a caller with none running
    with pytest.raises(ScfError, match="8 writes at once") as full:
        in_flight.admit(settings, "another")
    assert status_of(full.value) == 503
    assert in_flight.counts() == (8, 8)


def test_heavy_callers_leave_room_for_another_member_through_the_app(
    engine: Engine, gate: Gate
) -> None:
    settings = Settings(writes_max_in_flight=4, writes_reserved_percent=50)
    app = _app(engine, gate, settings)
    heavy = {"Authorization": "Bearer heavy"}
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        held = [_send(pool, client, "POST", headers=heavy) for _ in range(2)]
        gate.wait_entered(2)
        refused = client.post("/test/hold", headers=heavy)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["details"] == {"limit": 2, "retry_after": 1}
        other = _send(pool, client, "POST", headers={"Authorization": "Bearer other"})
        gate.wait_entered(1)
        gate.open.set()
        assert [f.result(WAIT).status_code for f in [*held, other]] == [200] * 3


def test_all_requests_are_bounded(engine: Engine, gate: Gate) -> None:
    app = _app(engine, gate, Settings(requests_max_in_flight=2, writes_max_in_flight=1))
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        held = [_send(pool, client, "GET") for _ in range(2)]
        gate.wait_entered(2)
        assert client.get("/test/hold").status_code == 503
        assert client.get("/healthz").status_code == 200  # exempt, and on the event loop
        gate.open.set()
        assert [f.result(WAIT).status_code for f in held] == [200, 200]


def test_health_answers_while_every_worker_thread_is_taken(engine: Engine, gate: Gate) -> None:
    app = _app(engine, gate, Settings(worker_threads=4, writes_max_in_flight=2))
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        held = [_send(pool, client, "GET") for _ in range(4)]
        gate.wait_entered(4)
        waiting = _send(pool, client, "GET")  # a fifth finds no worker thread
        time.sleep(0.2)
        assert not waiting.done()
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        gate.open.set()
        assert [f.result(WAIT).status_code for f in [*held, waiting]] == [200] * 5


def test_a_request_that_fails_gives_its_place_back() -> None:
    in_flight = InFlight()
    settings = Settings(writes_max_in_flight=1, requests_max_in_flight=1)
    end = in_flight.admit(settings, "caller")
    with pytest.raises(Exception, match="1 requests at once"):
        in_flight.admit(settings, None)
    end()
    end()  # once only
    assert in_flight.counts() == (0, 0)
    in_flight.admit(settings, "caller")


def test_writes_must_leave_worker_threads_for_reads() -> None:
    with pytest.raises(ValueError, match="must be below worker_threads"):
        Settings(worker_threads=8, writes_max_in_flight=8)


# ---- /healthz's probe ------------------------------------------------------------------


class SlowLedger:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.chain_id = 7

    def get_block(self, block: str) -> dict[str, int]:
        self.calls += 1
        time.sleep(self.delay)
        return {"number": self.calls, "timestamp": 1_700_000_000}


def _ledger(fake: SlowLedger) -> Ledger:
    ledger: Ledger = fake  # type: ignore[assignment]  # the two calls LedgerHead makes
    return ledger


@pytest.mark.anyio
async def test_health_reads_the_head_once_per_interval() -> None:
    now = [100.0]
    fake = SlowLedger()
    head = LedgerHead(_ledger(fake), fresh_seconds=0.5, clock=lambda: now[0])
    first = await head.read()
    assert (await head.read()) == first
    now[0] += 0.6
    assert (await head.read()).number == 2
    assert fake.calls == 2


@pytest.mark.anyio
async def test_health_gives_up_on_a_ledger_that_does_not_answer() -> None:
    head = LedgerHead(_ledger(SlowLedger(delay=2.0)), timeout_seconds=0.2)
    sent = time.monotonic()
    with pytest.raises(LedgerError, match="did not give its head"):
        await head.read()
    assert time.monotonic() - sent < 1.5


# ---- no pooled connection held while a write waits for its block ----------------------


def test_a_write_holds_no_pooled_connection_while_it_waits(engine: Engine) -> None:
    seen: list[int] = []

    class Custody:
        def signer_for_member(self, session: Session, member_id: int) -> Signer:
            session.execute(text("SELECT 1"))  # reads, as the real one does
            return Signer.create()

    class Txm:
        store = None

        def submit(self, *args: Any, **kw: Any) -> Any:
            seen.append(engine.pool.checkedout())  # type: ignore[attr-defined]
            return SimpleNamespace(reused=False)

        def wait(self, pending: Any) -> dict[str, int]:
            seen.append(engine.pool.checkedout())  # type: ignore[attr-defined]
            return {"blockNumber": 1}

    indexer = SimpleNamespace(sync=lambda block: None)
    contract = SimpleNamespace(
        encode=lambda *a: b"", ledger=SimpleNamespace(rehearse_writes=False), address="0x0"
    )
    writer = LedgerWriter(Txm(), Custody(), indexer)  # type: ignore[arg-type]
    with session_factory(engine)() as session:
        session.execute(text("SELECT 1"))  # the route read before it wrote
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        member = SimpleNamespace(id=4)
        writer.write(session, member, contract, "splitTransfer")  # type: ignore[arg-type]
    assert seen == [0, 0]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
