"""A consortium deployed before the proxies adopts the current contracts by proposal
(issue 21, item 8; chain/migration.py, docs/decisions/0013): governance, registries and
business contracts alike.

On a real embedded ledger: a legacy consortium from the frozen artifacts runs the story part
way (members with several accounts or suspended, nodes, a line, invoices, a certificate split
down two tiers, money, one financing request approved and one pending, a proposal whose
execution failed); the committee hands the legacy governance to a successor with the same
committee, opens the import windows, anyone imports, the committee adopts with totals read
from the legacy views; every figure is the legacy one; the node refuses the legacy
addresses; the story finishes on the new rules, and the new governance rules hold: an
approved proposal whose execution failed expires, a change of weights is retallied, a
rotated account keeps its money. Refused on the way: imports outside the window or before
the handover, forged records, adoption with figures that do not match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from chain.backends.embedded import EmbeddedLedger
from chain.contract import ContractHandle
from chain.credit_code import credit_code_hash
from chain.deploy import UPGRADEABLE, Consortium, MemberSpec
from chain.errors import ContractRevert, TransactionRefused
from chain.governance import (
    ProposalState,
    execution_failure,
    pass_proposal,
    proposal_state,
    propose,
)
from chain.invoice_key import invoice_key
from chain.migration import (
    IMPORTED,
    MigrationPlan,
    adopted,
    adoption_calls,
    committee_of,
    discover,
    expected_totals,
    handover_calls,
    import_all,
    is_adopted,
    open_proposals,
    opening_calls,
    prepare,
    settings_calls,
)
from chain.roles import Role
from chain.upgrades import implementation_of
from tests.contracts.legacy import deploy_legacy_consortium, govern_successor, legacy_invoice_key
from tests.helpers import (
    DAY,
    INVOICE_CODE,
    Member,
    World,
    admit_member,
    approve_financing,
    doc_hash,
    govern,
    new_credit_code,
    new_signer,
    now,
    request_financing,
    reverts,
)

ISSUANCE_CAP = 50_000_000_00
AGREEMENT = doc_hash("legacy agreement")
NODE_KEYS = (b"\x11" * 64, b"\x22" * 64)  # two ledger nodes' public keys


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("legacy")


@pytest.fixture(scope="module")
def embedded(home: Path) -> Iterator[EmbeddedLedger]:
    chain = EmbeddedLedger(home / "chain", dev=True)
    yield chain
    chain.close()


def _world(ledger: EmbeddedLedger) -> World:
    governor = new_signer(ledger)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    c = deploy_legacy_consortium(ledger, governor, operator)

    def admit(name: str, *roles: Role) -> Member:
        return admit_member(c, governor, list(roles), name=name)

    return World(
        consortium=c,
        governor=governor,
        core=admit("Core Motors Group", Role.CORE_ENTERPRISE),
        core2=admit("Core Steel Corp", Role.CORE_ENTERPRISE),
        tier1=admit("Tier-1 Parts Ltd", Role.SUPPLIER),
        tier2=admit("Tier-2 Castings Ltd", Role.SUPPLIER),
        tier3=admit("Tier-3 Screws Ltd", Role.SUPPLIER),
        bank=admit("First Bank", Role.FINANCIER),
        bank2=admit("Second Factoring Co", Role.FINANCIER),
        outsider=new_signer(ledger),
    )


def _legacy_invoice(w: World, number: str, amount: int) -> tuple[bytes, tuple[str, str, str]]:
    """Register (the legacy way: the caller computes the key) and confirm an invoice of tier1
    to core; return its key and identity."""
    c, seller = w.consortium, w.tier1
    identity = (seller.credit_code, INVOICE_CODE, number)
    key = legacy_invoice_key(*identity)
    issued = now(c.ledger)
    c.invoices.transact(
        seller.signer, "registerInvoice", key, w.core.id, amount, issued, issued + 90 * DAY,
        doc_hash(number),
    )  # fmt: skip
    c.invoices.transact(w.core.signer, "confirmInvoice", key)
    return key, identity


def _figures(c: Consortium, w: World, ids: dict[str, int], keys: dict[bytes, bytes]) -> Any:
    """Everything the story has on chain, by field name, wherever it lives."""
    members = (w.core, w.tier1, w.tier2, w.tier3, w.bank)
    certificates = c.certificates
    member_count = c.members.call("memberCount")
    node_ids = c.nodes.call("nodeIds")
    return {
        "members": [
            (c.members.call_struct("getMember", i), c.members.call("accountsOf", i))
            for i in range(1, member_count + 1)
        ],
        "nodes": [c.nodes.call_struct("getNode", n) for n in node_ids],
        "allowed nodes": c.nodes.call("allowedNodeCount"),
        "certificates": [
            certificates.call_struct("getCertificate", i) for i in range(1, ids["cert"] + 1)
        ],
        "root": certificates.call_struct("getRoot", 1),
        "children": [
            [certificates.call("childAt", i, n) for n in range(certificates.call("childCount", i))]
            for i in range(1, ids["cert"] + 1)
        ],
        "requests": [
            {k: v for k, v in c.financing.call_struct("getRequest", i).items() if k != "maxRateBps"}
            for i in range(1, ids["request"] + 1)
        ],
        "line": c.credit_lines.call_struct("getCreditLine", ids["line"]),
        "invoices": [
            {k: v for k, v in c.invoices.call_struct("getInvoice", key).items() if k != "key"}
            for key in keys.values()
        ],
        "balances": {m.name: c.settlement.call("balanceOf", m.address) for m in members},
        "held by the hub": c.settlement.call("balanceOf", c.financing.address),
        "held by maturity": c.settlement.call("balanceOf", c.maturity.address),
        "supply": c.settlement.call("totalSupply"),
        "minted": c.settlement.call("totalMinted"),
        "counts": (
            c.invoices.call("invoiceCount"),
            c.credit_lines.call("creditLineCount"),
            certificates.call("certificateCount"),
            c.financing.call("requestCount"),
        ),
    }


def test_a_legacy_consortium_adopts_the_current_contracts_and_finishes_its_story(
    embedded: EmbeddedLedger, home: Path
) -> None:
    ledger = embedded
    w = _world(ledger)
    legacy = w.consortium
    core, tier1, tier2, tier3, bank = w.core, w.tier1, w.tier2, w.tier3, w.bank

    # ---- part one, on the legacy contracts -------------------------------------------------
    key1, identity1 = _legacy_invoice(w, "00000101", 1_000_000_00)
    key2, identity2 = _legacy_invoice(w, "00000102", 300_000_00)  # confirmed, backs nothing
    granted = legacy.credit_lines.transact(
        bank.signer, "grantCreditLine", core.id, 5_000_000_00, now(ledger) + 365 * DAY
    )
    line = int(legacy.credit_lines.event_args(granted, "CreditLineGranted")["lineId"])
    maturity = now(ledger) + 180 * DAY
    receipt = legacy.certificates.transact(
        core.signer, "issueCertificate", tier1.id, 1_000_000_00, maturity, line, [key1]
    )
    root_id = int(legacy.certificates.event_args(receipt, "CertificateIssued")["id"])

    def split(holder: Member, cert: int, to: Member, amount: int) -> int:
        r = legacy.certificates.transact(holder.signer, "splitTransfer", cert, to.id, amount)
        return int(legacy.certificates.event_args(r, "CertificateSplit")["childId"])

    to_tier2 = split(tier1, root_id, tier2, 700_000_00)
    to_tier3 = split(tier2, to_tier2, tier3, 250_000_00)
    for to in (bank, core):
        legacy.settlement.transact(bank.signer, "mint", to.address, 1_000_000_00, doc_hash("in"))
    legacy.settlement.transact(bank.signer, "transfer", tier1.address, 10_000_00)

    def request(holder: Member, cert: int, amount: int) -> int:
        r = legacy.financing.transact(holder.signer, "requestFinancing", cert, bank.id, amount,
                                      AGREEMENT, now(ledger) + 40 * DAY)  # fmt: skip
        return int(legacy.financing.event_args(r, "FinancingRequested")["requestId"])

    approved_request = request(tier2, to_tier2, 100_000_00)
    legacy.settlement.transact(bank.signer, "approve", legacy.financing.address, 100_000_00)
    legacy.financing.transact(bank.signer, "approveFinancing", approved_request, 435)
    pending_request = request(tier3, to_tier3, 200_000_00)  # locks 200 000.00 of to_tier3
    # the registries' state: a second account, a suspended member, nodes (one removed)
    second_account = new_signer(ledger)
    node_ids = [keccak(k) for k in NODE_KEYS]
    govern(legacy, w.governor,
           (legacy.members, "bindAccount", (bank.id, second_account.address)),
           (legacy.members, "suspendMember", (w.core2.id,)),
           (legacy.nodes, "addNode", (NODE_KEYS[0], 1, "node-a:30303")),
           (legacy.nodes, "addNode", (NODE_KEYS[1], bank.id, "node-b:30303")),
           (legacy.nodes, "removeNode", (node_ids[1],)))  # fmt: skip
    # a legacy proposal whose execution failed stays executable for ever (the legacy rule)
    suspend_again = (legacy.members, "suspendMember", (w.core2.id,))  # suspended already
    failed, receipt = propose(legacy.governance, w.governor, [suspend_again], "Fails")
    assert execution_failure(legacy.governance, receipt) is not None
    ledger.increase_time(8 * DAY)  # past the voting period: still approved, still executable
    assert proposal_state(legacy.governance, failed) is ProposalState.APPROVED
    ids = {
        "cert": legacy.certificates.call("certificateCount"),
        "request": pending_request,
        "line": line,
    }
    assert ids["cert"] == 4  # root, two splits, the financier's certificate
    before = _figures(legacy, w, ids, {key1: key1, key2: key2})

    # ---- the successors, deployed by anyone: nothing changes yet ----------------------------
    plan = prepare(legacy, bank.signer)
    plan.save(home / "migration.json")
    plan = MigrationPlan.load(home / "migration.json")
    successor = {name: plan.successor(ledger, name) for name in IMPORTED}
    new_governance = plan.governance(ledger)
    assert committee_of(new_governance) == committee_of(legacy.governance)  # the same committee
    # outside the window: the proxies run the released code, which has no import at all ...
    with pytest.raises(ContractRevert):
        successor["CreditCertificates"].transact(tier1.signer, "importCertificate", 1)
    # ... and an importer where no window was opened says so
    importer = ContractHandle(
        ledger, successor["CreditCertificates"].artifact, plan.importers["CreditCertificates"]
    )
    with reverts("ImportWindowClosed"):
        importer.transact(tier1.signer, "importCertificate", 1)

    # a registry's window does not open while the legacy committee can still change the legacy
    with reverts("ImportLegacyNotHandedOver", legacy.governance.address):
        open_members = (successor["MemberRegistry"], "openImport", (legacy.members.address,))
        govern_successor(ledger, plan, w.governor, open_members)

    # ---- the legacy committee hands over; the successor committee opens the windows --------
    assert open_proposals(legacy.governance) == [failed]  # not carried over: listed, left
    pass_proposal(legacy.governance, w.governor, handover_calls(legacy, plan), "Hand over")
    assert legacy.governance.call("governors") == [new_governance.address]
    with reverts("GovernanceUnauthorizedAccount", w.governor.address):  # no lone old approval
        legacy.governance.transact(w.governor, "execute", failed)
    pass_proposal(new_governance, w.governor, settings_calls(legacy, plan, ISSUANCE_CAP),
                  "Settings")  # fmt: skip
    pass_proposal(new_governance, w.governor, opening_calls(legacy, plan), "Open the import")
    with reverts("ConsortiumPaused"):  # the legacy contracts stand still
        legacy.certificates.transact(tier1.signer, "splitTransfer", root_id, tier2.id, 1_000_00)
    with reverts("ImportWindowUsed", plan.legacy["Maturity"]):  # one legacy contract, once
        reopen = (successor["Maturity"], "openImport", (plan.legacy["Maturity"],))
        govern_successor(ledger, plan, w.governor, reopen)

    # forged records: nothing the legacy contracts do not hold
    with reverts("ImportNotInLegacy"):
        successor["CreditCertificates"].transact(tier1.signer, "importCertificate", 5)
    with reverts("ImportNotInLegacy"):
        successor["FinancingHub"].transact(tier1.signer, "importRequest", 0)
    forged_key = legacy_invoice_key(tier1.credit_code, INVOICE_CODE, "00000999")
    with reverts("ImportNotInLegacy", forged_key):
        successor["InvoiceRegistry"].transact(tier1.signer, "importInvoice", forged_key,
                                               *identity1[:2], "00000999")  # fmt: skip
    # a real key with another identity (to re-key it where the caller likes) is refused
    with reverts("ImportInvalidPreimage", key1):
        successor["InvoiceRegistry"].transact(tier1.signer, "importInvoice", key1,
                                               *identity1[:2], "00000102")  # fmt: skip
    with reverts("ImportNotInLegacy"):
        successor["Maturity"].transact(tier1.signer, "importOverdue", root_id)  # not overdue
    # an account without legacy money imports nothing
    assert successor["SettlementToken"].call("importBalance", w.outsider.address) is False

    # ---- anyone imports, in batches; a crash half way only means running it again ----------
    found = discover(ledger, plan)
    assert found["InvoiceRegistry"] == [key1, key2]  # from the legacy events
    assert set(found["SettlementToken"]) >= {bank.address, core.address, tier1.address}
    successor["CreditCertificates"].transact(tier3.signer, "importCertificate", 2)  # before a crash
    identities = {key1: identity1, key2: identity2}
    seen: list[tuple[str, int, int]] = []
    done = import_all(ledger, plan, tier3.signer, identities, batch_size=2,
                      progress=lambda *p: seen.append(p))  # fmt: skip
    assert done == {
        "MemberRegistry": 8,  # the operator and seven companies
        "NodeRegistry": 2,
        "InvoiceRegistry": 2,
        "CreditLines": 1,
        "SettlementToken": len(
            [a for a in found["SettlementToken"] if legacy.settlement.call("balanceOf", a)]
        ),
        "CreditCertificates": 3,  # certificate 2 was in already
        "FinancingHub": 2,
        "Maturity": 0,
    }
    # progress per batch of two: where it resumed, then each batch
    assert [p for p in seen if p[0] == "CreditCertificates"] == [
        ("CreditCertificates", 1, 4),
        ("CreditCertificates", 3, 4),
        ("CreditCertificates", 4, 4),
    ]
    assert import_all(ledger, plan, tier3.signer, identities) == dict.fromkeys(IMPORTED, 0)
    assert successor["CreditCertificates"].call("importCertificate", 2) is False  # idempotent

    # ---- adoption: the figures recorded in the proposal must be what was imported ----------
    totals = expected_totals(ledger, plan)
    assert totals["MemberRegistry"] == (8, 9)  # the bank has two accounts
    assert totals["NodeRegistry"] == (2, 1)  # one of them removed
    assert totals["CreditCertificates"] == (4, 1_000_000_00)  # live value, escrow included
    assert totals["SettlementToken"][1] == before["supply"]
    off_by_one = {**totals, "CreditCertificates": (4, 1_000_000_00 + 1)}
    with reverts("ImportTotalsMismatch", 4, 4, 1_000_000_00, 1_000_000_00 + 1):
        govern_successor(ledger, plan, w.governor, *adoption_calls(legacy, plan, off_by_one))
    not_all = {**totals, "FinancingHub": (1, 100_000_00)}  # as if one request were left out
    with reverts("ImportLegacyMismatch", 2, 1):
        govern_successor(ledger, plan, w.governor, *adoption_calls(legacy, plan, not_all))
    assert implementation_of(successor["Maturity"]) == plan.importers["Maturity"]  # all or none
    assert new_governance.call("paused") is True
    assert not is_adopted(ledger, plan)

    govern_successor(ledger, plan, w.governor, *adoption_calls(legacy, plan, totals))
    assert new_governance.call("paused") is False
    assert legacy.governance.call("paused") is True  # the legacy contracts stand still for good
    assert is_adopted(ledger, plan)
    for name in UPGRADEABLE:
        assert implementation_of(successor[name]) == plan.released[name]
    with pytest.raises(ContractRevert):  # the window is gone with the importer's code
        successor["CreditCertificates"].transact(tier1.signer, "importCertificate", 1)

    # ---- the node takes the successors; the legacy addresses are refused -------------------
    adopted(legacy, plan).save(home / "deployment.json")
    ledger.close()
    reopened = EmbeddedLedger(home / "chain", dev=True, deployment=home / "deployment.json")
    try:
        c = Consortium.load(reopened, home / "deployment.json")
        assert c.retired == plan.legacy
        w2 = dataclasses.replace(w, consortium=c)
        old_certificates = ContractHandle(reopened, legacy.certificates.artifact,
                                          plan.legacy["CreditCertificates"])  # fmt: skip
        with pytest.raises(TransactionRefused, match="is a retired contract"):
            old_certificates.transact(tier1.signer, "splitTransfer", root_id, tier2.id, 1_000_00,
                                      gas=300_000)  # fmt: skip
        new_keys = {key1: invoice_key(credit_code_hash(identity1[0]), *identity1[1:]),
                    key2: invoice_key(credit_code_hash(identity2[0]), *identity2[1:])}  # fmt: skip
        assert _figures(c, w2, ids, new_keys) == before  # every figure, field by field
        old_governance = ContractHandle(reopened, legacy.governance.artifact,
                                        plan.legacy["ConsortiumGovernance"])  # fmt: skip
        with pytest.raises(TransactionRefused, match="is a retired contract"):
            old_governance.transact(w.governor, "execute", failed, gas=300_000)
        _finish_on_the_new_rules(w2, ids, maturity, identity1, pending_request)
        _the_new_governance_rules_hold(w2)
    finally:
        reopened.close()


def _finish_on_the_new_rules(
    w: World, ids: dict[str, int], maturity: int, identity1: tuple[str, str, str], pending: int
) -> None:
    c, ledger = w.consortium, w.consortium.ledger
    core, tier1, tier2, tier3, bank = w.core, w.tier1, w.tier2, w.tier3, w.bank
    # The invoice key is derived on chain now, and the imported invoice holds it: the invoice
    # that backs the root cannot be registered a second time (the legacy rules let it).
    issued = now(ledger)
    derived = invoice_key(credit_code_hash(identity1[0]), *identity1[1:])
    with reverts("InvoiceAlreadyRegistered", derived):
        c.invoices.transact(tier1.signer, "registerInvoice", *identity1[1:], core.id,
                            1_000_000_00, issued, issued + 30 * DAY, doc_hash("again"))  # fmt: skip
    # The pending legacy request carried no seller terms: no rate is accepted for it.
    with reverts("FinancingRateAboveAccepted", pending, 435, 0):
        approve_financing_under(c, bank, pending, 435)
    c.financing.transact(tier3.signer, "cancelFinancing", pending)
    fresh = request_financing(w, tier3, 3, bank, 200_000_00, max_rate_bps=450)
    assert fresh == ids["request"] + 1  # new ids follow the legacy ones
    c.settlement.transact(bank.signer, "approve", c.financing.address, 200_000_00)
    with reverts("FinancingRateAboveAccepted", fresh, 500, 450):
        approve_financing(w, bank, fresh, 500)
    approved = c.financing.event_args(approve_financing(w, bank, fresh, 435), "FinancingApproved")
    financed = int(approved["financedCertificateId"])
    assert financed == ids["cert"] + 1  # new ids follow the legacy ones here too
    # money minted after adoption counts against the new per-financier cap
    c.settlement.transact(bank.signer, "mint", tier2.address, 5_00, doc_hash("after"))
    assert c.settlement.call("issuanceOf", bank.id)[0] == 5_00

    ledger.increase_time(maturity - now(ledger) + 1)
    c.settlement.transact(core.signer, "approve", c.maturity.address, 1_000_000_00)
    c.maturity.transact(core.signer, "repay", 1)
    owed = {
        i: (c.certificates.call("holderOf", i), c.certificates.call("valueOf", i))
        for i in range(1, c.certificates.call("certificateCount") + 1)
    }
    members = {m.id: m for m in (tier1, tier2, tier3, bank)}
    paid = {m.id: 0 for m in members.values()}
    for cert, (holder, value) in owed.items():
        if value:
            before = c.settlement.call("balanceOf", members[holder].address)
            c.maturity.transact(members[holder].signer, "redeem", cert)
            assert c.settlement.call("balanceOf", members[holder].address) == before + value
            paid[holder] += value
    assert sum(paid.values()) == 1_000_000_00
    assert paid[bank.id] == 100_000_00 + 200_000_00  # both financings, legacy and new
    assert c.certificates.call_struct("getRoot", 1)["redeemedValue"] == 1_000_000_00
    assert c.credit_lines.call("usedOf", ids["line"]) == 0
    assert c.settlement.call("balanceOf", c.maturity.address) == 0


def _the_new_governance_rules_hold(w: World) -> None:
    c, ledger, governor = w.consortium, w.consortium.ledger, w.governor
    # a rotated account keeps its settlement balance: it follows the member
    balance = c.settlement.call("balanceOf", w.tier1.address)
    assert balance > 0
    rotated = new_signer(ledger)
    govern(
        c, governor, (c.members, "rotateAccount", (w.tier1.id, w.tier1.address, rotated.address))
    )
    assert c.settlement.call("balanceOf", rotated.address) == balance
    assert c.settlement.call("balanceOf", w.tier1.address) == 0

    # an approved proposal whose execution failed expires with its execution window
    failed, receipt = propose(c.governance, governor,
                              [(c.members, "suspendMember", (999,))], "Fails")  # fmt: skip
    assert execution_failure(c.governance, receipt) is not None
    assert proposal_state(c.governance, failed) is ProposalState.APPROVED
    ledger.increase_time(c.governance.call("votingPeriod") + 1)
    assert proposal_state(c.governance, failed) is ProposalState.EXPIRED
    with reverts("GovernanceProposalNotApproved", failed, ProposalState.EXPIRED.value):
        c.governance.transact(governor, "execute", failed)

    # a change of weights is retallied: a proposal no vote can finish is settled by `retally`
    g2, g3 = new_signer(ledger), new_signer(ledger)
    govern(c, governor, (c.governance, "setGovernor", (g2.address, 1)),
           (c.governance, "setGovernor", (g3.address, 1)),
           (c.governance, "setThresholds", (51, 51)))  # fmt: skip
    key = keccak(text="RETALLIED")
    stuck, _ = propose(c.governance, governor, [(c.governance, "setParameter", (key, 1))], "P")
    c.governance.transact(g3, "vote", stuck, 2)  # Against: 1 For, 1 Against, 1 silent
    assert proposal_state(c.governance, stuck) is ProposalState.PENDING
    pass_proposal(c.governance, governor, [(c.governance, "setGovernor", (governor.address, 2))],
                  "Weight", voters=[g2])  # fmt: skip
    retallied = c.governance.transact(g3, "retally", stuck)
    assert c.governance.event_args(retallied, "ProposalRetallied")["forWeight"] == 2
    assert proposal_state(c.governance, stuck) is ProposalState.EXECUTED
    assert c.governance.call("parameter", key) == 1


def approve_financing_under(c: Consortium, financier: Member, request_id: int, rate: int) -> None:
    """Approve naming the agreement the legacy request was made under."""
    c.financing.transact(financier.signer, "approveFinancing", request_id, rate, AGREEMENT)
