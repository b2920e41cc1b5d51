"""CreditCertificates: issue against confirmed invoices, split transfer, lineage, the rules.

Escrow (lock / unlock / settle) is driven through the FinancingHub in test_financing.py;
repayment and redemption through Maturity in test_maturity.py.
"""

from __future__ import annotations

import pytest

from chain.contract import deploy_contract
from chain.roles import Role
from chain.scf import InvoiceStatus, lineage
from tests.helpers import (
    DAY,
    MIN_SPLIT,
    CertificateView,
    World,
    certificate,
    confirmed_invoice,
    govern,
    grant_line,
    issue_certificate,
    now,
    pause,
    register_invoice,
    request_financing,
    reverts,
    root,
    set_parameter,
    split,
    suspend,
    travel_to,
)

ZERO_ADDRESS = "0x" + "00" * 20
FACE = 1_000_000_00  # 1 000 000.00 CNY
MAX_INVOICES = 32
GAS = 1_000_000


# ---- issue --------------------------------------------------------------------------------


def test_issue_against_confirmed_invoices(world: World) -> None:
    consortium = world.consortium
    line_id = grant_line(world, world.bank, world.core, 2 * FACE)
    keys = [
        confirmed_invoice(world, world.tier1, world.core, amount)
        for amount in (400_000_00, 400_000_00, 200_000_00)
    ]
    maturity = now(world.ledger) + 90 * DAY
    receipt = consortium.certificates.transact(
        world.core.signer, "issueCertificate", world.tier1.id, FACE, maturity, line_id, keys
    )
    issued_at = now(world.ledger)

    assert consortium.certificates.event_args(receipt, "CertificateIssued") == {
        "id": 1,
        "issuerId": world.core.id,
        "holderId": world.tier1.id,
        "lineId": line_id,
        "faceValue": FACE,
        "maturity": maturity,
        "invoiceKeys": keys,
    }
    assert [
        e["args"]["key"] for e in consortium.invoices.events(receipt, "InvoiceAssigned")
    ] == keys
    assert certificate(consortium, 1) == CertificateView(
        id=1,
        root_id=1,
        parent_id=0,
        issuer_id=world.core.id,
        holder_id=world.tier1.id,
        value=FACE,
        locked=0,
        redeemed_value=0,
        maturity=maturity,
        created_at=issued_at,
        redeemed_at=0,
        depth=0,
        child_count=0,
    )
    the_root = root(consortium, 1)
    assert (the_root.issuer_id, the_root.line_id, the_root.face_value) == (
        world.core.id,
        line_id,
        FACE,
    )
    assert (the_root.redeemed_value, the_root.repaid_at, the_root.issued_at) == (0, 0, issued_at)
    for key in keys:
        invoice = consortium.invoices.call("getInvoice", key)
        assert (invoice[7], invoice[8]) == (InvoiceStatus.ASSIGNED, 1)
    assert consortium.credit_lines.call("usedOf", line_id) == FACE
    assert consortium.certificates.call("certificateCount") == 1
    assert consortium.certificates.call("isRepaid", 1) is False


def test_issue_needs_enough_backing(world: World) -> None:
    line_id = grant_line(world, world.bank, world.core, FACE)
    keys = [confirmed_invoice(world, world.tier1, world.core, FACE // 2) for _ in range(2)]
    with reverts("CertificateInsufficientBacking", FACE, FACE + 1):
        issue_certificate(
            world, world.core, world.tier1, FACE + 1, line_id=line_id, invoice_keys=keys
        )
    # nothing happened: the invoices are still free, the line untouched
    assert world.consortium.invoices.call("statusOf", keys[0]) == InvoiceStatus.CONFIRMED
    assert world.consortium.credit_lines.call("usedOf", line_id) == 0
    issue_certificate(world, world.core, world.tier1, FACE, line_id=line_id, invoice_keys=keys)


def test_issue_takes_one_to_thirty_two_invoices(world: World) -> None:
    line_id = grant_line(world, world.bank, world.core, FACE)
    with reverts("CertificateInvalidInvoiceCount", 0, MAX_INVOICES):
        issue_certificate(world, world.core, world.tier1, 1, line_id=line_id, invoice_keys=[])
    fake = [bytes([i]) * 32 for i in range(1, MAX_INVOICES + 2)]
    with reverts("CertificateInvalidInvoiceCount", MAX_INVOICES + 1, MAX_INVOICES):
        issue_certificate(world, world.core, world.tier1, 1, line_id=line_id, invoice_keys=fake)
    keys = [confirmed_invoice(world, world.tier1, world.core, 1_00) for _ in range(MAX_INVOICES)]
    root_id = issue_certificate(
        world, world.core, world.tier1, 32_00, line_id=line_id, invoice_keys=keys
    )
    assert certificate(world.consortium, root_id).value == 32_00


def test_issue_refuses_invoices_that_are_not_the_issuers_confirmed_debt_to_the_holder(
    world: World,
) -> None:
    line_id = grant_line(world, world.bank, world.core, FACE)

    def issue(key: bytes) -> None:
        issue_certificate(world, world.core, world.tier1, 1_00, line_id=line_id, invoice_keys=[key])

    unconfirmed = register_invoice(world, world.tier1, world.core, FACE)
    with reverts("InvoiceInvalidStatus", unconfirmed, InvoiceStatus.REGISTERED):
        issue(unconfirmed)
    to_another_supplier = confirmed_invoice(world, world.tier2, world.core, FACE)
    with reverts("InvoicePartyMismatch", to_another_supplier, world.core.id, world.tier2.id):
        issue(to_another_supplier)
    owed_by_another_core = confirmed_invoice(world, world.tier1, world.core2, FACE)
    with reverts("InvoicePartyMismatch", owed_by_another_core, world.core2.id, world.tier1.id):
        issue(owed_by_another_core)
    unknown = b"\x11" * 32
    with reverts("InvoiceNotFound", unknown):
        issue(unknown)

    good = confirmed_invoice(world, world.tier1, world.core, FACE)
    with reverts("InvoiceInvalidStatus", good, InvoiceStatus.ASSIGNED):  # listed twice
        issue_certificate(
            world, world.core, world.tier1, 1_00, line_id=line_id, invoice_keys=[good, good]
        )
    issue(good)
    with reverts("InvoiceInvalidStatus", good, InvoiceStatus.ASSIGNED):  # never twice
        issue(good)


@pytest.mark.parametrize("who", ["tier1", "bank", "outsider"])
def test_only_active_core_enterprises_issue(world: World, who: str) -> None:
    signer = world.outsider if who == "outsider" else getattr(world, who).signer
    with reverts("MemberUnauthorizedAccount", signer.address, Role.CORE_ENTERPRISE.id):
        world.consortium.certificates.transact(
            signer, "issueCertificate", world.tier1.id, 1, now(world.ledger) + DAY, 1, [b"\1" * 32]
        )


def test_issue_validates_holder_face_value_and_maturity(world: World) -> None:
    certificates = world.consortium.certificates
    later = now(world.ledger) + DAY
    key = b"\1" * 32

    def issue(holder: int, face: int, maturity: int) -> None:
        certificates.transact(
            world.core.signer, "issueCertificate", holder, face, maturity, 1, [key]
        )

    for holder in (0, world.bank.id, world.core2.id, world.core.id, 999):
        with reverts("CertificateInvalidRecipient", holder):
            issue(holder, FACE, later)
    for face in (0, 2**128):
        with reverts("CertificateInvalidAmount", face):
            issue(world.tier1.id, face, later)
    for maturity in (now(world.ledger), 2**40):
        with reverts("CertificateInvalidMaturity", maturity):
            issue(world.tier1.id, FACE, maturity)
    suspend(world, world.tier1)
    with reverts("CertificateInvalidRecipient", world.tier1.id):
        issue(world.tier1.id, FACE, later)


# ---- split transfer and lineage -----------------------------------------------------------


def test_split_transfer_creates_a_child_and_keeps_the_rest(world: World) -> None:
    consortium = world.consortium
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    receipt = consortium.certificates.transact(
        world.tier1.signer, "splitTransfer", root_id, world.tier2.id, 300_000_00
    )
    child_id = root_id + 1
    assert consortium.certificates.event_args(receipt, "CertificateSplit") == {
        "sourceId": root_id,
        "childId": child_id,
        "rootId": root_id,
        "fromId": world.tier1.id,
        "toId": world.tier2.id,
        "amount": 300_000_00,
        "sourceValue": 700_000_00,
    }
    child = certificate(consortium, child_id)
    assert (child.root_id, child.parent_id, child.holder_id, child.value, child.depth) == (
        root_id,
        root_id,
        world.tier2.id,
        300_000_00,
        1,
    )
    assert (child.issuer_id, child.maturity) == (world.core.id, root(consortium, root_id).maturity)
    assert certificate(consortium, root_id).value == 700_000_00
    assert certificate(consortium, root_id).child_count == 1


def test_lineage_can_be_walked_both_ways(world: World) -> None:
    certificates = world.consortium.certificates
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    a = split(world, world.tier1, root_id, world.tier2, 500_000_00)
    b = split(world, world.tier1, root_id, world.tier3, 100_000_00)
    c = split(world, world.tier2, a, world.tier3, 200_000_00)
    d = split(world, world.tier3, c, world.bank, 50_000_00)

    assert [certificates.call("childAt", root_id, i) for i in range(2)] == [a, b]
    path = lineage(world.consortium, d)
    assert [p.id for p in path] == [root_id, a, c, d]
    assert [p.holder_id for p in path] == [
        w.id for w in (world.tier1, world.tier2, world.tier3, world.bank)
    ]
    assert [p.depth for p in path] == [0, 1, 2, 3]
    assert certificates.call("childCount", root_id) == 2
    assert certificates.call("childCount", a) == 1
    assert certificates.call("childCount", d) == 0
    with reverts("CertificateChildNotFound", root_id, 2):
        certificates.call("childAt", root_id, 2)
    assert [certificates.call("parentOf", x) for x in (root_id, a, b, c, d)] == [
        0,
        root_id,
        root_id,
        a,
        c,
    ]
    assert {certificates.call("rootOf", x) for x in (root_id, a, b, c, d)} == {root_id}
    assert [certificate(world.consortium, x).depth for x in (root_id, a, c, d)] == [0, 1, 2, 3]
    assert certificates.call("holderOf", d) == world.bank.id
    assert [certificates.call("valueOf", x) for x in (root_id, a, b, c, d)] == [
        400_000_00,
        300_000_00,
        100_000_00,
        150_000_00,
        50_000_00,
    ]
    with reverts("CertificateNotRoot", a):
        certificates.call("getRoot", a)


def test_a_holder_may_pass_on_all_of_a_certificate(world: World) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    child = split(world, world.tier1, root_id, world.tier2, FACE)
    assert certificate(world.consortium, root_id).value == 0
    assert certificate(world.consortium, child).value == FACE
    with reverts("CertificateInsufficientValue", root_id, 0, 1):
        split(world, world.tier1, root_id, world.tier3, 1)


def test_only_the_holder_splits(world: World) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    for member in (world.tier2, world.core, world.bank):
        with reverts("CertificateUnauthorizedHolder", member.address, root_id, world.tier1.id):
            split(world, member, root_id, world.tier3, 1_00)
    with reverts("MemberUnknownAccount", world.outsider.address):
        world.consortium.certificates.transact(
            world.outsider, "splitTransfer", root_id, world.tier3.id, 1_00
        )


def test_a_suspended_holders_certificates_are_frozen(world: World) -> None:
    consortium = world.consortium
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    suspend(world, world.tier1)
    with reverts("MemberInvalidStatus", world.tier1.id, 2):
        split(world, world.tier1, root_id, world.tier2, 1_00)
    govern(consortium, world.governor, (consortium.members, "reinstateMember", (world.tier1.id,)))
    split(world, world.tier1, root_id, world.tier2, 1_00)


def test_recipients_are_active_suppliers_or_financiers_other_than_the_holder(world: World) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    for bad in (world.tier1.id, world.core.id, world.core2.id, 0, 999):
        with reverts("CertificateInvalidRecipient", bad):
            world.consortium.certificates.transact(
                world.tier1.signer, "splitTransfer", root_id, bad, 1_00
            )
    split(world, world.tier1, root_id, world.bank, 1_00)  # a financier may receive
    suspend(world, world.tier2)
    with reverts("CertificateInvalidRecipient", world.tier2.id):
        split(world, world.tier1, root_id, world.tier2, 1_00)


def test_split_amounts_are_positive_and_within_the_value(world: World) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    with reverts("CertificateInvalidAmount", 0):
        split(world, world.tier1, root_id, world.tier2, 0)
    with reverts("CertificateInsufficientValue", root_id, FACE, FACE + 1):
        split(world, world.tier1, root_id, world.tier2, FACE + 1)


def test_locked_value_cannot_move(world: World) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    request_financing(world, world.tier1, root_id, world.bank, 600_000_00)
    assert world.consortium.certificates.call("lockedOf", root_id) == 600_000_00
    with reverts("CertificateLocked", root_id, 600_000_00):
        split(world, world.tier1, root_id, world.tier2, 400_000_01)
    split(world, world.tier1, root_id, world.tier2, 400_000_00)  # the free part moves
    with reverts("CertificateLocked", root_id, 600_000_00):
        split(world, world.tier1, root_id, world.tier2, 1)


def test_governance_sets_a_minimum_split(world: World) -> None:
    certificates = world.consortium.certificates
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    assert certificates.call("minSplit") == 0
    split(world, world.tier1, root_id, world.tier2, 1)  # no minimum: one fen moves

    set_parameter(world.consortium, world.governor, MIN_SPLIT, 10_000_00)
    assert certificates.call("minSplit") == 10_000_00
    with reverts("CertificateBelowMinimumSplit", 9_999_99, 10_000_00):
        split(world, world.tier1, root_id, world.tier2, 9_999_99)
    value = FACE - 1
    with reverts("CertificateBelowMinimumSplit", 5_000_00, 10_000_00):  # the rest is too small
        split(world, world.tier1, root_id, world.tier2, value - 5_000_00)
    split(world, world.tier1, root_id, world.tier2, 10_000_00)
    split(world, world.tier1, root_id, world.tier2, value - 10_000_00)  # a rest of 0 is fine
    assert certificate(world.consortium, root_id).value == 0


def test_nothing_moves_at_or_after_maturity(world: World) -> None:
    consortium = world.consortium
    root_id = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)
    maturity = root(consortium, root_id).maturity

    travel_to(world.ledger, maturity - 1)
    split(world, world.tier1, root_id, world.tier2, 1_00)  # the last second before maturity
    assert now(world.ledger) == maturity - 1
    with reverts("CertificateMatured", root_id, maturity):  # runs at maturity exactly
        split(world, world.tier1, root_id, world.tier2, 1_00)
    world.ledger.increase_time(DAY)
    with reverts("CertificateMatured", root_id, maturity):
        split(world, world.tier1, root_id, world.tier2, 1_00)


def test_unknown_certificates_are_reported(world: World) -> None:
    certificates = world.consortium.certificates
    for function in (
        "getCertificate",
        "getRoot",
        "holderOf",
        "valueOf",
        "lockedOf",
        "maturityOf",
        "parentOf",
        "rootOf",
        "childCount",
        "isRepaid",
    ):
        with reverts("CertificateNotFound", 42):
            certificates.call(function, 42)
    with reverts("CertificateNotFound", 42):
        certificates.call("childAt", 42, 0)
    with reverts("CertificateNotFound", 42):
        certificates.transact(world.tier1.signer, "splitTransfer", 42, world.tier2.id, 1)


# ---- system hooks, wiring, pause ----------------------------------------------------------


def test_escrow_and_maturity_hooks_refuse_anyone_but_their_contract(world: World) -> None:
    certificates = world.consortium.certificates
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    signer = world.tier1.signer
    calls: list[tuple[str, tuple[object, ...]]] = [
        ("lockValue", (root_id, world.tier1.address, 1)),
        ("unlockValue", (root_id, 1)),
        ("settleLocked", (root_id, 1, world.bank.id)),
        ("recordRepayment", (root_id, world.core.address)),
        ("recordRedemption", (root_id, world.tier1.address)),
    ]
    for function, args in calls:
        with reverts("CertificateUnauthorizedCaller", signer.address):
            certificates.transact(signer, function, *args)


def test_financing_hub_and_maturity_are_wired_once_by_governance(world: World) -> None:
    consortium = world.consortium
    certificates = consortium.certificates
    assert certificates.call("systemContracts") == (
        consortium.financing.address,
        consortium.maturity.address,
    )
    for function, current in (
        ("setFinancingHub", consortium.financing.address),
        ("setMaturity", consortium.maturity.address),
    ):
        with reverts("ConsortiumUnauthorizedGovernance", world.governor.address):
            certificates.transact(world.governor, function, world.outsider.address)
        with reverts("CertificateSystemAlreadySet", current):
            govern(consortium, world.governor, (certificates, function, (world.outsider.address,)))

    fresh = deploy_contract(
        world.ledger,
        world.governor,
        "CreditCertificates",
        consortium.governance.address,
        consortium.members.address,
        consortium.invoices.address,
        consortium.credit_lines.address,
    )
    for function, event in (
        ("setFinancingHub", "CertificateFinancingHubSet"),
        ("setMaturity", "CertificateMaturitySet"),
    ):
        with reverts("ConsortiumZeroAddress"):
            govern(consortium, world.governor, (fresh, function, (ZERO_ADDRESS,)))
        receipt = govern(consortium, world.governor, (fresh, function, (world.outsider.address,)))
        assert list(fresh.event_args(receipt, event).values()) == [world.outsider.address]


def test_the_constructor_refuses_zero_addresses(world: World) -> None:
    consortium = world.consortium
    addresses = [
        consortium.members.address,
        consortium.invoices.address,
        consortium.credit_lines.address,
    ]
    for index in range(3):
        args = [ZERO_ADDRESS if i == index else a for i, a in enumerate(addresses)]
        with reverts("ConsortiumZeroAddress"):
            deploy_contract(
                world.ledger,
                world.governor,
                "CreditCertificates",
                consortium.governance.address,
                *args,
            )


def test_pause_stops_issue_and_split_but_not_the_views(world: World) -> None:
    line_id = grant_line(world, world.bank, world.core, FACE)
    key = confirmed_invoice(world, world.tier1, world.core, FACE)
    root_id = issue_certificate(world, world.core, world.tier1, 1_00)
    pause(world.consortium, world.governor)
    with reverts("ConsortiumPaused"):
        issue_certificate(world, world.core, world.tier1, FACE, line_id=line_id, invoice_keys=[key])
    with reverts("ConsortiumPaused"):
        split(world, world.tier1, root_id, world.tier2, 1)
    assert certificate(world.consortium, root_id).value == 1_00


# ---- cost ---------------------------------------------------------------------------------


def test_split_gas_does_not_grow_with_the_number_of_certificates(world: World) -> None:
    certificates = world.consortium.certificates

    def split_gas() -> int:
        fresh = issue_certificate(world, world.core, world.tier1, FACE)
        split(world, world.tier1, fresh, world.tier2, 1_00)  # warm the source's lineage slot
        receipt = certificates.transact(
            world.tier1.signer, "splitTransfer", fresh, world.tier2.id, 1_00
        )
        return int(receipt["gasUsed"])

    before = split_gas()
    busy = issue_certificate(world, world.core, world.tier1, FACE)
    for _ in range(60):  # explicit gas: skip py-evm's slow binary-search estimate
        certificates.transact(
            world.tier1.signer, "splitTransfer", busy, world.tier3.id, 1_00, gas=GAS
        )
    assert certificates.call("certificateCount") > 60
    assert certificates.call("childCount", busy) == 60
    assert split_gas() == before
    # a certificate with 60 children splits at the same cost as one with 1
    receipt = certificates.transact(world.tier1.signer, "splitTransfer", busy, world.tier2.id, 1_00)
    assert receipt["gasUsed"] == before
