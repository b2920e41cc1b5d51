"""The read replica's app (``build_read_api``): the API's reads over the same read model,
writes refused before anything runs, synchronous routes on the event loop thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.readmodel.models import OperationRow
from api.replica import InlineSyncMiddleware
from nodes.home import NodeHome
from nodes.runtime.service import build_read_api
from tests.api.conftest import ApiWorld
from tests.api.writes import invoice_body, post

PRIMARY = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def replica(
    api_world: ApiWorld, read_model_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    home = NodeHome(Path(tmp_path_factory.mktemp("replica-home")))
    consortium = api_world.world.consortium
    app = build_read_api(home, consortium, "test passphrase", read_model_url, PRIMARY)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_replica_reads_what_the_primary_reads(api_world: ApiWorld, replica: TestClient) -> None:
    created = post(api_world, "tier1", "/v1/invoices", invoice_body(api_world), key="replica-1")
    assert created.status_code == 201, created.text
    tier1 = api_world.world.tier1.id
    for path in ("/v1/members/me", f"/v1/invoices?seller_id={tier1}", "/healthz"):
        primary = api_world.client.get(path, headers=api_world.auth("tier1"))
        answer = replica.get(path, headers=api_world.auth("tier1"))
        assert (answer.status_code, answer.json()) == (200, primary.json()), path
    assert replica.get("/v1/members/me").status_code == 401  # keys are checked as usual
    invoice = created.json()["key"]
    assert replica.get(f"/v1/invoices/{invoice}", headers=api_world.auth("bank")).status_code in (
        403,
        404,
    )  # and so are object-level rights


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_refused_and_name_the_primary(replica: TestClient, method: str) -> None:
    answer = replica.request(method, "/v1/invoices", json={})
    assert answer.status_code == 503
    assert answer.json() == {
        "error": {
            "code": "writes_unavailable",
            "message": f"this is the node's read replica: send writes to {PRIMARY}",
            "details": {"primary_url": PRIMARY},
        }
    }


def test_a_write_refused_by_the_replica_leaves_nothing_behind(
    api_world: ApiWorld, replica: TestClient
) -> None:
    body = invoice_body(api_world)
    headers = api_world.auth("tier1") | {"Idempotency-Key": "replica-then-primary"}
    assert replica.post("/v1/invoices", json=body, headers=headers).status_code == 503
    with api_world.sessions() as session:  # the replica never writes to the read model
        kept = select(OperationRow).where(OperationRow.idempotency_key == "replica-then-primary")
        assert session.scalars(kept).all() == []
    # the retry on the primary runs the request: no stored 503 answers it
    done = post(api_world, "tier1", "/v1/invoices", body, key="replica-then-primary")
    assert done.status_code == 201, done.text
    assert "Idempotent-Replayed" not in done.headers


def test_the_replica_serves_no_portal_pages(api_world: ApiWorld, replica: TestClient) -> None:
    """Signing in to the member portal writes a session: its pages are the primary's. The
    REST reads of portal users stay, like every GET of the API."""
    for path in ("/portal/sign-in", "/portal/static/portal.css", "/portal/holdings"):
        assert api_world.client.get(path, follow_redirects=False).status_code in (200, 303), path
        assert replica.get(path, follow_redirects=False).status_code == 404, path
    assert replica.get("/", follow_redirects=False).status_code == 404  # no way into it
    primary = api_world.client.get("/v1/portal/users", headers=api_world.auth("tier1"))
    answer = replica.get("/v1/portal/users", headers=api_world.auth("tier1"))
    assert (answer.status_code, answer.json()) == (200, primary.json())


def _threads_app(inline: bool) -> FastAPI:
    app = FastAPI()

    async def loop_thread() -> str:  # async dependencies run on the event loop thread
        return threading.current_thread().name

    def dependency_thread() -> str:
        return threading.current_thread().name

    @app.get("/threads")
    def threads(
        loop: str = Depends(loop_thread), dependency: str = Depends(dependency_thread)
    ) -> dict[str, str]:
        return {"loop": loop, "dependency": dependency, "route": threading.current_thread().name}

    if inline:
        app.add_middleware(InlineSyncMiddleware)
    return app


def test_sync_routes_run_on_the_loop_only_in_the_marked_app() -> None:
    with TestClient(_threads_app(inline=True)) as inline, TestClient(_threads_app(False)) as plain:
        marked = inline.get("/threads").json()
        assert marked["route"] == marked["dependency"] == marked["loop"]
        # the other app in the same process still hands its sync work to worker threads
        unmarked = plain.get("/threads").json()
        assert unmarked["route"] != unmarked["loop"]
        assert unmarked["dependency"] != unmarked["loop"]
        assert inline.get("/threads").json() == marked  # and the mark does not wear off
