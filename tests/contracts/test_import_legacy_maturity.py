"""The import of what lives after maturity (chain/migration.py): an overdue mark found in the
legacy events, a late repayment, one holder redeemed and one not; the repaid, unredeemed
value the legacy Maturity holds goes to its successor, and the holder redeems it there."""

from __future__ import annotations

from chain.deploy import MemberSpec
from chain.ledger import Ledger
from chain.migration import (
    adopted,
    adoption_calls,
    discover,
    expected_totals,
    import_all,
    prepare,
)
from chain.roles import Role
from tests.contracts.legacy import (
    deploy_legacy_consortium,
    govern_successor,
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
    travel_to,
)


def test_overdue_marks_redemptions_and_money_owed_carry_over(ledger: Ledger) -> None:
    governor = new_signer(ledger)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    legacy = deploy_legacy_consortium(ledger, governor, operator)

    def admit(name: str, *roles: Role) -> Member:
        return admit_member(legacy, governor, list(roles), name=name)

    core, tier1 = admit("Core", Role.CORE_ENTERPRISE), admit("Tier-1", Role.SUPPLIER)
    tier2, bank = admit("Tier-2", Role.SUPPLIER), admit("Bank", Role.FINANCIER)
    identity = (tier1.credit_code, INVOICE_CODE, "00000007")
    key = legacy_invoice_key(*identity)
    issued = now(ledger)
    legacy.invoices.transact(tier1.signer, "registerInvoice", key, core.id, 1_000_00, issued,
                             issued + 20 * DAY, doc_hash("7"))  # fmt: skip
    legacy.invoices.transact(core.signer, "confirmInvoice", key)
    granted = legacy.credit_lines.transact(
        bank.signer, "grantCreditLine", core.id, 1_000_00, now(ledger) + 365 * DAY
    )
    line = int(legacy.credit_lines.event_args(granted, "CreditLineGranted")["lineId"])
    maturity = now(ledger) + 30 * DAY
    legacy.certificates.transact(core.signer, "issueCertificate", tier1.id, 1_000_00, maturity,
                                 line, [key])  # fmt: skip
    legacy.certificates.transact(tier1.signer, "splitTransfer", 1, tier2.id, 400_00)
    legacy.settlement.transact(bank.signer, "mint", core.address, 1_000_00, doc_hash("in"))
    travel_to(ledger, maturity + DAY)
    legacy.maturity.transact(bank.signer, "markOverdue", 1)
    marked = legacy.maturity.call("overdueAt", 1)
    legacy.settlement.transact(core.signer, "approve", legacy.maturity.address, 1_000_00)
    legacy.maturity.transact(core.signer, "repay", 1)  # late
    legacy.maturity.transact(tier1.signer, "redeem", 1)  # tier2 has not redeemed yet
    assert legacy.settlement.call("balanceOf", legacy.maturity.address) == 400_00
    redeemed = legacy.certificates.call_struct("getCertificate", 1)

    plan = prepare(legacy, governor)
    open_import(legacy, plan, governor, 1_000_00)
    found = discover(ledger, plan)
    assert found["Maturity"] == [1]  # from the legacy RootOverdue event
    assert legacy.maturity.address in found["SettlementToken"]
    import_all(ledger, plan, governor, {key: identity})
    totals = expected_totals(ledger, plan)
    assert totals["Maturity"] == (1, 0)
    assert totals["SettlementToken"] == (2, 1_000_00)  # tier1's 600.00, Maturity's 400.00
    govern_successor(ledger, plan, governor, *adoption_calls(legacy, plan, totals))

    c = adopted(legacy, plan)
    assert c.maturity.call("overdueAt", 1) == marked
    assert c.certificates.call_struct("getCertificate", 1) == redeemed
    assert c.certificates.call_struct("getRoot", 1)["redeemedValue"] == 600_00
    assert c.settlement.call("balanceOf", c.maturity.address) == 400_00  # the successor's
    assert legacy.settlement.call("balanceOf", legacy.maturity.address) == 400_00  # untouched
    c.maturity.transact(tier2.signer, "redeem", 2)
    assert c.settlement.call("balanceOf", tier2.address) == 400_00
    assert c.settlement.call("balanceOf", c.maturity.address) == 0
    assert c.settlement.call("totalSupply") == 1_000_00
