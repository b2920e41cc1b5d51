"""Idempotency-Key on the anonymous POST /v1/members/applications: the key is scoped to
itself, the answer (it carries the applicant's API key) is kept sealed under it, replays
count against the rate limit. On the shared ``api_world``, so it runs on PostgreSQL too."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.idempotency.encrypted_answers import (
    MIN_KEY_LENGTH,
    SealedAnswerUnreadable,
    associated_data,
    seal,
    unseal,
)
from api.readmodel.models import ApplicationRow, OperationRow
from api.services.container import services_of
from api.settings import Settings, get_settings
from nodes.pki.ca import ConsortiumCA, NodePki
from tests.api.conftest import ApiWorld
from tests.api.writes import at_once, second_app
from tests.helpers import new_credit_code

APPLY = "/v1/members/applications"


@pytest.fixture(scope="module", autouse=True)
def generous_rate_limit(api_world: ApiWorld) -> Iterator[None]:
    """Every test here applies and replays several times; the rate-limit test sets its own
    limits."""
    overrides = api_world.client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_settings] = lambda: Settings(application_burst=10_000)
    yield
    overrides.pop(get_settings, None)


def application(name: str = "Keyed Applicant Ltd") -> dict[str, Any]:
    return {
        "name": name,
        "credit_code": new_credit_code(),
        "roles": ["SUPPLIER"],
        "contact": "treasury@keyed.example",
    }


def apply(client: TestClient, body: Any, key: str | None, **headers: str) -> httpx.Response:
    sent = headers | ({"Idempotency-Key": key} if key is not None else {})
    response: httpx.Response = client.post(APPLY, json=body, headers=sent)
    return response


def new_key() -> str:
    return str(uuid.uuid4())


def application_count(api_world: ApiWorld) -> int:
    with api_world.sessions() as session:
        return session.scalar(select(func.count()).select_from(ApplicationRow)) or 0


def anonymous_operation(api_world: ApiWorld, key: str) -> OperationRow | None:
    stored = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    with api_world.sessions() as session:
        return session.scalars(
            select(OperationRow).where(
                OperationRow.member_id.is_(None), OperationRow.idempotency_key == stored
            )
        ).one_or_none()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_replay_returns_the_same_application_and_api_key(
    api_world: ApiWorld, tmp_path: Path
) -> None:
    app = api_world.client.app
    ca = ConsortiumCA.create(tmp_path / "pki", "ca passphrase", "Replay Consortium")
    services_of(app).certificate_authority = NodePki(ca, api_world.world.consortium)
    issued = ca.directory / "issued"
    key, body = new_key(), application()
    try:
        before = application_count(api_world)
        first = apply(api_world.client, body, key)
        assert first.status_code == 201, first.text
        certificates = len(list(issued.iterdir()))
        # the same JSON in another key order, and a member's credentials that do not
        # matter here: the application's key is scoped to the key itself
        reordered = dict(reversed(list(body.items())))
        again = apply(api_world.client, reordered, key, **api_world.auth("tier1"))
    finally:
        services_of(app).certificate_authority = None
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.json()["api_key"] == first.json()["api_key"]
    assert again.json()["certificate_pem"] is not None
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert application_count(api_world) == before + 1
    assert len(list(issued.iterdir())) == certificates == 1

    # the answer comes from the database: another API process replays it too
    with TestClient(second_app(api_world)) as restarted:
        third = apply(restarted, body, key)
    assert third.status_code == 201
    assert third.json() == first.json()

    # the returned key is the applicant's
    status = api_world.client.get(
        f"{APPLY}/{first.json()['id']}",
        headers={"Authorization": f"Bearer {first.json()['api_key']}"},
    )
    assert status.status_code == 200
    assert status.json()["status"] == "pending"


def test_the_database_holds_neither_the_key_nor_the_answer(api_world: ApiWorld) -> None:
    key, body = new_key(), application("Sealed Answer Ltd")
    created = apply(api_world.client, body, key)
    assert created.status_code == 201, created.text
    row = anonymous_operation(api_world, key)
    assert row is not None
    assert (row.member_id, row.response_sealed, row.state) == (None, True, "succeeded")
    assert row.status_code == 201
    stored = json.dumps([getattr(row, c.key) for c in OperationRow.__table__.columns])
    for secret in (key, created.json()["api_key"], body["credit_code"], body["name"]):
        assert secret not in stored
    # the sealed body opens with the key only, on its own row and request
    context = associated_data(row.id, row.request_fingerprint, 201)
    assert row.response_body is not None
    assert json.loads(unseal(key, context, row.response_body)) == created.json()
    with pytest.raises(SealedAnswerUnreadable):
        unseal(new_key(), context, row.response_body)
    elsewhere = associated_data(str(uuid.uuid4()), row.request_fingerprint, 201)
    with pytest.raises(SealedAnswerUnreadable):
        unseal(key, elsewhere, row.response_body)
    # another member cannot follow it as an operation
    hidden = api_world.client.get(f"/v1/operations/{row.id}", headers=api_world.auth("tier1"))
    assert hidden.status_code == 404


def test_an_altered_sealed_answer_is_refused_not_served(api_world: ApiWorld) -> None:
    key, body = new_key(), application("Tampered Answer Ltd")
    assert apply(api_world.client, body, key).status_code == 201
    row = anonymous_operation(api_world, key)
    assert row is not None
    forged = seal(new_key(), associated_data(row.id, row.request_fingerprint, 201), b"{}")
    with api_world.sessions.begin() as session:
        session.execute(
            update(OperationRow).where(OperationRow.id == row.id).values(response_body=forged)
        )
    refused = apply(api_world.client, body, key)
    assert refused.status_code == 500
    assert error_code(refused) == "stored_response_unreadable"


def test_another_body_under_the_same_key_is_refused(api_world: ApiWorld) -> None:
    key, body = new_key(), application("First Body Ltd")
    assert apply(api_world.client, body, key).status_code == 201
    before = application_count(api_world)
    for other in (application("Second Body Ltd"), {**body, "contact": "someone else"}):
        refused = apply(api_world.client, other, key)
        assert refused.status_code == 422, refused.text
        assert error_code(refused) == "idempotency_key_reused"
        assert "api_key" not in refused.text
    assert application_count(api_world) == before


def test_the_same_body_under_another_key_reveals_nothing(api_world: ApiWorld) -> None:
    body = application("Other Key Ltd")
    first = apply(api_world.client, body, new_key())
    assert first.status_code == 201
    guess = apply(api_world.client, body, new_key())
    assert guess.status_code == 409
    assert error_code(guess) == "application_already_pending"
    assert first.json()["api_key"] not in guess.text
    unkeyed = apply(api_world.client, body, None)
    assert unkeyed.status_code == 409


def test_concurrent_duplicates_make_one_application(api_world: ApiWorld) -> None:
    key, body = new_key(), application("Concurrent Twins Ltd")
    before = application_count(api_world)
    responses = at_once([lambda: apply(api_world.client, body, key)] * 4)
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert application_count(api_world) == before + 1


def test_bad_keys_and_wait_false_are_422_and_apply_nothing(api_world: ApiWorld) -> None:
    before = application_count(api_world)
    short = apply(api_world.client, application(), "k" * (MIN_KEY_LENGTH - 1))
    assert short.status_code == 422
    assert error_code(short) == "validation_error"
    assert f"at least {MIN_KEY_LENGTH} characters" in short.json()["error"]["message"]
    for key in (new_key(), None):
        response = api_world.client.post(
            APPLY,
            json=application(),
            params={"wait": "false"},
            headers={"Idempotency-Key": key} if key else {},
        )
        assert response.status_code == 422, response.text
        assert "wait=false is not available" in response.json()["error"]["message"]
    malformed = apply(api_world.client, application(), "k" * 129)
    assert malformed.status_code == 422
    assert application_count(api_world) == before
    # wait=true is the default and allowed
    waited = api_world.client.post(
        APPLY, json=application(), params={"wait": "true"}, headers={"Idempotency-Key": new_key()}
    )
    assert waited.status_code == 201, waited.text


def test_replays_count_against_the_rate_limit_once_each(api_world: ApiWorld) -> None:
    app = api_world.client.app
    app.dependency_overrides[get_settings] = lambda: Settings(  # type: ignore[attr-defined]
        application_burst=2, application_refill_per_minute=0
    )
    flooding = TestClient(app, client=("198.51.100.9", 40000))
    try:
        key, body = new_key(), application("Replaying Often Ltd")
        # two tokens: the application (counted once, not by the middleware and the route
        # both) and one replay
        assert apply(flooding, body, key).status_code == 201
        assert apply(flooding, body, key).status_code == 201
        limited = apply(flooding, body, key)
        assert limited.status_code == 429
        assert error_code(limited) == "rate_limited"
        assert int(limited.headers["Retry-After"]) == 86_400
        assert "api_key" not in limited.text
        reused = apply(flooding, application(), key)  # refusals count too: still limited
        assert reused.status_code == 429
    finally:
        app.dependency_overrides[get_settings] = lambda: Settings(  # type: ignore[attr-defined]
            application_burst=10_000
        )


def test_openapi_documents_the_applications_idempotency_key(api_world: ApiWorld) -> None:
    operation = api_world.client.get("/openapi.json").json()["paths"][APPLY]["post"]
    parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
    assert ("query", "wait") not in parameters
    key = parameters[("header", "Idempotency-Key")]
    assert key["schema"]["minLength"] == MIN_KEY_LENGTH
