"""The object-level authorization matrix: every route, every role, another member's object.

Tier 1 owns a set of objects (invoice, certificate, financing request, document, webhook,
operation, application seen by the committee only). Members of every role that are no
party to them — a core enterprise, a supplier, a financier — and a read-only auditor then
call every route of the API on those objects. Outsiders must get 403/404 and no trace of
the object; the auditor reads everything and writes nothing; and after all of it the
objects are exactly as they were. The test fails when a route is added to the API
without an entry here, so new routes cannot skip the matrix.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.services.api_keys import issue_key
from api.services.custody import Custody
from chain.roles import Role
from tests.api.conftest import ApiWorld
from tests.api.writes import agreement, approval, invoice_body
from tests.helpers import admit_member, new_credit_code

MARKER_AMOUNT = "4321.87"  # appears in tier 1's objects only: a leak shows up as this text
DOC = "0x" + "a7" * 32
OUTSIDERS = ("core2", "tier3", "bank2")  # one of each business role, party to nothing here
DENIED = {403, 404}


@dataclass
class Objects:
    invoice: dict[str, Any]  # registered by tier 1, not yet confirmed by the core enterprise
    certificate: dict[str, Any]  # issued by core to tier 1
    financing: dict[str, Any]  # tier 1 asks the bank to discount part of the certificate
    document_hash: str
    webhook_id: int
    operation_id: str
    application_id: int
    portal_user_id: int  # tier 1's member portal user


@pytest.fixture(scope="module")
def objects(api_world: ApiWorld) -> Objects:
    w = api_world.world
    regulator = admit_member(w.consortium, w.governor, [Role.AUDITOR], name="Regulator")
    api_world.sync()
    with api_world.sessions.begin() as session:
        for name, member_id in (("core2", w.core2.id), ("bank2", w.bank2.id)):
            api_world.keys[name] = issue_key(session, member_id, label=name).key
        api_world.keys["auditor"] = issue_key(session, regulator.id, label="auditor").key
    assert api_world.home is not None
    # the auditor's key is held too, so a refusal is authorization, not a missing key
    Custody(api_world.home / "keys", passphrase="test passphrase").store(regulator.signer)

    def post(who: str, path: str, body: Any = None, **params: str) -> Any:
        response = api_world.client.post(
            path, json=body, headers=api_world.auth(who), params=params
        )
        assert response.status_code in (200, 201, 202), f"{path}: {response.text}"
        return response.json()

    confirmed = post("tier1", "/v1/invoices", invoice_body(api_world, amount="50000.00"))
    post("core", f"/v1/invoices/{confirmed['key']}/confirm")
    line = post(
        "bank",
        "/v1/credit-lines",
        {"borrower_id": w.core.id, "limit": f"9{MARKER_AMOUNT}", "expires_on": "2031-01-01"},
    )
    now = int(w.ledger.get_block("latest")["timestamp"])
    maturity = (datetime.fromtimestamp(now, UTC) + timedelta(days=60)).date().isoformat()
    certificate = post(
        "core",
        "/v1/certificates",
        {
            "holder_id": w.tier1.id,
            "face_value": "40000.00",
            "maturity": maturity,
            "credit_line_id": line["id"],
            "invoice_keys": [confirmed["key"]],
        },
    )
    financing = post(
        "tier1",
        "/v1/financing-requests",
        {
            "certificate_id": certificate["id"],
            "financier_id": w.bank.id,
            "amount": MARKER_AMOUNT,
            "max_rate_bps": 500,
            "agreement_hash": agreement(api_world, "tier1", "bank"),
            "expires_at": (datetime.fromtimestamp(now, UTC) + timedelta(days=5)).isoformat(),
        },
    )
    invoice = post("tier1", "/v1/invoices", invoice_body(api_world, amount=MARKER_AMOUNT))
    content = f"purchase agreement, amount {MARKER_AMOUNT}".encode()
    document = post(
        "tier1",
        "/v1/documents",
        {
            "filename": "agreement.txt",
            "content_type": "text/plain",
            "content": base64.b64encode(content).decode(),
            "party_ids": [w.core.id],
        },
    )
    hook_url = f"https://erp.tier1.example/hooks/{MARKER_AMOUNT}"  # .example: never resolves
    webhook = post("tier1", "/v1/webhooks", {"url": hook_url})
    operation = post(
        "tier1",
        "/v1/settlement/transfers",
        {"to_member_id": w.tier2.id, "amount": MARKER_AMOUNT},
        wait="false",
    )
    portal_user = post(
        "tier1",
        "/v1/portal/users",
        {
            "name": f"clerk {MARKER_AMOUNT}",
            "email": "clerk@tier1.example",
            "role": "operator",
        },
    )
    application = api_world.client.post(
        "/v1/members/applications",
        json={
            "name": "Applicant Ltd",
            "credit_code": new_credit_code(),
            "roles": ["SUPPLIER"],
            "contact": "ops@applicant.example",
        },
    )
    assert application.status_code == 201, application.text
    return Objects(
        invoice=invoice,
        certificate=certificate,
        financing=financing,
        document_hash=document["hash"],
        webhook_id=int(webhook["id"]),
        operation_id=str(operation["operation_id"]),
        application_id=int(application.json()["id"]),
        portal_user_id=int(portal_user["id"]),
    )


# --- the matrix ---------------------------------------------------------------------------

Probe = Callable[[Objects, ApiWorld], tuple[str, Any]]  # -> (concrete path, JSON body)


def _no_body(path: str) -> Probe:
    return lambda o, _w: (path.format(o=o), None)


def _body(path: str, body: Callable[[Objects, ApiWorld], Any]) -> Probe:
    return lambda o, w: (path.format(o=o), body(o, w))


# Routes on one object of tier 1: every outsider gets 403/404; the auditor may read (GET)
# and may not write (POST/DELETE: 403/404).
OBJECT_ROUTES: dict[tuple[str, str], Probe] = {
    # the financier's issuance: no outsider (none is a governor here) reads it
    ("GET", "/v1/settlement/issuance/{member_id}"): lambda _o, w: (
        f"/v1/settlement/issuance/{w.world.bank.id}",
        None,
    ),
    ("GET", "/v1/invoices/{key}"): _no_body("/v1/invoices/{o.invoice[key]}"),
    ("POST", "/v1/invoices/{key}/confirm"): _no_body("/v1/invoices/{o.invoice[key]}/confirm"),
    ("POST", "/v1/invoices/{key}/dispute"): _body(
        "/v1/invoices/{o.invoice[key]}/dispute", lambda o, w: {"reason_hash": DOC}
    ),
    ("GET", "/v1/certificates/{certificate_id}"): _no_body("/v1/certificates/{o.certificate[id]}"),
    ("GET", "/v1/certificates/{certificate_id}/lineage"): _no_body(
        "/v1/certificates/{o.certificate[id]}/lineage"
    ),
    ("POST", "/v1/certificates/{certificate_id}/transfers"): _body(
        "/v1/certificates/{o.certificate[id]}/transfers",
        lambda o, w: {"to_member_id": w.world.tier2.id, "amount": "1.00"},
    ),
    ("POST", "/v1/certificates/{certificate_id}/redeem"): _no_body(
        "/v1/certificates/{o.certificate[id]}/redeem"
    ),
    ("POST", "/v1/financing-requests/{request_id}/approve"): _body(
        "/v1/financing-requests/{o.financing[id]}/approve",
        lambda o, w: approval(w, 100, requester="tier1", financier="bank"),
    ),
    ("POST", "/v1/financing-requests/{request_id}/reject"): _body(
        "/v1/financing-requests/{o.financing[id]}/reject", lambda o, w: {"reason_hash": DOC}
    ),
    ("POST", "/v1/financing-requests/{request_id}/cancel"): _no_body(
        "/v1/financing-requests/{o.financing[id]}/cancel"
    ),
    ("POST", "/v1/financing-requests/{request_id}/expire"): _no_body(
        "/v1/financing-requests/{o.financing[id]}/expire"
    ),
    ("POST", "/v1/financing-requests"): _body(
        "/v1/financing-requests",
        lambda o, w: {
            "certificate_id": o.certificate["id"],
            "financier_id": w.world.bank.id,
            "amount": "1.00",
            "max_rate_bps": 500,
            "agreement_hash": agreement(w, "tier1", "bank"),
            "expires_at": "2035-01-01T00:00:00Z",
        },
    ),
    # a quote to the maturity of a certificate the caller cannot see is refused like a read
    ("GET", "/v1/financing-requests/{request_id}"): _no_body(
        "/v1/financing-requests/{o.financing[id]}"
    ),
    ("GET", "/v1/financing-requests/quote"): _no_body(
        "/v1/financing-requests/quote?amount=1.00&rate_bps=100&certificate_id={o.certificate[id]}"
    ),
    ("POST", "/v1/certificates/{certificate_id}/overdue"): _no_body(
        "/v1/certificates/{o.certificate[id]}/overdue"
    ),
    ("POST", "/v1/repayments"): _body(
        "/v1/repayments", lambda o, w: {"root_id": o.certificate["root_id"]}
    ),
    ("GET", "/v1/documents/{document_hash}"): _no_body("/v1/documents/{o.document_hash}"),
    ("GET", "/v1/documents/{document_hash}/verify"): _no_body(
        "/v1/documents/{o.document_hash}/verify"
    ),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): _no_body(
        "/v1/webhooks/{o.webhook_id}/deliveries"
    ),
    ("DELETE", "/v1/webhooks/{webhook_id}"): _no_body("/v1/webhooks/{o.webhook_id}"),
    ("GET", "/v1/operations/{operation_id}"): _no_body("/v1/operations/{o.operation_id}"),
    ("GET", "/v1/members/applications/{application_id}"): _no_body(
        "/v1/members/applications/{o.application_id}"
    ),
    ("POST", "/v1/portal/users/{user_id}/disable"): _no_body(
        "/v1/portal/users/{o.portal_user_id}/disable"
    ),
    ("POST", "/v1/portal/users/invitations"): _body(
        "/v1/portal/users/invitations", lambda o, _w: {"user_id": o.portal_user_id}
    ),
}

# Object routes the auditor may not read either: the member's own private records.
PRIVATE_TO_OWNER = {
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
    ("GET", "/v1/operations/{operation_id}"),
}

# Lists: an outsider gets 200 and none of the objects; their party and the auditor see them
# (webhooks are each member's own: not even the auditor lists another's).
LIST_ROUTES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("GET", "/v1/invoices"): ("/v1/invoices", ("tier1", "auditor")),
    ("GET", "/v1/certificates"): ("/v1/certificates", ("tier1", "auditor")),
    ("GET", "/v1/financing-requests"): ("/v1/financing-requests", ("tier1", "auditor")),
    ("GET", "/v1/credit-lines"): ("/v1/credit-lines", ("bank", "auditor")),
    ("GET", "/v1/webhooks"): ("/v1/webhooks", ("tier1",)),
    ("GET", "/v1/portal/users"): ("/v1/portal/users", ("tier1",)),
}

# Creation and committee routes gated by role: outsiders of the wrong role get 403,
# the auditor gets 403 on every write.
ROLE_GATED: dict[tuple[str, str], tuple[Probe, set[str]]] = {
    # route: (probe, the outsiders whose role is allowed to call it)
    ("POST", "/v1/certificates"): (
        _body(
            "/v1/certificates",
            lambda o, w: {
                "holder_id": w.world.tier3.id,
                "face_value": "1.00",
                "maturity": "2031-01-01",
                "credit_line_id": 1,
                "invoice_keys": [o.invoice["key"]],
            },
        ),
        {"core2"},
    ),
    ("POST", "/v1/credit-lines"): (
        _body(
            "/v1/credit-lines",
            lambda o, w: {
                "borrower_id": w.world.core.id,
                "limit": "1.00",
                "expires_on": "2031-01-01",
            },
        ),
        {"bank2"},
    ),
    ("POST", "/v1/settlement/mint"): (
        _body(
            "/v1/settlement/mint",
            lambda o, w: {
                "to_member_id": w.world.tier1.id,
                "amount": "1.00",
                "bank_reference": DOC,
            },
        ),
        {"bank2"},
    ),
    ("GET", "/v1/governance/proposals"): (_no_body("/v1/governance/proposals"), set()),
    ("POST", "/v1/governance/proposals"): (
        _body(
            "/v1/governance/proposals",
            lambda o, w: {"kind": "suspend_member", "member_id": w.world.tier1.id},
        ),
        set(),
    ),
    ("GET", "/v1/governance/committee"): (_no_body("/v1/governance/committee"), set()),
    ("GET", "/v1/governance/proposals/{proposal_id}"): (
        _no_body("/v1/governance/proposals/1"),
        set(),
    ),
    ("POST", "/v1/governance/proposals/{proposal_id}/votes"): (
        _body("/v1/governance/proposals/1/votes", lambda o, w: {"support": "for"}),
        set(),
    ),
    ("POST", "/v1/governance/proposals/{proposal_id}/execute"): (
        _no_body("/v1/governance/proposals/1/execute"),
        set(),
    ),
    ("POST", "/v1/governance/proposals/{proposal_id}/retally"): (
        _no_body("/v1/governance/proposals/1/retally"),
        set(),
    ),
    ("POST", "/v1/governance/proposals/{proposal_id}/revoke"): (
        _no_body("/v1/governance/proposals/1/revoke"),
        set(),
    ),
    ("GET", "/v1/members/applications"): (_no_body("/v1/members/applications"), set()),
    ("GET", "/v1/risk/exposures"): (_no_body("/v1/risk/exposures"), {"core2", "bank2"}),
    # the explorer: the consortium's administrators (governors) and auditors only
    ("GET", "/v1/explorer/blocks"): (_no_body("/v1/explorer/blocks"), set()),
    ("GET", "/v1/explorer/blocks/{number}"): (_no_body("/v1/explorer/blocks/1"), set()),
    ("GET", "/v1/explorer/transactions/{tx_hash}"): (
        _no_body("/v1/explorer/transactions/0x" + "ab" * 32),
        set(),
    ),
    ("GET", "/v1/explorer/nodes"): (_no_body("/v1/explorer/nodes"), set()),
    ("GET", "/v1/explorer/search"): (_no_body("/v1/explorer/search?q=1"), set()),
    # writes on the caller's own behalf: any business role may, the auditor may not
    ("POST", "/v1/invoices"): (
        _body("/v1/invoices", lambda o, w: invoice_body(w, amount="1.00")),
        set(OUTSIDERS),
    ),
    ("POST", "/v1/settlement/burn"): (
        _body("/v1/settlement/burn", lambda o, w: {"amount": "1.00", "bank_reference": DOC}),
        set(OUTSIDERS),
    ),
    ("POST", "/v1/settlement/transfers"): (
        _body(
            "/v1/settlement/transfers",
            lambda o, w: {"to_member_id": w.world.tier1.id, "amount": "1.00"},
        ),
        set(OUTSIDERS),
    ),
    ("POST", "/v1/documents"): (
        _body(
            "/v1/documents",
            lambda o, w: {"filename": "note.txt", "content": base64.b64encode(b"note").decode()},
        ),
        set(OUTSIDERS),
    ),
    ("POST", "/v1/webhooks"): (
        _body("/v1/webhooks", lambda o, w: {"url": "https://erp.auditor.example/hooks"}),
        set(OUTSIDERS),
    ),
}

# Routes about the caller only, or public by design: no other member's object to reach.
SELF_OR_PUBLIC = {
    ("GET", "/v1/members/me"): "the caller itself",
    ("POST", "/v1/portal/users"): "a user of the caller's own member (tests/api/portal)",
    ("GET", "/v1/portal/maker-checker"): "the caller's own member's switch (tests/api/portal)",
    ("POST", "/v1/portal/maker-checker"): "the caller's own member's switch (tests/api/portal)",
    ("GET", "/v1/members"): "the consortium's member directory, visible to members",
    ("GET", "/v1/members/{member_id}"): "a directory entry",
    ("POST", "/v1/members/applications"): "unauthenticated by design, rate-limited",
    ("GET", "/v1/settlement/balance"): "the caller's own balance",
    ("GET", "/v1/risk/overdue"): "scoped to the caller (tests/api/test_risk.py)",
    ("GET", "/v1/risk/alerts"): "scoped to the caller (tests/api/test_risk.py)",
    ("GET", "/v1/events"): "filtered per member (tests/api/test_events.py)",
    ("GET", "/v1/pki/ca"): "public consortium CA",
    ("GET", "/v1/pki/crl"): "public revocation list",
    ("GET", "/metrics"): "operator scrape endpoint, no member data",
    ("GET", "/healthz"): "liveness",
}


def _call(api_world: ApiWorld, who: str, method: str, path: str, body: Any) -> Any:
    return api_world.client.request(method, path, json=body, headers=api_world.auth(who))


def test_every_route_is_in_the_matrix(api_world: ApiWorld) -> None:
    operations = {
        (method.upper(), path)
        for path, item in api_world.client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in item
    }
    classified = set(OBJECT_ROUTES) | set(LIST_ROUTES) | set(ROLE_GATED) | set(SELF_OR_PUBLIC)
    assert operations - classified == set(), "routes missing from the matrix"
    assert classified - operations == set(), "matrix entries for routes that do not exist"


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES), ids=" ".join)
def test_outsiders_cannot_reach_another_members_object(
    api_world: ApiWorld, objects: Objects, route: tuple[str, str]
) -> None:
    method, _ = route
    path, body = OBJECT_ROUTES[route](objects, api_world)
    for who in OUTSIDERS:
        response = _call(api_world, who, method, path, body)
        assert response.status_code in DENIED, f"{who}: {response.status_code} {response.text}"
        assert MARKER_AMOUNT not in response.text, f"{who} saw tier 1's data: {response.text}"
    auditor = _call(api_world, "auditor", method, path, body)
    if method == "GET" and route not in PRIVATE_TO_OWNER:
        assert auditor.status_code == 200, auditor.text
    else:
        assert auditor.status_code in DENIED, f"auditor: {auditor.status_code} {auditor.text}"


@pytest.mark.parametrize("route", sorted(LIST_ROUTES), ids=" ".join)
def test_lists_show_outsiders_none_of_another_members_objects(
    api_world: ApiWorld, objects: Objects, route: tuple[str, str]
) -> None:
    path, parties = LIST_ROUTES[route]
    for who in (*OUTSIDERS, "auditor"):
        response = _call(api_world, who, "GET", path, None)
        assert response.status_code == 200, response.text
        visible = MARKER_AMOUNT in response.text
        assert visible == (who in parties), f"{who}: {response.text}"
    for who in parties:
        assert MARKER_AMOUNT in _call(api_world, who, "GET", path, None).text, who


@pytest.mark.parametrize("route", sorted(ROLE_GATED), ids=" ".join)
def test_role_gated_routes_refuse_other_roles_and_the_auditor_writes_nothing(
    api_world: ApiWorld, objects: Objects, route: tuple[str, str]
) -> None:
    probe, allowed = ROLE_GATED[route]
    method, _ = route
    path, body = probe(objects, api_world)
    for who in (*OUTSIDERS, "auditor"):
        if who in allowed or (who == "auditor" and method == "GET"):
            continue
        response = _call(api_world, who, method, path, body)
        assert response.status_code == 403, f"{who}: {response.status_code} {response.text}"


def test_after_all_of_it_tier_1s_objects_are_unchanged(
    api_world: ApiWorld, objects: Objects
) -> None:
    # runs last in this module (pytest keeps file order): the probes above changed nothing
    def read(path: str) -> Any:
        response = _call(api_world, "tier1", "GET", path, None)
        assert response.status_code == 200, response.text
        return response.json()

    invoice = read(f"/v1/invoices/{objects.invoice['key']}")
    assert (invoice["status"], invoice["amount"]) == ("registered", MARKER_AMOUNT)
    certificate = read(f"/v1/certificates/{objects.certificate['id']}")
    assert (certificate["holder_id"], certificate["value"], certificate["locked"]) == (
        objects.certificate["holder_id"],
        objects.certificate["value"],
        MARKER_AMOUNT,  # escrowed by tier 1's own financing request, nothing else
    )
    requests = read("/v1/financing-requests")["items"]
    (request,) = [r for r in requests if r["id"] == objects.financing["id"]]
    assert request["status"] == objects.financing["status"]
    hooks = read("/v1/webhooks")
    items = hooks["items"] if isinstance(hooks, dict) else hooks
    assert objects.webhook_id in [h["id"] for h in items]
    assert read(f"/v1/documents/{objects.document_hash}/verify")["intact"] is True
    (user,) = [u for u in read("/v1/portal/users")["items"] if u["id"] == objects.portal_user_id]
    assert (user["disabled"], user["invited"]) == (False, True)
