"""The invoices page: registration with the document upload through the REST API (the
document stored and shared with the buyer, its hash anchored in the invoice), refusals
in words, a second submission that registers nothing twice, roles and CSRF."""

from __future__ import annotations

import hashlib
import html
import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import (
    PortalUser,
    create_user,
    csrf_of,
    idempotency_key_of,
    signed_in,
)

_numbers = itertools.count(81_000_000)
SCAN = b"%PDF-1.4 invoice scan, tier 1 to the core enterprise"


@pytest.fixture(scope="module")
def operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "operator")


def _form(api_world: ApiWorld, **changes: str) -> dict[str, str]:
    return {
        "invoice_code": "5100231130",
        "invoice_number": str(next(_numbers)),
        "buyer_id": str(api_world.world.core.id),
        "amount": "12345.67",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
        **changes,
    }


def _register(
    client: TestClient, form: dict[str, str], document: bytes = SCAN, **tokens: str
) -> Response:
    page = client.get("/portal/invoices")
    data = {"csrf_token": csrf_of(page)}
    if "idempotency_key" not in tokens:
        data["idempotency_key"] = idempotency_key_of(page)
    answer: Response = client.post(
        "/portal/invoices",
        data={**data, **tokens, **form},
        files={"document": ("invoice.pdf", document, "application/pdf")},
    )
    return answer


def _invoices(api_world: ApiWorld, who: str) -> list[dict[str, Any]]:
    answer = api_world.client.get(
        "/v1/invoices", headers=api_world.auth(who), params={"limit": 500}
    )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_an_operator_registers_an_invoice_with_its_document(
    api_world: ApiWorld, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    form = _form(api_world)
    done = _register(client, form)
    assert done.status_code == 200, done.text
    assert f"Invoice {form['invoice_number']} of 12345.67 to Core Motors Group is registered" in (
        html.unescape(done.text)
    )
    [invoice] = [
        i for i in _invoices(api_world, "tier1") if i["invoice_number"] == form["invoice_number"]
    ]
    assert invoice["status"] == "registered"
    assert invoice["document_hash"] == "0x" + hashlib.sha256(SCAN).hexdigest()
    assert f'data-invoice="{invoice["key"]}"' in done.text
    # the buyer reads the document it is asked to confirm
    document = api_world.client.get(
        f"/v1/documents/{invoice['document_hash']}", headers=api_world.auth("core")
    )
    assert document.status_code == 200
    assert document.content == SCAN


def test_the_same_form_sent_twice_registers_one_invoice(
    api_world: ApiWorld, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    page = client.get("/portal/invoices")
    tokens = {"csrf_token": csrf_of(page), "idempotency_key": idempotency_key_of(page)}
    form = _form(api_world)
    for _ in range(2):
        answer = client.post(
            "/portal/invoices",
            data={**tokens, **form},
            files={"document": ("invoice.pdf", SCAN, "application/pdf")},
        )
        assert answer.status_code == 200, answer.text
        assert "is registered" in answer.text
    numbers = [i["invoice_number"] for i in _invoices(api_world, "tier1")]
    assert numbers.count(form["invoice_number"]) == 1


@pytest.mark.parametrize(
    ("changes", "status", "code", "words"),
    [
        (
            {"invoice_number": "123"},
            422,
            "invalid_invoice_identity",
            "The invoice code or number is not written as a VAT invoice's",
        ),
        (
            {"issue_date": "2026-11-01", "due_date": "2026-10-01"},
            422,
            "InvoiceInvalidDates",
            "The due date must come after the issue date.",
        ),
        (
            {"issue_date": "2099-01-01", "due_date": "2099-02-01"},
            422,
            "InvoiceIssueDateInFuture",
            "The issue date cannot be in the future.",
        ),
    ],
)
def test_a_refused_registration_is_shown_in_words(
    api_world: ApiWorld,
    operator: PortalUser,
    changes: dict[str, str],
    status: int,
    code: str,
    words: str,
) -> None:
    before = len(_invoices(api_world, "tier1"))
    refused = _register(signed_in(api_world, operator), _form(api_world, **changes))
    assert refused.status_code == status, refused.text
    assert words in html.unescape(refused.text)
    assert f"<code>{code}</code>" in refused.text
    assert len(_invoices(api_world, "tier1")) == before


def test_an_invoice_registered_twice_is_refused_by_the_ledger(
    api_world: ApiWorld, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    form = _form(api_world)
    assert _register(client, form).status_code == 200
    again = _register(client, form)  # a new form: a new key, the same invoice
    assert again.status_code == 409
    assert "This invoice is registered already." in again.text
    assert "<code>InvoiceAlreadyRegistered</code>" in again.text


def test_a_viewer_and_a_forged_form_register_nothing(api_world: ApiWorld) -> None:
    viewer = create_user(api_world, "tier1", "viewer")
    client = signed_in(api_world, viewer)
    assert 'id="register-invoice"' not in client.get("/portal/invoices").text
    before = len(_invoices(api_world, "tier1"))
    refused = _register(client, _form(api_world), idempotency_key="viewer-try")
    assert refused.status_code == 403
    assert "Your role (viewer) may only read." in refused.text
    operator = create_user(api_world, "tier1", "operator")
    forged = _register(signed_in(api_world, operator), _form(api_world), csrf_token="forged")
    assert forged.status_code == 403
    assert len(_invoices(api_world, "tier1")) == before
