"""Concurrency where money is at stake: one invoice registered twice at the same moment,
and one financier's (or issuer's) allowance-spending writes running side by side."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from api.wire import hex0x
from chain.accounts import Signer
from chain.credit_code import credit_code_hash
from chain.errors import ContractRevert
from chain.invoice_key import invoice_key
from chain.roles import Role
from chain.scf import get_invoice
from tests.api.conftest import ApiWorld
from tests.api.writes import at_once, invoice_body, post
from tests.helpers import (
    AGREEMENT,
    admit_member,
    doc_hash,
    govern,
    issue_certificate,
    mint,
    new_signer,
    now,
    request_financing,
)


def _refused_as_duplicate(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    return bool(response.json()["error"]["details"].get("error") == "InvoiceAlreadyRegistered")


def test_the_same_invoice_sent_twice_at_the_same_moment_registers_once(
    api_world: ApiWorld,
) -> None:
    """Two clerks of the seller, two API calls for one invoice: the ledger derives one key
    and takes it once. (Another spelling of the number is no invoice at all: 422, see
    test_invoice_writes.py.)"""
    body = invoice_body(api_world)
    responses = at_once(
        [
            lambda: post(api_world, "tier1", "/v1/invoices", body, key="clerk-a"),
            lambda: post(
                api_world, "tier1", "/v1/invoices", body | {"amount": "2.00"}, key="clerk-b"
            ),
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert sum(_refused_as_duplicate(r) for r in responses) == 1


def test_one_invoice_through_two_routes_at_the_same_moment_one_wins(
    api_world: ApiWorld,
) -> None:
    """The seller registers through this API while the same seller's account signs a
    registration of the same invoice directly on the ledger (another node, a script) at the
    same moment: exactly one lands, the other is refused with InvoiceAlreadyRegistered. A
    rival member sending the same code and number registers an invoice of its own, under
    its own credit code: it can neither take nor block the seller's key."""
    w = api_world.world
    rival = admit_member(w.consortium, w.governor, [Role.SUPPLIER], name="Rival Trading")
    # a second signing account of the seller, held elsewhere (its own nonces)
    second = new_signer(w.ledger)
    govern(
        w.consortium,
        w.governor,
        (w.consortium.members, "bindAccount", (w.tier1.id, second.address)),
    )
    seller_hash = credit_code_hash(w.tier1.credit_code)
    for round_ in range(3):
        body = invoice_body(api_world)
        key = invoice_key(seller_hash, body["invoice_code"], body["invoice_number"])
        issued = now(w.ledger)
        api: list[httpx.Response] = []
        direct_error: list[str] = []

        def through_the_api(
            body: dict[str, object] = body, api: list[httpx.Response] = api
        ) -> None:
            api.append(post(api_world, "tier1", "/v1/invoices", body))

        def directly(
            body: dict[str, Any] = body, issued: int = issued, errors: list[str] = direct_error
        ) -> None:
            try:
                _register_directly(api_world, second, body, issued)
            except ContractRevert as exc:
                errors.append(exc.error_name)

        racers: list[Callable[[], None]] = [through_the_api, directly]
        at_once(racers)
        (response,) = api
        if response.status_code == 201:
            assert direct_error == ["InvoiceAlreadyRegistered"], round_
        else:
            assert direct_error == [], round_
            assert _refused_as_duplicate(response), response.text
        assert get_invoice(w.consortium, key).seller_id == w.tier1.id
        rival_key = _register_directly(api_world, rival.signer, body, issued)
        assert rival_key != key
        assert get_invoice(w.consortium, rival_key).seller_id == rival.id
        api_world.sync()
        read = api_world.client.get(f"/v1/invoices/{hex0x(key)}", headers=api_world.auth("core"))
        assert read.json()["seller_id"] == w.tier1.id


def _register_directly(
    api_world: ApiWorld, signer: Signer, body: dict[str, Any], issued: int
) -> bytes:
    """Register ``body``'s invoice with ``signer`` straight on the ledger; its key."""
    invoices = api_world.world.consortium.invoices
    receipt = invoices.transact(
        signer,
        "registerInvoice",
        body["invoice_code"],
        body["invoice_number"],
        api_world.world.core.id,
        1_000_00,
        issued,
        issued + 30 * 86_400,
        doc_hash("direct"),
    )
    key: bytes = invoices.event_args(receipt, "InvoiceRegistered")["key"]
    return key


def test_one_financier_approving_several_requests_at_once(api_world: ApiWorld) -> None:
    """Each approval sets the hub's allowance and spends it; concurrent approvals by one
    financier must not overwrite each other's allowance in between."""
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier2, 400_000_00)
    amounts = [40_000_00, 70_000_00, 100_000_00, 130_000_00]
    requests = [request_financing(w, w.tier2, certificate, w.bank, a) for a in amounts]
    mint(w, w.bank, w.bank, sum(amounts))
    api_world.sync()
    approve = "/v1/financing-requests/{}/approve"
    terms = {"rate_bps": 600, "agreement_hash": hex0x(AGREEMENT)}
    responses = at_once(
        [partial(post, api_world, "bank", approve.format(r), terms) for r in requests]
    )
    assert [r.status_code for r in responses] == [200] * len(requests), [r.text for r in responses]
    assert {r.json()["status"] for r in responses} == {"approved"}
    assert [r.json()["id"] for r in responses] == requests


def test_one_issuer_repaying_several_roots_at_once(api_world: ApiWorld) -> None:
    w = api_world.world
    faces = [10_000_00, 25_000_00, 40_000_00]
    roots = [issue_certificate(w, w.core, w.tier1, face) for face in faces]
    mint(w, w.bank, w.core, sum(faces))
    api_world.sync()
    responses = at_once(
        [partial(post, api_world, "core", "/v1/repayments", {"root_id": r}) for r in roots]
    )
    assert [r.status_code for r in responses] == [201] * len(roots), [r.text for r in responses]
    assert all(r.json()["repaid"] for r in responses)
    balance = api_world.client.get("/v1/settlement/balance", headers=api_world.auth("core"))
    assert balance.json()["balance"] == "0.00"
