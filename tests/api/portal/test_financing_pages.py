"""The financing page: the ledger's quote, a request with its agreement upload through
the REST API (the agreement stored for the financier, the value escrowed), refusals in
words, roles."""

from __future__ import annotations

import hashlib
import html
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
from tests.helpers import issue_certificate

FACE = 500_000_00
AGREEMENT = b"factoring agreement: tier 1 and First Bank"


@pytest.fixture(scope="module")
def held(api_world: ApiWorld) -> int:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, FACE)
    api_world.sync()
    return certificate


@pytest.fixture(scope="module")
def operator(api_world: ApiWorld) -> PortalUser:
    return create_user(api_world, "tier1", "operator")


def _request(client: TestClient, form: dict[str, str], **tokens: str) -> Response:
    page = client.get("/portal/financing")
    data = {"csrf_token": csrf_of(page)}
    if "idempotency_key" not in tokens:
        data["idempotency_key"] = idempotency_key_of(page)
    answer: Response = client.post(
        "/portal/financing",
        data={**data, **tokens, **form},
        files={"agreement": ("agreement.txt", AGREEMENT, "text/plain")},
    )
    return answer


def _form(api_world: ApiWorld, certificate: int, **changes: str) -> dict[str, str]:
    return {
        "certificate_id": str(certificate),
        "financier_id": str(api_world.world.bank.id),
        "amount": "100000.00",
        "max_rate_bps": "600",
        "expires_on": "2099-01-01",
        **changes,
    }


def _certificate(api_world: ApiWorld, certificate: int) -> dict[str, Any]:
    answer = api_world.client.get(
        f"/v1/certificates/{certificate}", headers=api_world.auth("tier1")
    )
    found: dict[str, Any] = answer.json()
    return found


def test_the_quote_is_the_ledgers(api_world: ApiWorld, held: int, operator: PortalUser) -> None:
    client = signed_in(api_world, operator)
    asked = {"certificate_id": held, "amount": "100000.00", "rate_bps": 500}
    page = client.get("/portal/financing", params=asked)
    assert page.status_code == 200
    quoted = api_world.client.get(
        "/v1/financing-requests/quote", params=asked, headers=api_world.auth("tier1")
    ).json()
    result = page.text.split('id="quote-result"')[1].split("</dl>")[0]
    for shown in (quoted["price"], quoted["discount"], str(quoted["days"])):
        assert shown in result
    refused = client.get("/portal/financing", params={**asked, "amount": "12.345"})
    assert refused.status_code == 422
    assert "Some of what was entered is not valid." in refused.text


def test_an_operator_requests_financing_with_its_agreement(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    client = signed_in(api_world, operator)
    done = _request(client, _form(api_world, held))
    assert done.status_code == 200, done.text
    assert "for 100000.00 sent to First Bank, at most 600 bp." in html.unescape(done.text)
    assert _certificate(api_world, held)["locked"] == "100000.00"  # escrowed
    requests = api_world.client.get(
        "/v1/financing-requests", headers=api_world.auth("bank")
    ).json()["items"]
    [request] = [r for r in requests if r["certificate_id"] == held]
    assert request["agreement_hash"] == "0x" + hashlib.sha256(AGREEMENT).hexdigest()
    row = done.text.split(f'data-request="{request["id"]}"')[1].split("</tr>")[0]
    assert "waiting for the financier" in row
    agreement = api_world.client.get(
        f"/v1/documents/{request['agreement_hash']}", headers=api_world.auth("bank")
    )
    assert agreement.content == AGREEMENT  # the financier reads what it is asked to sign


def test_a_refused_request_is_shown_in_words_and_escrows_nothing(
    api_world: ApiWorld, held: int, operator: PortalUser
) -> None:
    before = _certificate(api_world, held)["locked"]
    refused = _request(signed_in(api_world, operator), _form(api_world, held, amount="9999999.00"))
    assert refused.status_code == 409, refused.text
    assert "<code>Certificate" in refused.text  # the contract's custom error, by name
    assert "The request was refused" not in refused.text  # in words, not the fallback
    assert _certificate(api_world, held)["locked"] == before


def test_a_viewer_requests_nothing(api_world: ApiWorld, held: int) -> None:
    viewer = create_user(api_world, "tier1", "viewer")
    client = signed_in(api_world, viewer)
    assert 'id="request-financing"' not in client.get("/portal/financing").text
    before = _certificate(api_world, held)["locked"]
    refused = _request(client, _form(api_world, held), idempotency_key="viewer-try")
    assert refused.status_code == 403
    assert _certificate(api_world, held)["locked"] == before
