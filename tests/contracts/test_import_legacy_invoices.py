"""Legacy invoices in the import (chain/migration.py): re-keyed under the on-chain derivation
after their preimage is checked; the forms the legacy rules let through, which identify no
invoice today, are refused, and the adoption cannot pass while they stay behind."""

from __future__ import annotations

import pytest

from chain.accounts import Signer
from chain.credit_code import credit_code_hash
from chain.deploy import Consortium, MemberSpec
from chain.errors import ScfError
from chain.invoice_key import invoice_key
from chain.ledger import Ledger
from chain.migration import (
    MigrationPlan,
    adopted,
    adoption_calls,
    expected_totals,
    import_all,
    is_adopted,
    prepare,
    settlement_calls,
)
from chain.roles import Role
from tests.contracts.legacy import (
    deploy_legacy_consortium,
    govern_successor,
    import_members,
    legacy_invoice_key,
    open_import,
)
from tests.helpers import (
    DAY,
    INVOICE_CODE,
    Member,
    admit_member,
    doc_hash,
    new_credit_code,
    new_signer,
    now,
    reverts,
)

SQUATTED_CODE = new_credit_code()  # a company that is no member (yet)


def _register(
    c: Consortium, seller: Member, buyer: Member, number: str, credit_code: str | None = None
) -> bytes:
    key = legacy_invoice_key(credit_code or seller.credit_code, INVOICE_CODE, number)
    issued = now(c.ledger)
    c.invoices.transact(seller.signer, "registerInvoice", key, buyer.id, 1_000_00, issued,
                        issued + 30 * DAY, doc_hash(number))  # fmt: skip
    return key


@pytest.fixture
def opened(
    ledger: Ledger,
) -> tuple[Consortium, Signer, MigrationPlan, Member, dict[str, bytes]]:
    governor = new_signer(ledger)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    c = deploy_legacy_consortium(ledger, governor, operator)
    seller = admit_member(c, governor, [Role.SUPPLIER], name="Seller")
    buyer = admit_member(c, governor, [Role.CORE_ENTERPRISE], name="Buyer")
    keys = {
        "canonical": _register(c, seller, buyer, "00000001"),
        # the legacy registry took one invoice's number with nine digits too (issue 21) ...
        "nine digits": _register(c, seller, buyer, "000000001"),
        # ... and a key computed with another company's credit code (squatting)
        "squatted": _register(c, seller, buyer, "00000002", SQUATTED_CODE),
    }
    plan = prepare(c, governor)
    open_import(c, plan, governor, 1_000_00)
    import_members(ledger, plan, governor)  # invoices are re-keyed by their seller's code
    return c, governor, plan, seller, keys


def test_an_invoice_moves_to_its_derived_key_and_a_non_canonical_one_stays_behind(
    opened: tuple[Consortium, Signer, MigrationPlan, Member, dict[str, bytes]],
) -> None:
    c, governor, plan, seller, keys = opened
    invoices = plan.successor(c.ledger, "InvoiceRegistry")
    code = seller.credit_code
    receipt = invoices.transact(
        seller.signer, "importInvoice", keys["canonical"], code, INVOICE_CODE, "00000001"
    )
    derived = invoice_key(credit_code_hash(code), INVOICE_CODE, "00000001")
    assert invoices.event_args(receipt, "LegacyInvoiceRekeyed") == {
        "legacyKey": keys["canonical"],
        "key": derived,
    }
    assert invoices.call_struct("getInvoice", derived)["sellerId"] == seller.id
    with reverts("InvoiceNotFound", keys["canonical"]):  # nothing under the legacy key
        invoices.call("getInvoice", keys["canonical"])
    # The squatted key's preimage hashes to it, but its credit code is not the seller's: it is
    # not moved under that company's derived key.
    with reverts("ImportInvalidPreimage", keys["squatted"]):
        invoices.transact(seller.signer, "importInvoice", keys["squatted"], SQUATTED_CODE,
                          INVOICE_CODE, "00000002")  # fmt: skip
    never = legacy_invoice_key(code, INVOICE_CODE, "00000003")
    with reverts("ImportNotInLegacy", never):
        invoices.transact(seller.signer, "importInvoice", never, code, INVOICE_CODE, "00000003")

    with reverts("InvoiceInvalidIdentity", INVOICE_CODE, "000000001"):
        invoices.transact(
            seller.signer, "importInvoice", keys["nine digits"], code, INVOICE_CODE, "000000001"
        )
    totals = expected_totals(c.ledger, plan)
    assert totals["InvoiceRegistry"] == (3, 3_000_00)
    with reverts("ImportTotalsMismatch", 1, 3, 1_000_00, 3_000_00):
        govern_successor(c.ledger, plan, governor, *adoption_calls(c, plan, totals))
    behind = {**totals, "InvoiceRegistry": (1, 1_000_00)}  # leaving them out is not adoption
    with reverts("ImportLegacyMismatch", 3, 1):
        govern_successor(c.ledger, plan, governor, *adoption_calls(c, plan, behind))


def test_the_import_needs_every_legacy_invoice_identity_before_it_sends_anything(
    opened: tuple[Consortium, Signer, MigrationPlan, Member, dict[str, bytes]],
) -> None:
    c, governor, plan, _, keys = opened
    nonce = c.ledger.get_transaction_count(governor.address)
    known = {keys["canonical"]: ("x", "y", "z")}
    with pytest.raises(ScfError, match="no invoice code and number for 2 legacy invoice"):
        import_all(c.ledger, plan, governor, known)
    with pytest.raises(ScfError, match="batch_size must be at least 1"):
        import_all(c.ledger, plan, governor, known, batch_size=0)
    assert c.ledger.get_transaction_count(governor.address) == nonce


def test_the_committee_keeps_or_cancels_the_legacy_invoices_it_cannot_rekey(
    opened: tuple[Consortium, Signer, MigrationPlan, Member, dict[str, bytes]],
) -> None:
    c, governor, plan, seller, keys = opened
    ledger = c.ledger
    invoices = plan.successor(ledger, "InvoiceRegistry")
    with reverts("ConsortiumUnauthorizedGovernance", seller.address):
        invoices.transact(seller.signer, "settleInvoice", keys["nine digits"], True)
    never = legacy_invoice_key(seller.credit_code, INVOICE_CODE, "00000009")
    with reverts("ImportNotInLegacy", never):
        govern_successor(ledger, plan, governor, *settlement_calls(ledger, plan, {never: False}))
    with pytest.raises(ScfError, match="1 to 16 invoices per proposal"):
        settlement_calls(ledger, plan, {})

    # the nine-digit form stays as an audited exception, the squatted key is cancelled
    decisions = {keys["nine digits"]: True, keys["squatted"]: False}
    govern_successor(ledger, plan, governor, *settlement_calls(ledger, plan, decisions))
    assert invoices.call_struct("getInvoice", keys["nine digits"])["status"] == 1  # Registered
    assert invoices.call_struct("getInvoice", keys["squatted"])["status"] == 5  # Cancelled
    counted = invoices.call("importWindow")[2]
    again = settlement_calls(ledger, plan, {keys["squatted"]: True})  # decided once: no change
    govern_successor(ledger, plan, governor, *again)
    assert invoices.call_struct("getInvoice", keys["squatted"])["status"] == 5
    assert invoices.call("importWindow")[2] == counted

    # settled invoices need no identity; the canonical one is re-keyed; the windows close
    identity = {keys["canonical"]: (seller.credit_code, INVOICE_CODE, "00000001")}
    import_all(ledger, plan, governor, identity)
    totals = expected_totals(ledger, plan)
    assert totals["InvoiceRegistry"] == (3, 3_000_00)
    govern_successor(ledger, plan, governor, *adoption_calls(c, plan, totals))
    assert is_adopted(ledger, plan)
    # a cancelled invoice never backs financing: it cannot even be confirmed
    buyer_id = invoices.call_struct("getInvoice", keys["squatted"])["buyerId"]
    buyer = c.members.call("accountsOf", buyer_id)[0]
    with reverts("InvoiceInvalidStatus", keys["squatted"], 5):
        adopted(c, plan).invoices.call("confirmInvoice", keys["squatted"], sender=buyer)
