"""InvoiceRegistry: registration, the duplicate guard, confirmation (确权), dispute, cancel.

Assignment to a certificate is exercised in test_certificates.py, through issuing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.accounts import Signer
from chain.contract import deploy_contract
from chain.deploy import Consortium
from chain.invoice_key import invoice_key
from chain.roles import Role
from chain.scf import InvoiceStatus
from tests.helpers import (
    DAY,
    ZERO_HASH,
    World,
    confirmed_invoice,
    doc_hash,
    govern,
    now,
    pause,
    register_invoice,
    reverts,
    scoped_world,
    suspend,
)

ZERO_ADDRESS = "0x" + "00" * 20
AMOUNT = 1_234_567_89  # 1 234 567.89 CNY in fen


@pytest.fixture(scope="module")
def world(consortium: Consortium, deployer: Signer) -> Iterator[World]:
    with scoped_world(consortium, deployer) as cast:
        yield cast


def register(world: World, key: bytes, seller_signer: Signer, buyer_id: int, **kw: int) -> None:
    issued = kw.get("issued", now(world.ledger))
    world.consortium.invoices.transact(
        seller_signer,
        "registerInvoice",
        key,
        buyer_id,
        kw.get("amount", AMOUNT),
        issued,
        kw.get("due", issued + 30 * DAY),
        doc_hash("invoice.pdf"),
    )


# ---- registration -------------------------------------------------------------------------


def test_register_records_the_anchor_and_emits_everything(world: World) -> None:
    invoices = world.consortium.invoices
    key = invoice_key(world.tier1.credit_code, "3100231130", "00012345")
    issued = now(world.ledger)
    receipt = invoices.transact(
        world.tier1.signer,
        "registerInvoice",
        key,
        world.core.id,
        AMOUNT,
        issued,
        issued + 30 * DAY,
        doc_hash("invoice.pdf"),
    )

    assert invoices.event_args(receipt, "InvoiceRegistered") == {
        "key": key,
        "sellerId": world.tier1.id,
        "buyerId": world.core.id,
        "amount": AMOUNT,
        "issueDate": issued,
        "dueDate": issued + 30 * DAY,
        "documentHash": doc_hash("invoice.pdf"),
    }
    assert invoices.call("getInvoice", key) == (
        key,
        world.tier1.id,
        world.core.id,
        AMOUNT,
        issued,
        issued + 30 * DAY,
        doc_hash("invoice.pdf"),
        InvoiceStatus.REGISTERED,
        0,
    )
    assert invoices.call("statusOf", key) == InvoiceStatus.REGISTERED
    assert invoices.call("isRegistered", key) is True
    assert invoices.call("invoiceCount") == 1


def test_a_second_registration_of_the_same_key_by_anyone_reverts(world: World) -> None:
    key = invoice_key(world.tier1.credit_code, "3100231130", "00000001")
    register(world, key, world.tier1.signer, world.core.id)

    with reverts("InvoiceAlreadyRegistered", key):
        register(world, key, world.tier1.signer, world.core.id)
    # another supplier, another buyer, another amount: still the same invoice
    with reverts("InvoiceAlreadyRegistered", key):
        register(world, key, world.tier2.signer, world.core2.id, amount=1)


def test_the_same_invoice_typed_differently_is_caught_as_a_duplicate(world: World) -> None:
    code = world.tier1.credit_code
    first = invoice_key(code, "3100231130", "00000777")
    typed_again = invoice_key(f" {code.lower()} ", "３１００ ２３１１３０", "０００００７７７\t")
    register(world, first, world.tier1.signer, world.core.id)

    with reverts("InvoiceAlreadyRegistered", first):
        register(world, typed_again, world.tier1.signer, world.core.id)


def test_a_cancelled_invoice_keeps_its_key(world: World) -> None:
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    world.consortium.invoices.transact(world.tier1.signer, "cancelInvoice", key)
    with reverts("InvoiceAlreadyRegistered", key):
        register(world, key, world.tier1.signer, world.core.id)


@pytest.mark.parametrize("who", ["core", "bank", "outsider"])
def test_only_active_suppliers_register(world: World, who: str) -> None:
    signer = world.outsider if who == "outsider" else getattr(world, who).signer
    with reverts("MemberUnauthorizedAccount", signer.address, Role.SUPPLIER.id):
        register(world, doc_hash("k"), signer, world.core.id)


def test_a_suspended_supplier_cannot_register(world: World) -> None:
    suspend(world, world.tier1)
    with reverts("MemberUnauthorizedAccount", world.tier1.address, Role.SUPPLIER.id):
        register(world, doc_hash("k"), world.tier1.signer, world.core.id)


@pytest.mark.parametrize(
    ("key", "amount", "document", "field"),
    [
        (ZERO_HASH, AMOUNT, doc_hash("doc"), "key"),
        (doc_hash("k"), 0, doc_hash("doc"), "amount"),
        (doc_hash("k"), 2**128, doc_hash("doc"), "amount"),
        (doc_hash("k"), AMOUNT, ZERO_HASH, "documentHash"),
    ],
)
def test_register_rejects_empty_fields(
    world: World, key: bytes, amount: int, document: bytes, field: str
) -> None:
    issued = now(world.ledger)
    with reverts("InvoiceInvalidInput", field):
        world.consortium.invoices.transact(
            world.tier1.signer,
            "registerInvoice",
            key,
            world.core.id,
            amount,
            issued,
            issued,
            document,
        )


@pytest.mark.parametrize(("issued", "due"), [(1000, 999), (0, 2**40)])
def test_register_rejects_impossible_dates(world: World, issued: int, due: int) -> None:
    with reverts("InvoiceInvalidDates", issued, due):
        register(world, doc_hash("k"), world.tier1.signer, world.core.id, issued=issued, due=due)


def test_register_rejects_a_buyer_that_is_not_an_active_other_member(world: World) -> None:
    for buyer_id in (0, world.tier1.id, 999):
        with reverts("InvoiceInvalidBuyer", buyer_id):
            register(world, doc_hash("k"), world.tier1.signer, buyer_id)
    suspend(world, world.core2)
    with reverts("InvoiceInvalidBuyer", world.core2.id):
        register(world, doc_hash("k"), world.tier1.signer, world.core2.id)


# ---- confirmation, dispute, cancellation --------------------------------------------------


def test_the_buyer_confirms(world: World) -> None:
    invoices = world.consortium.invoices
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    receipt = invoices.transact(world.core.signer, "confirmInvoice", key)
    assert invoices.event_args(receipt, "InvoiceConfirmed") == {
        "key": key,
        "buyerId": world.core.id,
    }
    assert invoices.call("statusOf", key) == InvoiceStatus.CONFIRMED
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CONFIRMED):
        invoices.transact(world.core.signer, "confirmInvoice", key)


def test_only_the_buyer_confirms_or_disputes(world: World) -> None:
    invoices = world.consortium.invoices
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    for member in (world.tier1, world.core2, world.bank):
        for function, args in (("confirmInvoice", ()), ("disputeInvoice", (ZERO_HASH,))):
            with reverts("InvoiceUnauthorizedBuyer", member.address, key, world.core.id):
                invoices.transact(member.signer, function, key, *args)
    with reverts("MemberUnknownAccount", world.outsider.address):
        invoices.transact(world.outsider, "confirmInvoice", key)


def test_a_suspended_buyer_cannot_confirm(world: World) -> None:
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    suspend(world, world.core)
    with reverts("MemberInvalidStatus", world.core.id, 2):  # MemberStatus.Suspended
        world.consortium.invoices.transact(world.core.signer, "confirmInvoice", key)


def test_unknown_invoices_are_reported(world: World) -> None:
    invoices = world.consortium.invoices
    key = doc_hash("never registered")
    with reverts("InvoiceNotFound", key):
        invoices.call("getInvoice", key)
    for signer, function, args in (
        (world.core.signer, "confirmInvoice", ()),
        (world.core.signer, "disputeInvoice", (ZERO_HASH,)),
        (world.tier1.signer, "cancelInvoice", ()),
    ):
        with reverts("InvoiceNotFound", key):
            invoices.transact(signer, function, key, *args)
    assert invoices.call("statusOf", key) == InvoiceStatus.NONE
    assert invoices.call("isRegistered", key) is False


def test_the_buyer_disputes_then_the_seller_may_only_cancel(world: World) -> None:
    invoices = world.consortium.invoices
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    receipt = invoices.transact(world.core.signer, "disputeInvoice", key, doc_hash("wrong qty"))
    assert invoices.event_args(receipt, "InvoiceDisputed") == {
        "key": key,
        "buyerId": world.core.id,
        "reasonHash": doc_hash("wrong qty"),
    }
    assert invoices.call("statusOf", key) == InvoiceStatus.DISPUTED
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.DISPUTED):
        invoices.transact(world.core.signer, "confirmInvoice", key)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.DISPUTED):
        invoices.transact(world.core.signer, "disputeInvoice", key, ZERO_HASH)

    receipt = invoices.transact(world.tier1.signer, "cancelInvoice", key)
    assert invoices.event_args(receipt, "InvoiceCancelled") == {
        "key": key,
        "sellerId": world.tier1.id,
    }
    assert invoices.call("statusOf", key) == InvoiceStatus.CANCELLED


def test_a_confirmed_invoice_cannot_be_disputed_or_cancelled(world: World) -> None:
    invoices = world.consortium.invoices
    key = confirmed_invoice(world, world.tier1, world.core, AMOUNT)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CONFIRMED):
        invoices.transact(world.core.signer, "disputeInvoice", key, ZERO_HASH)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CONFIRMED):
        invoices.transact(world.tier1.signer, "cancelInvoice", key)


def test_the_seller_cancels_before_confirmation_and_only_once(world: World) -> None:
    invoices = world.consortium.invoices
    key = register_invoice(world, world.tier1, world.core, AMOUNT)
    for member in (world.core, world.tier2):
        with reverts("InvoiceUnauthorizedSeller", member.address, key, world.tier1.id):
            invoices.transact(member.signer, "cancelInvoice", key)
    invoices.transact(world.tier1.signer, "cancelInvoice", key)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CANCELLED):
        invoices.transact(world.tier1.signer, "cancelInvoice", key)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CANCELLED):
        invoices.transact(world.core.signer, "confirmInvoice", key)


# ---- system wiring and pause ------------------------------------------------------------


def test_only_the_certificates_contract_assigns(world: World) -> None:
    key = confirmed_invoice(world, world.tier1, world.core, AMOUNT)
    for signer in (world.core.signer, world.governor):
        with reverts("InvoiceUnauthorizedCaller", signer.address):
            world.consortium.invoices.transact(
                signer, "assignInvoices", [key], world.core.id, world.tier1.id, 1
            )


def test_the_certificates_contract_is_wired_once_by_governance(world: World) -> None:
    consortium = world.consortium
    invoices = consortium.invoices
    assert invoices.call("certificates") == consortium.certificates.address
    assert invoices.call("memberRegistry") == consortium.members.address
    with reverts("ConsortiumUnauthorizedGovernance", world.governor.address):
        invoices.transact(world.governor, "setCertificates", world.outsider.address)
    with reverts("InvoiceCertificatesAlreadySet", consortium.certificates.address):
        govern(consortium, world.governor, (invoices, "setCertificates", (world.outsider.address,)))

    fresh = deploy_contract(
        consortium.ledger,
        world.governor,
        "InvoiceRegistry",
        consortium.governance.address,
        consortium.members.address,
    )
    with reverts("ConsortiumZeroAddress"):
        govern(consortium, world.governor, (fresh, "setCertificates", (ZERO_ADDRESS,)))
    receipt = govern(consortium, world.governor, (fresh, "setCertificates", (invoices.address,)))
    assert fresh.event_args(receipt, "InvoiceCertificatesSet") == {"certificates": invoices.address}


def test_the_constructor_refuses_a_zero_registry(world: World) -> None:
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(
            world.ledger,
            world.governor,
            "InvoiceRegistry",
            world.consortium.governance.address,
            ZERO_ADDRESS,
        )


def test_pause_stops_every_write_but_not_the_views(world: World) -> None:
    invoices = world.consortium.invoices
    registered = register_invoice(world, world.tier1, world.core, AMOUNT)
    pause(world.consortium, world.governor)

    with reverts("ConsortiumPaused"):
        register(world, doc_hash("new"), world.tier1.signer, world.core.id)
    for signer, function, args in (
        (world.core.signer, "confirmInvoice", ()),
        (world.core.signer, "disputeInvoice", (ZERO_HASH,)),
        (world.tier1.signer, "cancelInvoice", ()),
    ):
        with reverts("ConsortiumPaused"):
            invoices.transact(signer, function, registered, *args)
    assert invoices.call("statusOf", registered) == InvoiceStatus.REGISTERED
