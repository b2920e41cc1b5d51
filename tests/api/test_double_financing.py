"""Concurrency where money is at stake: one invoice registered twice at the same moment,
and one financier's (or issuer's) allowance-spending writes running side by side."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import httpx

from api.wire import hex0x
from chain.errors import ContractRevert
from chain.invoice_key import invoice_key
from chain.roles import Role
from chain.scf import get_invoice
from tests.api.conftest import ApiWorld
from tests.api.writes import at_once, invoice_body, post
from tests.helpers import (
    admit_member,
    doc_hash,
    issue_certificate,
    mint,
    now,
    request_financing,
)


def _refused_as_duplicate(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    return bool(response.json()["error"]["details"].get("error") == "InvoiceAlreadyRegistered")


def test_the_same_invoice_typed_two_ways_at_the_same_moment_registers_once(
    api_world: ApiWorld,
) -> None:
    """Two clerks of the seller, two API calls, two spellings of one invoice number:
    the normalized key is the same and the ledger takes it once."""
    plain = invoice_body(api_world)
    wide = plain | {
        "invoice_number": " " + plain["invoice_number"].translate(_FULL_WIDTH) + " ",
        "invoice_code": plain["invoice_code"].translate(_FULL_WIDTH),
    }
    responses = at_once(
        [
            lambda: post(api_world, "tier1", "/v1/invoices", plain, key="clerk-a"),
            lambda: post(api_world, "tier1", "/v1/invoices", wide, key="clerk-b"),
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert sum(_refused_as_duplicate(r) for r in responses) == 1


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_two_members_registering_one_invoice_at_the_same_moment_one_wins(
    api_world: ApiWorld,
) -> None:
    """The seller registers through this API while another member, whose node is
    elsewhere, signs a registration of the same invoice key at the same moment (that node
    does not check the seller's credit code: only the ledger guards). Exactly one
    registration lands; the other is refused with InvoiceAlreadyRegistered."""
    w = api_world.world
    rival = admit_member(w.consortium, w.governor, [Role.SUPPLIER], name="Rival Trading")
    for round_ in range(3):
        body = invoice_body(api_world)
        key = invoice_key(body["seller_credit_code"], body["invoice_code"], body["invoice_number"])
        issued = now(w.ledger)
        api: list[httpx.Response] = []
        rival_error: list[str] = []

        def through_the_api(
            body: dict[str, object] = body, api: list[httpx.Response] = api
        ) -> None:
            api.append(post(api_world, "tier1", "/v1/invoices", body))

        def elsewhere(
            key: bytes = key, issued: int = issued, errors: list[str] = rival_error
        ) -> None:
            try:
                w.consortium.invoices.transact(
                    rival.signer,
                    "registerInvoice",
                    key,
                    w.core.id,
                    1_000_00,
                    issued,
                    issued + 30 * 86_400,
                    doc_hash("rival"),
                )
            except ContractRevert as exc:
                errors.append(exc.error_name)

        racers: list[Callable[[], None]] = [through_the_api, elsewhere]
        at_once(racers)
        (response,) = api
        api_won = response.status_code == 201
        if api_won:
            assert rival_error == ["InvoiceAlreadyRegistered"], round_
        else:
            assert rival_error == [], round_
            assert _refused_as_duplicate(response), response.text
        seller = get_invoice(w.consortium, key).seller_id
        assert seller == (w.tier1.id if api_won else rival.id)
        api_world.sync()
        read = api_world.client.get(f"/v1/invoices/{hex0x(key)}", headers=api_world.auth("core"))
        assert read.json()["seller_id"] == seller


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
    responses = at_once(
        [partial(post, api_world, "bank", approve.format(r), {"rate_bps": 600}) for r in requests]
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
