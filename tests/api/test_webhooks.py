"""Webhooks: registration, signed at-least-once delivery to a real local HTTP server,
retries with backoff, the delivery log, and who receives what."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.idempotency.encrypted_answers import SealedAnswerUnreadable
from api.idempotency.store import stored_body
from api.readmodel.models import OperationRow, WebhookDeliveryRow, WebhookRow
from api.services.container import services_of
from api.services.documents import DocumentVault
from api.services.webhook_secrets import (
    SEALED_PREFIX,
    SecretUnreadable,
    open_secret,
    seal_plaintext_secrets,
    seal_secret,
)
from api.services.webhook_targets import TargetPolicy, parse_networks
from api.services.webhooks import RetryPolicy, WebhookDispatcher, verify_signature
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.integration import wait_until
from tests.api.times import iso_instant
from tests.api.webhook_world import (
    LOOPBACK,
    Hooks,
    Receiver,
    allowing,
    running_receiver,
)
from tests.helpers import DAY, register_invoice

MAX_ATTEMPTS = 4
BASE_DELAY = 10


@pytest.fixture(scope="module", autouse=True)
def local_receivers_allowed(api_world: ApiWorld) -> Iterator[None]:
    """The receivers here listen on loopback: this module's operator allows it."""
    with allowing(api_world.client.app, LOOPBACK):  # type: ignore[arg-type]
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture(scope="module")
def dispatcher(api_world: ApiWorld) -> Iterator[WebhookDispatcher]:
    with httpx.Client(timeout=5) as client:
        policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, base_seconds=BASE_DELAY)
        vault = node_vault(api_world.client.app)
        targets = TargetPolicy(parse_networks(LOOPBACK))
        yield WebhookDispatcher(
            api_world.sessions, client, vault, targets, policy=policy, rng=random.Random(7)
        )


@pytest.fixture
def hooks(api_world: ApiWorld, dispatcher: WebhookDispatcher) -> Iterator[Hooks]:
    """Each test's webhooks are deleted afterwards, so no test delivers to another's."""
    hooks = Hooks(api_world, dispatcher)
    hooks.settle()
    yield hooks
    hooks.clean_up()


def next_attempt(delivery: dict[str, Any]) -> int:
    """Unix seconds of the ISO 8601 UTC instant the log shows (strictly the Z form)."""
    moment = datetime.strptime(delivery["next_attempt_at"], "%Y-%m-%dT%H:%M:%SZ")
    return int(moment.replace(tzinfo=UTC).timestamp())


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def test_a_member_receives_its_event_signed_and_logged(hooks: Hooks, receiver: Receiver) -> None:
    w = hooks.api_world.world
    before = iso_instant(int(time.time()))
    hook = hooks.create("tier1", receiver.url)
    assert before <= hook["created_at"] <= iso_instant(int(time.time()))  # ISO sorts by time
    assert hook["secret"].startswith("whsec_")
    assert hook["event_types"] == []
    key = register_invoice(w, w.tier1, w.core, 8_000_25)
    hooks.api_world.sync()
    now = int(time.time())
    report = hooks.dispatcher.dispatch_once(now)
    assert (report.fanned_out, report.attempted, report.delivered) == (1, 1, 1)
    assert hooks.dispatcher.dispatch_once(now).fanned_out == 0  # fanned out once only

    (request,) = receiver.requests
    event = request.json
    assert event["name"] == "InvoiceRegistered"
    assert event["args"]["key"] == "0x" + key.hex()
    assert event["args"]["amount"] == "8000.25"
    # args are the event as the ledger emitted it: times stay raw Unix seconds
    assert event["args"]["dueDate"] - event["args"]["issueDate"] == 60 * DAY
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-SCF-Event-Id"] == event["id"]
    assert headers["X-SCF-Timestamp"] == str(now)
    assert headers["X-SCF-Signature"] == expected_signature(
        hook["secret"], headers["X-SCF-Timestamp"], request.body
    )
    assert verify_signature(
        hook["secret"],
        headers["X-SCF-Timestamp"],
        request.body,
        headers["X-SCF-Signature"],
        now=now,
    )
    assert not verify_signature(
        hook["secret"],
        headers["X-SCF-Timestamp"],
        request.body + b" ",
        headers["X-SCF-Signature"],
        now=now,
    )

    log = hooks.deliveries("tier1", hook["id"]).json()
    assert log["total"] == 1
    (delivery,) = log["items"]
    assert str(delivery["id"]) == headers["X-SCF-Delivery-Id"]
    assert delivery["event_id"] == event["id"]
    assert delivery["event_name"] == "InvoiceRegistered"
    assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        1,
        200,
    )
    assert delivery["created_at"] == delivery["delivered_at"] == iso_instant(now)
    assert delivery["next_attempt_at"] is None


def _stored_secret(hooks: Hooks, hook_id: int) -> WebhookRow:
    with hooks.api_world.sessions() as session:
        row = session.get(WebhookRow, hook_id)
        assert row is not None
        session.expunge(row)
        return row


def _store_secret(hooks: Hooks, hook_id: int, stored: str) -> None:
    with hooks.api_world.sessions.begin() as session:
        row = session.get(WebhookRow, hook_id)
        assert row is not None
        row.secret = stored


def _vault(hooks: Hooks) -> DocumentVault:
    vault: DocumentVault = node_vault(hooks.api_world.client.app)
    return vault


def test_the_secret_is_stored_sealed_and_bound_to_its_webhook(
    hooks: Hooks, receiver: Receiver
) -> None:
    hook = hooks.create("tier1", receiver.url)
    other = hooks.create("tier2", receiver.url + "/other")
    row = _stored_secret(hooks, hook["id"])
    assert row.secret.startswith(SEALED_PREFIX)
    assert hook["secret"] not in row.secret
    assert hook["secret"][len("whsec_") :] not in row.secret
    vault = _vault(hooks)
    assert open_secret(vault, row.secret, row.member_id, row.url) == hook["secret"]
    # moved onto another webhook's row, it does not open
    other_row = _stored_secret(hooks, other["id"])
    with pytest.raises(SecretUnreadable):
        open_secret(vault, row.secret, other_row.member_id, other_row.url)
    with pytest.raises(SecretUnreadable):
        open_secret(vault, row.secret[:-4] + "AAA=", row.member_id, row.url)


def test_a_secret_stored_before_sealing_is_sealed_and_still_signs(
    hooks: Hooks, receiver: Receiver
) -> None:
    w = hooks.api_world.world
    hook = hooks.create("tier1", receiver.url)
    _store_secret(hooks, hook["id"], hook["secret"])  # as a node before sealing left it
    with hooks.api_world.sessions() as session:
        assert seal_plaintext_secrets(session, _vault(hooks)) == 1
    with hooks.api_world.sessions() as session:
        assert seal_plaintext_secrets(session, _vault(hooks)) == 0  # once
    assert _stored_secret(hooks, hook["id"]).secret.startswith(SEALED_PREFIX)
    register_invoice(w, w.tier1, w.core, 8_000_27)
    hooks.api_world.sync()
    now = int(time.time())
    assert hooks.dispatcher.dispatch_once(now).delivered == 1
    (request,) = receiver.requests
    headers = request.headers
    assert headers["X-SCF-Signature"] == expected_signature(
        hook["secret"], headers["X-SCF-Timestamp"], request.body
    )


def test_a_secret_that_does_not_open_fails_its_delivery_and_no_other(
    hooks: Hooks, receiver: Receiver
) -> None:
    w = hooks.api_world.world
    broken = hooks.create("tier1", receiver.url)
    hooks.create("tier1", receiver.url + "/working")
    row = _stored_secret(hooks, broken["id"])
    foreign = DocumentVault(secrets.token_bytes(32))  # another node's key
    _store_secret(hooks, broken["id"], seal_secret(foreign, "whsec_x", row.member_id, row.url))
    register_invoice(w, w.tier1, w.core, 8_000_29)
    hooks.api_world.sync()
    report = hooks.dispatcher.dispatch_once(int(time.time()))
    assert (report.fanned_out, report.attempted, report.delivered) == (2, 2, 1)
    assert [r.path for r in receiver.requests] == ["/hooks/scf/working"]  # nothing unsigned
    (delivery,) = hooks.deliveries("tier1", broken["id"]).json()["items"]
    assert delivery["state"] == "pending"  # retried: the right key may be restored
    assert delivery["attempts"] == 1
    assert "does not open with this node's data key" in delivery["last_error"]


def test_registering_needs_the_nodes_data_key(hooks: Hooks, receiver: Receiver) -> None:
    app = hooks.api_world.client.app
    vault = node_vault(app)
    services_of(app).document_vault = None
    try:
        answer = hooks.post("tier1", {"url": receiver.url})
    finally:
        services_of(app).document_vault = vault
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "writes_unavailable"
    listed = hooks.api_world.client.get("/v1/webhooks", headers=hooks.auth("tier1")).json()
    assert [h for h in listed["items"] if h["url"] == receiver.url] == []


def test_the_secret_is_shown_only_once(hooks: Hooks, receiver: Receiver) -> None:
    hook = hooks.create("tier2", receiver.url, ["InvoiceConfirmed", "CertificateSplit"])
    listed = hooks.api_world.client.get("/v1/webhooks", headers=hooks.auth("tier2")).json()
    (item,) = [h for h in listed["items"] if h["id"] == hook["id"]]
    assert "secret" not in item
    assert item["event_types"] == ["CertificateSplit", "InvoiceConfirmed"]
    assert item["url"] == receiver.url


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    hooks: Hooks, receiver: Receiver
) -> None:
    w = hooks.api_world.world
    receiver.statuses = [500, 500, 200]
    hook = hooks.create("tier2", receiver.url)
    register_invoice(w, w.tier2, w.core, 3_00)
    hooks.api_world.sync()
    t0 = int(time.time())

    def delivery() -> dict[str, Any]:
        only: dict[str, Any]
        (only,) = hooks.deliveries("tier2", hook["id"]).json()["items"]
        return only

    assert hooks.dispatcher.dispatch_once(t0).attempted == 1
    first = delivery()
    assert (first["state"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    assert first["last_error"] == "HTTP 500"
    retry_at = next_attempt(first)
    assert t0 + BASE_DELAY // 2 <= retry_at <= t0 + BASE_DELAY  # backoff with jitter
    assert hooks.dispatcher.dispatch_once(retry_at - 1).attempted == 0  # not due yet

    assert hooks.dispatcher.dispatch_once(retry_at).attempted == 1
    second = delivery()
    assert (second["state"], second["attempts"]) == ("pending", 2)
    assert retry_at + BASE_DELAY <= next_attempt(second) <= retry_at + 2 * BASE_DELAY  # doubled

    assert hooks.dispatcher.dispatch_once(next_attempt(second)).delivered == 1
    third = delivery()
    assert (third["state"], third["attempts"], third["last_status_code"]) == ("delivered", 3, 200)
    assert third["last_error"] is None
    # three attempts of the same delivery, each signed afresh
    assert len(receiver.requests) == 3
    assert len({r.headers["X-SCF-Delivery-Id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        stamp = request.headers["X-SCF-Timestamp"]
        assert request.headers["X-SCF-Signature"] == expected_signature(
            hook["secret"], stamp, request.body
        )


def test_a_receiver_that_stays_down_ends_failed(hooks: Hooks) -> None:
    w = hooks.api_world.world
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    hook = hooks.create("tier3", down)
    register_invoice(w, w.tier3, w.core, 4_00)
    hooks.api_world.sync()
    moment = int(time.time())
    for _ in range(MAX_ATTEMPTS):
        assert hooks.dispatcher.dispatch_once(moment).attempted == 1
        moment += 24 * 3600  # past any backoff
    (delivery,) = hooks.deliveries("tier3", hook["id"]).json()["items"]
    assert (delivery["state"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("ConnectError")
    assert delivery["next_attempt_at"] is None
    assert hooks.dispatcher.dispatch_once(moment).attempted == 0  # given up


def test_events_a_member_may_not_see_are_never_delivered(hooks: Hooks, receiver: Receiver) -> None:
    w = hooks.api_world.world
    hooks.create("tier3", receiver.url)
    register_invoice(w, w.tier1, w.core, 5_00)  # between tier1 and core only
    mine = register_invoice(w, w.tier3, w.core2, 6_00)
    hooks.settle()
    assert [r.json["args"]["key"] for r in receiver.requests] == ["0x" + mine.hex()]


def test_only_the_wanted_event_types_are_delivered(hooks: Hooks, receiver: Receiver) -> None:
    w = hooks.api_world.world
    hooks.create("core", receiver.url, ["InvoiceConfirmed"])
    key = register_invoice(w, w.tier2, w.core, 7_00)
    w.consortium.invoices.transact(w.core.signer, "confirmInvoice", key)
    hooks.settle()
    assert [r.json["name"] for r in receiver.requests] == ["InvoiceConfirmed"]


def test_a_deleted_webhook_stops_receiving(hooks: Hooks, receiver: Receiver) -> None:
    w = hooks.api_world.world
    receiver.statuses = [200, 503]
    hook = hooks.create("bank", receiver.url)
    w.consortium.settlement.transact(w.bank.signer, "mint", w.bank.address, 1_00, b"\1" * 32)
    hooks.settle()
    assert len(receiver.requests) == 2  # Transfer and SettlementMinted; the second failed
    deliveries = hooks.deliveries("bank", hook["id"]).json()["items"]
    assert sorted(d["state"] for d in deliveries) == ["delivered", "pending"]

    assert hooks.delete("bank", hook["id"]).status_code == 204
    hooks.created.clear()
    listed = hooks.api_world.client.get("/v1/webhooks", headers=hooks.auth("bank")).json()
    assert hook["id"] not in [h["id"] for h in listed["items"]]
    assert hooks.deliveries("bank", hook["id"]).status_code == 404
    assert hooks.delete("bank", hook["id"]).status_code == 404

    w.consortium.settlement.transact(w.bank.signer, "mint", w.bank.address, 2_00, b"\2" * 32)
    hooks.settle()
    hooks.dispatcher.dispatch_once(int(time.time()) + 24 * 3600)  # past the retry, too
    assert len(receiver.requests) == 2
    with hooks.api_world.sessions() as session:
        states = session.scalars(
            select(WebhookDeliveryRow.state).where(WebhookDeliveryRow.webhook_id == hook["id"])
        ).all()
    assert sorted(states) == ["delivered", "failed"]  # the pending one was given up


def test_another_members_webhook_is_not_found(hooks: Hooks, receiver: Receiver) -> None:
    hook = hooks.create("tier1", receiver.url)
    for answer in (hooks.deliveries("tier2", hook["id"]), hooks.delete("tier2", hook["id"])):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "webhook_not_found"
    listed = hooks.api_world.client.get("/v1/webhooks", headers=hooks.auth("tier2")).json()
    assert hook["id"] not in [h["id"] for h in listed["items"]]
    assert hooks.deliveries("tier1", hook["id"]).status_code == 200  # still there
    assert hooks.deliveries("tier1", 999_999).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "not a url",
        "http://user:password@example.com/hook",
        "https://token@example.com/hook",
        "",
    ],
)
def test_bad_webhook_urls_are_422(hooks: Hooks, url: str) -> None:
    answer = hooks.post("tier1", {"url": url})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"


def test_bad_registrations_are_refused(hooks: Hooks, receiver: Receiver) -> None:
    unknown = hooks.post("tier1", {"url": receiver.url, "event_types": ["InvoicePaid"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_event_type"
    assert hooks.post("tier1", {"event_types": []}).status_code == 422
    hooks.create("tier1", receiver.url)
    duplicate = hooks.post("tier1", {"url": receiver.url})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "webhook_exists"
    anonymous = hooks.api_world.client.post("/v1/webhooks", json={"url": receiver.url})
    assert anonymous.status_code == 401


def test_a_retried_registration_with_its_idempotency_key_registers_once(
    hooks: Hooks, receiver: Receiver
) -> None:
    headers = {**hooks.auth("tier3"), "Idempotency-Key": "register-erp-hook-1"}
    body = {"url": receiver.url, "event_types": ["CertificateSplit"]}
    first = hooks.api_world.client.post("/v1/webhooks", json=body, headers=headers)
    again = hooks.api_world.client.post("/v1/webhooks", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    hooks.created.append(("tier3", first.json()["id"]))
    assert again.json() == first.json()
    listed = hooks.api_world.client.get("/v1/webhooks", headers=hooks.auth("tier3")).json()
    assert [h["url"] for h in listed["items"]].count(receiver.url) == 1


def _operation(hooks: Hooks, operation_id: str) -> OperationRow:
    with hooks.api_world.sessions() as session:
        row = session.get(OperationRow, operation_id)
        assert row is not None
        session.expunge(row)
        return row


def _keyed_operation(hooks: Hooks, who: str, key: str) -> OperationRow:
    member_id = getattr(hooks.api_world.world, who).id
    with hooks.api_world.sessions() as session:
        row = session.scalars(
            select(OperationRow).where(
                OperationRow.member_id == member_id, OperationRow.idempotency_key == key
            )
        ).one()
        session.expunge(row)
        return row


def test_a_kept_registration_answer_holds_its_secret_sealed(
    hooks: Hooks, receiver: Receiver
) -> None:
    """The answer kept for a replay carries the signing secret: it is sealed with the node's
    data key, so the database alone never shows it."""
    headers = {**hooks.auth("tier2"), "Idempotency-Key": "register-sealed-hook-1"}
    first = hooks.api_world.client.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert first.status_code == 201, first.text
    hooks.created.append(("tier2", first.json()["id"]))
    secret = first.json()["secret"]
    row = _keyed_operation(hooks, "tier2", "register-sealed-hook-1")
    assert row.response_sealed
    assert secret not in (row.response_body or "")
    assert secret[len("whsec_") :] not in (row.response_body or "")
    assert "whsec_" not in (row.response_body or "")
    # a node with another data key cannot open it
    with pytest.raises(SealedAnswerUnreadable):
        stored_body(row, None, DocumentVault(bytes(32)))

    again = hooks.api_world.client.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["secret"] == secret


def test_a_registration_followed_as_an_operation_shows_its_secret_to_its_member_only(
    hooks: Hooks, receiver: Receiver
) -> None:
    accepted = hooks.api_world.client.post(
        "/v1/webhooks?wait=false",
        json={"url": receiver.url + "/later"},
        headers=hooks.auth("tier1"),
    )
    assert accepted.status_code == 202, accepted.text
    operation_id = accepted.json()["operation_id"]
    path = f"/v1/operations/{operation_id}"

    def done() -> dict[str, Any] | None:
        answer = hooks.api_world.client.get(path, headers=hooks.auth("tier1")).json()
        return answer if answer["status"] != "pending" else None

    wait_until(lambda: done() is not None, what="the registration to run")
    result = done()
    assert result is not None
    assert result["status"] == "succeeded", result
    hooks.created.append(("tier1", result["body"]["id"]))
    assert result["body"]["secret"].startswith("whsec_")
    row = _operation(hooks, operation_id)
    assert row.response_sealed
    assert "whsec_" not in (row.response_body or "")
    other = hooks.api_world.client.get(path, headers=hooks.auth("tier2"))
    assert other.status_code == 404
