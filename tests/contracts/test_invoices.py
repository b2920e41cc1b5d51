"""InvoiceRegistry: registration, the duplicate guard, confirmation (确权), dispute, cancel.

Assignment to a certificate is exercised in test_certificates.py, through issuing.
"""

from __future__ import annotations

import itertools

import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.contract import deploy_contract
from chain.credit_code import credit_code_hash
from chain.invoice_key import invoice_key
from chain.roles import Role
from chain.scf import InvoiceStatus
from tests.helpers import (
    DAY,
    INVOICE_CODE,
    ZERO_HASH,
    Member,
    World,
    confirmed_invoice,
    doc_hash,
    govern,
    grant_line,
    issue_certificate,
    now,
    pause,
    register_invoice,
    reverts,
    set_parameter,
    suspend,
)

INVOICE_MAX_TENOR = keccak(text="INVOICE_MAX_TENOR")

ZERO_ADDRESS = "0x" + "00" * 20
AMOUNT = 1_234_567_89  # 1 234 567.89 CNY in fen


def register(
    world: World,
    seller_signer: Signer,
    buyer_id: int,
    *,
    code: str = INVOICE_CODE,
    number: str | None = None,
    **kw: int,
) -> bytes:
    """Register invoice (``code``, ``number``: by default a fresh number); return the key the
    registry derived."""
    issued = kw.get("issued", now(world.ledger))
    receipt = world.consortium.invoices.transact(
        seller_signer,
        "registerInvoice",
        code,
        number if number is not None else fresh_number(),
        buyer_id,
        kw.get("amount", AMOUNT),
        issued,
        kw.get("due", issued + 30 * DAY),
        doc_hash("invoice.pdf"),
    )
    key: bytes = world.consortium.invoices.event_args(receipt, "InvoiceRegistered")["key"]
    return key


_numbers = itertools.count(50_000_000)


def fresh_number() -> str:
    return f"{next(_numbers):08d}"


def key_of(member: Member, code: str, number: str) -> bytes:
    return invoice_key(credit_code_hash(member.credit_code), code, number)


# ---- registration -------------------------------------------------------------------------


def test_register_derives_the_key_records_the_anchor_and_emits_everything(world: World) -> None:
    invoices = world.consortium.invoices
    key = key_of(world.tier1, "3100231130", "00012345")
    issued = now(world.ledger)
    receipt = invoices.transact(
        world.tier1.signer,
        "registerInvoice",
        "3100231130",
        "00012345",
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
        "invoiceCode": "3100231130",
        "invoiceNumber": "00012345",
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


def test_the_key_is_the_callers_own_credit_code_with_code_and_number(world: World) -> None:
    """No key is taken from the caller: the same code and number registered by two sellers are
    two invoices, each under its seller's credit code (no squatting another seller's key)."""
    mine = register(world, world.tier1.signer, world.core.id, number="00000042")
    theirs = register(world, world.tier2.signer, world.core.id, number="00000042")
    assert mine == key_of(world.tier1, INVOICE_CODE, "00000042")
    assert theirs == key_of(world.tier2, INVOICE_CODE, "00000042")
    assert mine != theirs
    seller_hash = world.consortium.members.call("getMember", world.tier1.id)[2]
    assert invoices_key(world, seller_hash, INVOICE_CODE, "00000042") == mine


def invoices_key(world: World, seller_hash: bytes, code: str, number: str) -> bytes:
    key: bytes = world.consortium.invoices.call("deriveInvoiceKey", seller_hash, code, number)
    return key


def test_a_fully_digital_e_invoice_has_no_code_and_a_20_digit_number(world: World) -> None:
    key = register(world, world.tier1.signer, world.core.id, code="", number="24312000000012345678")
    assert key == key_of(world.tier1, "", "24312000000012345678")
    # a 12-digit code with an 8-digit number is another invoice, although the digits agree
    other = register(
        world, world.tier1.signer, world.core.id, code="243120000000", number="12345678"
    )
    assert other != key


def test_a_second_registration_of_the_same_invoice_reverts(world: World) -> None:
    key = register(world, world.tier1.signer, world.core.id, number="00000001")
    with reverts("InvoiceAlreadyRegistered", key):
        register(world, world.tier1.signer, world.core.id, number="00000001")
    # another buyer, another amount: still the same invoice
    with reverts("InvoiceAlreadyRegistered", key):
        register(world, world.tier1.signer, world.core2.id, number="00000001", amount=1)


@pytest.mark.parametrize(
    ("code", "number"),
    [
        ("3100231130", "000000001"),  # 9 digits: the number padded once more
        ("3100231130", "0000001"),  # 7 digits
        ("", "310023113000000001"),  # code and number run together, no code
        ("310023113", "00000001"),  # a 9-digit code
        ("31002311300", "00000001"),  # an 11-digit code
        ("3100231130", "24312000000012345678"),  # a code on a digital invoice number
        ("", "00000001"),  # no code on a VAT number
        ("", ""),
        ("3100231130", ""),
        ("3100231130", " 0000001"),  # a space
        ("3100231130", "0000000A"),
        ("３１００２３１１３０", "00000001"),  # full-width digits are not folded: refused
        ("3100231130", "0000000١"),  # an Arabic-Indic digit
    ],
)
def test_anything_but_a_canonical_identity_is_refused(world: World, code: str, number: str) -> None:
    """Today's API accepted "000000001", "" + "3100231130000000001" and the 9-digit code as four
    more registrations of invoice ("3100231130", "00000001"): none is an invoice identity."""
    with reverts("InvoiceInvalidIdentity", code, number):
        register(world, world.tier1.signer, world.core.id, code=code, number=number)
    with reverts("InvoiceInvalidIdentity", code, number):
        invoices_key(world, b"\1" * 32, code, number)
    assert world.consortium.invoices.call("invoiceCount") == 0


def test_a_cancelled_invoice_keeps_its_key_and_never_backs_a_certificate(world: World) -> None:
    number = fresh_number()
    key = register(world, world.tier1.signer, world.core.id, number=number)
    world.consortium.invoices.transact(world.tier1.signer, "cancelInvoice", key)
    with reverts("InvoiceAlreadyRegistered", key):
        register(world, world.tier1.signer, world.core.id, number=number)
    line_id = grant_line(world, world.bank, world.core, AMOUNT)
    with reverts("InvoiceInvalidStatus", key, InvoiceStatus.CANCELLED):
        issue_certificate(
            world, world.core, world.tier1, AMOUNT, line_id=line_id, invoice_keys=[key]
        )


@pytest.mark.parametrize("who", ["core", "bank", "outsider"])
def test_only_active_suppliers_register(world: World, who: str) -> None:
    signer = world.outsider if who == "outsider" else getattr(world, who).signer
    with reverts("MemberUnauthorizedAccount", signer.address, Role.SUPPLIER.id):
        register(world, signer, world.core.id)


def test_a_suspended_supplier_cannot_register(world: World) -> None:
    suspend(world, world.tier1)
    with reverts("MemberUnauthorizedAccount", world.tier1.address, Role.SUPPLIER.id):
        register(world, world.tier1.signer, world.core.id)


@pytest.mark.parametrize(
    ("amount", "document", "field"),
    [
        (0, doc_hash("doc"), "amount"),
        (2**128, doc_hash("doc"), "amount"),
        (AMOUNT, ZERO_HASH, "documentHash"),
    ],
)
def test_register_rejects_empty_fields(
    world: World, amount: int, document: bytes, field: str
) -> None:
    issued = now(world.ledger)
    with reverts("InvoiceInvalidInput", field):
        world.consortium.invoices.transact(
            world.tier1.signer,
            "registerInvoice",
            INVOICE_CODE,
            fresh_number(),
            world.core.id,
            amount,
            issued,
            issued + DAY,
            document,
        )


@pytest.mark.parametrize(("issued", "due"), [(1000, 999), (1000, 1000), (0, 2**40)])
def test_register_rejects_impossible_dates(world: World, issued: int, due: int) -> None:
    with reverts("InvoiceInvalidDates", issued, due):
        register(world, world.tier1.signer, world.core.id, issued=issued, due=due)


def test_the_issue_date_is_not_in_the_future_anywhere(world: World) -> None:
    # the next block is one second later; an issue day that has begun in UTC+14 is accepted
    latest_ok = now(world.ledger) + 1 + 14 * 3600
    register(world, world.tier1.signer, world.core.id, issued=latest_ok, due=latest_ok + DAY)
    too_late = now(world.ledger) + 1 + 14 * 3600 + 1
    with reverts("InvoiceIssueDateInFuture", too_late):
        register(world, world.tier1.signer, world.core.id, issued=too_late, due=too_late + DAY)


def test_the_tenor_is_within_the_governance_maximum(world: World) -> None:
    invoices = world.consortium.invoices
    assert invoices.call("maxTenor") == 365 * DAY  # the default while the parameter is unset
    issued = now(world.ledger)
    register(world, world.tier1.signer, world.core.id, issued=issued, due=issued + 365 * DAY)
    with reverts("InvoiceTenorTooLong", issued, issued + 365 * DAY + 1, 365 * DAY):
        register(
            world, world.tier1.signer, world.core.id, issued=issued, due=issued + 365 * DAY + 1
        )

    set_parameter(world.consortium, world.governor, INVOICE_MAX_TENOR, 90 * DAY)
    assert invoices.call("maxTenor") == 90 * DAY
    issued = now(world.ledger)
    with reverts("InvoiceTenorTooLong", issued, issued + 91 * DAY, 90 * DAY):
        register(world, world.tier1.signer, world.core.id, issued=issued, due=issued + 91 * DAY)
    register(world, world.tier1.signer, world.core.id, issued=issued, due=issued + 90 * DAY)


def test_register_rejects_a_buyer_that_is_not_an_active_other_member(world: World) -> None:
    for buyer_id in (0, world.tier1.id, 999):
        with reverts("InvoiceInvalidBuyer", buyer_id):
            register(world, world.tier1.signer, buyer_id)
    suspend(world, world.core2)
    with reverts("InvoiceInvalidBuyer", world.core2.id):
        register(world, world.tier1.signer, world.core2.id)


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
        register(world, world.tier1.signer, world.core.id)
    for signer, function, args in (
        (world.core.signer, "confirmInvoice", ()),
        (world.core.signer, "disputeInvoice", (ZERO_HASH,)),
        (world.tier1.signer, "cancelInvoice", ()),
    ):
        with reverts("ConsortiumPaused"):
            invoices.transact(signer, function, registered, *args)
    assert invoices.call("statusOf", registered) == InvoiceStatus.REGISTERED
