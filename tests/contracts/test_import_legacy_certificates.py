"""A legacy certificate with more children than one import call copies (chain/migration.py,
CreditCertificatesImport.CHILDREN_PER_IMPORT): its children come over in bounded calls, each
far under the node's per-transaction gas cap, and it counts as imported once all are in."""

from __future__ import annotations

from chain.contract import ContractHandle
from chain.deploy import MemberSpec
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from chain.ledger import Ledger
from chain.migration import adoption_calls, expected_totals, import_all, prepare
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
    admit_member,
    doc_hash,
    new_credit_code,
    new_signer,
    now,
)


def test_a_tree_wider_than_one_call_is_imported_in_bounded_calls(ledger: Ledger) -> None:
    governor = new_signer(ledger)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    legacy = deploy_legacy_consortium(ledger, governor, operator)
    core = admit_member(legacy, governor, [Role.CORE_ENTERPRISE], name="Core")
    tier1 = admit_member(legacy, governor, [Role.SUPPLIER], name="Tier-1")
    tier2 = admit_member(legacy, governor, [Role.SUPPLIER], name="Tier-2")
    bank = admit_member(legacy, governor, [Role.FINANCIER], name="Bank")
    identity = (tier1.credit_code, INVOICE_CODE, "00000042")
    key = legacy_invoice_key(*identity)
    issued = now(ledger)
    legacy.invoices.transact(tier1.signer, "registerInvoice", key, core.id, 1_000_00, issued,
                             issued + 90 * DAY, doc_hash("42"))  # fmt: skip
    legacy.invoices.transact(core.signer, "confirmInvoice", key)
    granted = legacy.credit_lines.transact(
        bank.signer, "grantCreditLine", core.id, 1_000_00, now(ledger) + 365 * DAY
    )
    line = int(legacy.credit_lines.event_args(granted, "CreditLineGranted")["lineId"])
    legacy.certificates.transact(core.signer, "issueCertificate", tier1.id, 1_000_00,
                                 now(ledger) + 60 * DAY, line, [key])  # fmt: skip

    plan = prepare(legacy, governor)
    certificates = plan.successor(ledger, "CreditCertificates")
    importer = ContractHandle(ledger, certificates.artifact, plan.importers["CreditCertificates"])
    per_call = importer.call("CHILDREN_PER_IMPORT")
    children = per_call + 1  # one over a call
    for _ in range(children):
        legacy.certificates.transact(tier1.signer, "splitTransfer", 1, tier2.id, 1_00)
    assert legacy.certificates.call_struct("getCertificate", 1)["childCount"] == children

    open_import(legacy, plan, governor, 1_000_00)
    members = plan.successor(ledger, "MemberRegistry")
    for member_id in range(1, members.call("memberCount") + 1):
        members.transact(governor, "importMember", member_id)
    # one call copies the first CHILDREN_PER_IMPORT children, far under the gas cap, and says
    # the certificate is not imported yet
    gas = ledger.estimate_gas({"from": governor.address, "to": certificates.address,
                               "data": certificates.encode("importCertificate", 1)})  # fmt: skip
    assert gas < DEFAULT_MAX_TRANSACTION_GAS // 2
    assert certificates.call("importCertificate", 1) is False
    receipt = certificates.transact(governor, "importCertificate", 1)
    assert certificates.event_args(receipt, "LegacyChildrenImported") == {
        "id": 1,
        "copied": per_call,
    }
    assert certificates.call("childrenImported", 1) == per_call
    assert certificates.call("isImported", (1).to_bytes(32, "big")) is False

    # the import picks it up where it stopped
    import_all(ledger, plan, governor, {key: identity})
    assert certificates.call("childrenImported", 1) == children
    assert certificates.call("isImported", (1).to_bytes(32, "big")) is True
    assert certificates.call("importCertificate", 1) is False  # once
    tree = [legacy.certificates.call("childAt", 1, i) for i in range(children)]
    assert [certificates.call("childAt", 1, i) for i in range(children)] == tree
    imported = certificates.call_struct("getCertificate", 1)
    before = legacy.certificates.call_struct("getCertificate", 1)
    for field in ("rootId", "holderId", "value", "locked", "childCount", "createdAt"):
        assert imported[field] == before[field], field
    totals = expected_totals(ledger, plan)
    assert totals["CreditCertificates"] == (children + 1, 1_000_00)
    govern_successor(ledger, plan, governor, *adoption_calls(legacy, plan, totals))
