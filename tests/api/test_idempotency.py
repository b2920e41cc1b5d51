"""Idempotency-Key on POST: a replay answers the stored response and sends nothing."""

from __future__ import annotations

import json
import threading

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.readmodel.models import OperationRow
from api.services.container import services_of
from api.wire import hex0x
from tests.api.app_services import node_writer
from tests.api.conftest import ApiWorld
from tests.api.writes import (
    at_once,
    invoice_body,
    post,
    second_app,
    sent_count,
    wait_for,
)
from tests.helpers import AGREEMENT, issue_certificate, mint, request_financing


def test_the_same_key_and_body_replays_the_stored_response(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    before = sent_count(api_world, "tier1")
    first = post(api_world, "tier1", "/v1/invoices", body, key="replay-1")
    # the same JSON with its keys in another order is the same request
    reordered = dict(reversed(list(body.items())))
    second = post(api_world, "tier1", "/v1/invoices", reordered, key="replay-1")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json()
    assert second.headers["X-Transaction-Hash"] == first.headers["X-Transaction-Hash"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert sent_count(api_world, "tier1") == before + 1


def test_a_refusal_is_stored_too(api_world: ApiWorld) -> None:
    body = invoice_body(api_world, buyer_id=999_999)  # no such member: the contract refuses
    first = post(api_world, "tier1", "/v1/invoices", body, key="refused-1")
    again = post(api_world, "tier1", "/v1/invoices", body, key="refused-1")
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_same_key_for_another_request_is_refused(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    assert post(api_world, "tier1", "/v1/invoices", body, key="reuse-1").status_code == 201
    before = sent_count(api_world, "tier1")
    cases = [
        ("/v1/invoices", body | {"amount": "999.99"}),  # another body
        ("/v1/invoices", invoice_body(api_world)),  # another invoice
        ("/v1/settlement/transfers", {"to_member_id": 1, "amount": "1.00"}),  # another path
    ]
    for path, other in cases:
        refused = post(api_world, "tier1", path, other, key="reuse-1")
        assert refused.status_code == 422, (path, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["details"]["idempotency_key"] == "reuse-1"
    assert sent_count(api_world, "tier1") == before


def test_keys_are_scoped_to_the_member(api_world: ApiWorld) -> None:
    mine = post(api_world, "tier1", "/v1/invoices", invoice_body(api_world), key="shared-key")
    theirs = post(
        api_world, "tier2", "/v1/invoices", invoice_body(api_world, "tier2"), key="shared-key"
    )
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert theirs.json()["seller_id"] == api_world.world.tier2.id
    assert theirs.headers["X-Transaction-Hash"] != mine.headers["X-Transaction-Hash"]


def test_a_malformed_key_is_refused_before_anything_runs(api_world: ApiWorld) -> None:
    before = sent_count(api_world, "tier1")
    for key in ("", "k" * 129, "na\xefve".encode("latin-1")):
        response = api_world.client.post(
            "/v1/invoices",
            json=invoice_body(api_world),
            headers=api_world.auth("tier1") | {"Idempotency-Key": key},
        )
        assert response.status_code == 422, key
        assert response.json()["error"]["code"] == "validation_error"
    assert sent_count(api_world, "tier1") == before
    # without a valid API key the route answers, as without Idempotency-Key
    anonymous = api_world.client.post(
        "/v1/invoices", json=invoice_body(api_world), headers={"Idempotency-Key": "x"}
    )
    assert anonymous.status_code == 401


def test_concurrent_duplicates_send_one_transaction(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    before = sent_count(api_world, "tier1")
    responses = at_once([lambda: post(api_world, "tier1", "/v1/invoices", body, key="race-1")] * 6)
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert len({r.headers["X-Transaction-Hash"] for r in responses}) == 1
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert sent_count(api_world, "tier1") == before + 1


def test_a_duplicate_of_a_request_still_running_waits_then_gets_409(
    api_world: ApiWorld,
) -> None:
    """The first approval is held at the financier's write lock; a duplicate waits
    ``idempotency_wait_seconds`` and answers 409 request_in_progress; once the first is
    done the duplicate gets its stored response."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier3, 50_000_00)
    request_id = request_financing(w, w.tier3, certificate, w.bank, 10_000_00)
    mint(w, w.bank, w.bank, 10_000_00)
    api_world.sync()
    app = api_world.client.app
    path = f"/v1/financing-requests/{request_id}/approve"
    first: list[httpx.Response] = []
    services_of(app).idempotency_wait_seconds = 0.3
    try:
        with node_writer(app).member_lock(w.bank.id):
            runner = threading.Thread(
                target=lambda: first.append(post(api_world, "bank", path, TERMS, key="held-1"))
            )
            runner.start()
            wait_for(lambda: _operation_state(api_world, w.bank.id, "held-1") == "pending")
            duplicate = post(api_world, "bank", path, TERMS, key="held-1")
            assert duplicate.status_code == 409, duplicate.text
            assert duplicate.json()["error"]["code"] == "request_in_progress"
        runner.join(timeout=60)
    finally:
        services_of(app).idempotency_wait_seconds = 30.0
    (done,) = first
    assert done.status_code == 200
    replay = post(api_world, "bank", path, TERMS, key="held-1")
    assert replay.status_code == 200
    assert replay.json() == done.json()
    assert replay.json()["status"] == "approved"


TERMS = {"rate_bps": 500, "agreement_hash": hex0x(AGREEMENT)}


def _operation_state(api_world: ApiWorld, member_id: int, key: str) -> str | None:
    with api_world.sessions() as session:
        return session.scalar(
            select(OperationRow.state).where(
                OperationRow.member_id == member_id, OperationRow.idempotency_key == key
            )
        )


def test_a_replay_after_a_restart_sends_nothing(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    first = post(api_world, "tier1", "/v1/invoices", body, key="restart-1")
    assert first.status_code == 201
    before = sent_count(api_world, "tier1")
    with TestClient(second_app(api_world)) as restarted:
        again = restarted.post(
            "/v1/invoices",
            json=body,
            headers=api_world.auth("tier1") | {"Idempotency-Key": "restart-1"},
        )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["X-Transaction-Hash"] == first.headers["X-Transaction-Hash"]
    assert sent_count(api_world, "tier1") == before


def test_a_crash_between_sending_and_storing_the_answer_never_sends_twice(
    api_world: ApiWorld,
) -> None:
    """The node died after the ledger took the transaction but before the answer was
    stored: the operation is still pending. The retry, on the restarted node, runs the
    request again; the transaction manager finds the transaction under the same key."""
    body = invoice_body(api_world)
    first = post(api_world, "tier1", "/v1/invoices", body, key="crash-1")
    assert first.status_code == 201
    member_id = api_world.world.tier1.id
    with api_world.sessions.begin() as session:  # what the crash left behind
        session.execute(
            update(OperationRow)
            .where(OperationRow.member_id == member_id, OperationRow.idempotency_key == "crash-1")
            .values(state="pending", status_code=None, response_body=None, completed_at=None)
        )
    before = sent_count(api_world, "tier1")
    with TestClient(second_app(api_world)) as restarted:
        retry = restarted.post(
            "/v1/invoices",
            json=body,
            headers=api_world.auth("tier1") | {"Idempotency-Key": "crash-1"},
        )
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers["X-Transaction-Hash"] == first.headers["X-Transaction-Hash"]
    assert sent_count(api_world, "tier1") == before
    assert _operation_state(api_world, member_id, "crash-1") == "succeeded"
