"""The app's health route and its one JSON error shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.models import MemberRow
from api.services.api_keys import issue_key
from api.services.container import services_of
from chain.backends import open_ledger
from chain.errors import ContractRevert, LedgerError
from tests.api.conftest import ApiWorld
from tests.api.times import iso_instant


class Body(BaseModel):
    amount: int


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(engine)
    return create_app(open_ledger("tester"), session_factory(engine))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_health_reports_the_ledger_head(app: FastAPI, client: TestClient) -> None:
    body = client.get("/healthz").json()
    head = services_of(app).ledger.get_block("latest")
    assert body == {
        "status": "ok",
        "chain_id": 131277322940537,
        "head_block": head["number"],
        "head_time": iso_instant(head["timestamp"]),  # ISO 8601, UTC
        "processes": [],  # no supervisor: the app runs in this test's process
        "dev_mode": False,  # scf-node start --dev would say so
    }


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": {}}
    }


def _member_key(app: FastAPI) -> str:
    """An API key of a member in the app's read model."""
    with services_of(app).sessions.begin() as session:
        session.add(
            MemberRow(
                id=7,
                name="Tier-1 Parts",
                credit_code_hash="0x" + "07" * 32,
                roles=0,
                status="active",
                admitted_block=1,
            )
        )
        session.flush()
        return issue_key(session, 7, label="test").key


def test_errors_map_to_their_status_and_code(app: FastAPI, client: TestClient) -> None:
    @app.post("/test/validate")
    def validate(body: Body) -> dict[str, int]:
        return {"amount": body.amount}

    @app.get("/test/revert")
    def revert() -> None:
        raise ContractRevert("InvoiceAlreadyRegistered", {"key": b"\x01" * 32})

    @app.get("/test/ledger")
    def ledger_down() -> None:
        raise LedgerError("ledger unreachable at http://127.0.0.1:1")

    @app.get("/test/bug")
    def bug() -> None:
        raise RuntimeError("boom")

    # a member's write: its credentials are checked before its body is read
    assert client.post("/test/validate", json={"amount": 1}).status_code == 401
    auth = {"Authorization": f"Bearer {_member_key(app)}"}
    assert client.post("/test/validate", json={"amount": 1}, headers=auth).json() == {"amount": 1}
    invalid = client.post("/test/validate", json={"amount": "lots"}, headers=auth)
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["errors"][0]["location"] == "body.amount"

    reverted = client.get("/test/revert")
    assert reverted.status_code == 409
    assert reverted.json()["error"]["details"] == {
        "error": "InvoiceAlreadyRegistered",
        "args": {"key": "0x" + "01" * 32},
    }

    down = client.get("/test/ledger")
    assert (down.status_code, down.json()["error"]["code"]) == (503, "ledger_error")

    crashed = client.get("/test/bug")
    assert crashed.status_code == 500
    assert crashed.json()["error"] == {
        "code": "internal_error",
        "message": "an unexpected error occurred; it has been logged",
        "details": {},
    }


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_need_nothing_but_the_node(client: TestClient, page: str) -> None:
    """An offline consortium network still gets its API pages: no asset from a CDN."""
    html = client.get(page)
    assert html.status_code == 200
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, html.text
    for url in assets:
        assert url.startswith("/"), f"{page} loads {url} from outside the node"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "fonts.googleapis" not in html.text


def test_handlers_add_nothing_to_the_app_state(api_world: ApiWorld) -> None:
    """Services are built with the app (``ApiServices``), none lazily by a handler: after
    the routes that once filled ``app.state`` on first use (the committee, the rate limit
    on applications, the metrics' route templates), it holds what ``create_app`` put."""
    app: FastAPI = api_world.client.app  # type: ignore[assignment]
    services = services_of(app)
    committee, limiter = services.committee, services.application_limiter
    assert committee is not None
    before = dict(app.state._state)
    client = api_world.client
    assert client.get("/v1/governance/committee", headers=api_world.auth("tier1")).status_code
    assert client.post("/v1/members/applications", json={}).status_code == 422
    client.post("/v1/no-such-route", headers={"Idempotency-Key": "k"})  # a template lookup
    assert client.get("/metrics").status_code == 200
    assert dict(app.state._state) == before
    assert services_of(app).committee is committee
    assert services_of(app).application_limiter is limiter
