"""?wait=false: 202 at once, the write in the background, its result at /v1/operations."""

from __future__ import annotations

import uuid

from api.readmodel.models import OperationRow
from tests.api.conftest import ApiWorld
from tests.api.times import iso_instant
from tests.api.writes import finished_operation, invoice_body, post, sent_count

ASYNC = {"wait": "false"}


def test_a_write_accepted_then_succeeded(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    before = sent_count(api_world, "tier1")
    accepted = post(api_world, "tier1", "/v1/invoices", body, params=ASYNC)
    assert accepted.status_code == 202, accepted.text
    operation_id = accepted.json()["operation_id"]
    assert accepted.json() == {"operation_id": operation_id, "status": "pending"}
    assert accepted.headers["Location"] == f"/v1/operations/{operation_id}"

    operation = finished_operation(api_world, "tier1", operation_id)
    assert operation["status"] == "succeeded"
    assert operation["status_code"] == 201
    assert operation["method"] == "POST"
    assert operation["path"] == "/v1/invoices"
    with api_world.sessions() as session:
        row = session.get_one(OperationRow, operation_id)
        assert row.completed_at is not None
        times = (iso_instant(row.created_at), iso_instant(row.completed_at))
    assert (operation["created_at"], operation["completed_at"]) == times
    invoice = operation["body"]
    assert invoice["status"] == "registered"
    assert invoice["amount"] == body["amount"]
    assert sent_count(api_world, "tier1") == before + 1
    read_back = api_world.client.get(
        f"/v1/invoices/{invoice['key']}", headers=api_world.auth("tier1")
    )
    assert read_back.json() == invoice


def test_a_write_the_contract_refuses_ends_failed_with_its_error(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    assert post(api_world, "tier1", "/v1/invoices", body).status_code == 201
    before = sent_count(api_world, "tier1")
    accepted = post(api_world, "tier1", "/v1/invoices", body, params=ASYNC)
    assert accepted.status_code == 202
    operation = finished_operation(api_world, "tier1", accepted.json()["operation_id"])
    assert operation["status"] == "failed"
    assert operation["status_code"] == 409
    assert operation["body"]["error"]["details"]["error"] == "InvoiceAlreadyRegistered"
    assert sent_count(api_world, "tier1") == before + 1  # one failed transaction, no retry


def test_bad_input_fails_the_operation_with_422(api_world: ApiWorld) -> None:
    accepted = post(
        api_world, "tier1", "/v1/invoices", invoice_body(api_world, amount="1.001"), params=ASYNC
    )
    operation = finished_operation(api_world, "tier1", accepted.json()["operation_id"])
    assert (operation["status"], operation["status_code"]) == ("failed", 422)
    assert operation["body"]["error"]["code"] == "validation_error"


def test_only_its_member_sees_an_operation(api_world: ApiWorld) -> None:
    accepted = post(api_world, "tier1", "/v1/invoices", invoice_body(api_world), params=ASYNC)
    operation_id = accepted.json()["operation_id"]
    finished_operation(api_world, "tier1", operation_id)
    for who in ("tier2", "core", "bank"):
        other = api_world.client.get(f"/v1/operations/{operation_id}", headers=api_world.auth(who))
        assert other.status_code == 404, who
        assert other.json()["error"]["code"] == "operation_not_found"
    unknown = api_world.client.get(
        f"/v1/operations/{uuid.uuid4()}", headers=api_world.auth("tier1")
    )
    assert unknown.status_code == 404
    assert api_world.client.get(f"/v1/operations/{operation_id}").status_code == 401
    bad = api_world.client.get("/v1/operations/not_an_id", headers=api_world.auth("tier1"))
    assert bad.status_code == 422


def test_wait_false_with_a_key_is_one_operation(api_world: ApiWorld) -> None:
    body = invoice_body(api_world)
    before = sent_count(api_world, "tier1")
    accepted = post(api_world, "tier1", "/v1/invoices", body, key="async-1", params=ASYNC)
    operation_id = accepted.json()["operation_id"]
    again = post(api_world, "tier1", "/v1/invoices", body, key="async-1", params=ASYNC)
    # still running: the same operation again; done: its stored answer
    assert again.status_code in (202, 201), again.text
    if again.status_code == 202:
        assert again.json()["operation_id"] == operation_id
    operation = finished_operation(api_world, "tier1", operation_id)
    replay = post(api_world, "tier1", "/v1/invoices", body, key="async-1")
    assert replay.status_code == 201
    assert replay.json() == operation["body"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert sent_count(api_world, "tier1") == before + 1


def test_wait_must_be_a_boolean(api_world: ApiWorld) -> None:
    before = sent_count(api_world, "tier1")
    response = post(
        api_world, "tier1", "/v1/invoices", invoice_body(api_world), params={"wait": "later"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    waited = post(
        api_world, "tier1", "/v1/invoices", invoice_body(api_world), params={"wait": "true"}
    )
    assert waited.status_code == 201
    assert sent_count(api_world, "tier1") == before + 1


def test_every_authenticated_post_documents_wait_and_idempotency_key(
    api_world: ApiWorld,
) -> None:
    schema = api_world.client.get("/openapi.json").json()
    posts = {
        path: item["post"]
        for path, item in schema["paths"].items()
        if "post" in item and item["post"].get("security")
    }
    assert "/v1/invoices" in posts
    assert "/v1/financing-requests/{request_id}/approve" in posts
    for path, operation in posts.items():
        names = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert ("query", "wait") in names, path
        assert ("header", "Idempotency-Key") in names, path
        assert "202" in operation["responses"], path
    assert "/v1/operations/{operation_id}" in schema["paths"]
