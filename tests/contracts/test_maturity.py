"""Maturity: the issuer repays a root, holders redeem (pull), unpaid roots become overdue."""

from __future__ import annotations

import pytest

from chain.accounts import Signer
from chain.contract import deploy_contract
from tests.helpers import (
    DAY,
    GRACE_PERIOD,
    World,
    approve_tokens,
    balance,
    certificate,
    issue_certificate,
    mint,
    now,
    pause,
    request_financing,
    reverts,
    root,
    set_parameter,
    split,
    travel_to,
)

ZERO_ADDRESS = "0x" + "00" * 20
FACE = 1_000_000_00
ISSUER_CASH = 100_000_000_00


@pytest.fixture(scope="module")
def world(world: World) -> World:
    """The cast, with Core Motors funded and Maturity allowed to take its money."""
    consortium = world.consortium
    mint(world, world.bank, world.core, ISSUER_CASH)
    approve_tokens(world, world.core, consortium.maturity.address, 2**256 - 1)
    return world


@pytest.fixture
def cert(world: World) -> int:
    """A 1 000 000.00 root of tier 1, maturing in 30 days."""
    return issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)


def repay(world: World, root_id: int) -> None:
    world.consortium.maturity.transact(world.core.signer, "repay", root_id)


def redeem(world: World, holder: Signer, certificate_id: int) -> int:
    receipt = world.consortium.maturity.transact(holder, "redeem", certificate_id)
    return int(world.consortium.certificates.event_args(receipt, "CertificateRedeemed")["amount"])


def mature(world: World, root_id: int) -> None:
    travel_to(world.ledger, root(world.consortium, root_id).maturity)


# ---- repay --------------------------------------------------------------------------------


def test_the_issuer_repays_the_face_value_and_the_line_is_restored(world: World, cert: int) -> None:
    consortium = world.consortium
    line_id = root(consortium, cert).line_id
    mature(world, cert)
    receipt = consortium.maturity.transact(world.core.signer, "repay", cert)

    assert consortium.certificates.event_args(receipt, "RootRepaid") == {
        "rootId": cert,
        "issuerId": world.core.id,
        "amount": FACE,
        "lineId": line_id,
    }
    assert consortium.settlement.event_args(receipt, "Transfer") == {
        "from": world.core.address,
        "to": consortium.maturity.address,
        "value": FACE,
    }
    assert consortium.credit_lines.event_args(receipt, "CreditLineRestored")["amount"] == FACE
    assert root(consortium, cert).repaid_at == now(world.ledger)
    assert consortium.certificates.call("isRepaid", cert) is True
    assert balance(consortium, consortium.maturity.address) == FACE
    assert balance(consortium, world.core) == ISSUER_CASH - FACE
    assert consortium.credit_lines.call("usedOf", line_id) == 0
    with reverts("CertificateRootAlreadyRepaid", cert):
        repay(world, cert)


def test_only_the_issuer_repays_a_root(world: World, cert: int) -> None:
    maturity = world.consortium.maturity
    for member in (world.core2, world.tier1, world.bank):
        with reverts("CertificateUnauthorizedIssuer", member.address, cert, world.core.id):
            maturity.transact(member.signer, "repay", cert)
    with reverts("CertificateUnauthorizedIssuer", world.outsider.address, cert, world.core.id):
        maturity.transact(world.outsider, "repay", cert)
    child = split(world, world.tier1, cert, world.tier2, 1_00)
    with reverts("CertificateNotRoot", child):
        repay(world, child)
    with reverts("CertificateNotFound", 999):
        repay(world, 999)


def test_repayment_needs_allowance_and_cash(world: World) -> None:
    consortium = world.consortium
    root_id = issue_certificate(world, world.core2, world.tier1, FACE)
    with reverts("ERC20InsufficientAllowance", consortium.maturity.address, 0, FACE):
        consortium.maturity.transact(world.core2.signer, "repay", root_id)
    approve_tokens(world, world.core2, consortium.maturity.address, FACE)
    mint(world, world.bank, world.core2, FACE - 1)
    with reverts("ERC20InsufficientBalance", world.core2.address, FACE - 1, FACE):
        consortium.maturity.transact(world.core2.signer, "repay", root_id)
    assert consortium.certificates.call("isRepaid", root_id) is False


def test_early_repayment_redeems_only_from_maturity_on(world: World, cert: int) -> None:
    consortium = world.consortium
    repay(world, cert)  # a month early
    child = split(world, world.tier1, cert, world.tier2, 300_000_00)  # value still moves
    maturity = root(consortium, cert).maturity
    with reverts("CertificateNotMatured", child, maturity):
        redeem(world, world.tier2.signer, child)
    travel_to(world.ledger, maturity)
    assert redeem(world, world.tier2.signer, child) == 300_000_00


# ---- redeem -------------------------------------------------------------------------------


def test_every_holder_redeems_its_own_value(world: World, cert: int) -> None:
    consortium = world.consortium
    a = split(world, world.tier1, cert, world.tier2, 600_000_00)
    b = split(world, world.tier2, a, world.tier3, 150_000_00)
    mature(world, cert)
    repay(world, cert)

    receipt = consortium.maturity.transact(world.tier3.signer, "redeem", b)
    assert consortium.certificates.event_args(receipt, "CertificateRedeemed") == {
        "id": b,
        "rootId": cert,
        "holderId": world.tier3.id,
        "amount": 150_000_00,
    }
    assert consortium.settlement.event_args(receipt, "Transfer") == {
        "from": consortium.maturity.address,
        "to": world.tier3.address,
        "value": 150_000_00,
    }
    redeemed = certificate(consortium, b)
    assert (redeemed.value, redeemed.redeemed_value, redeemed.redeemed_at) == (
        0,
        150_000_00,
        now(world.ledger),
    )
    assert redeem(world, world.tier2.signer, a) == 450_000_00
    assert redeem(world, world.tier1.signer, cert) == 400_000_00
    assert [balance(consortium, m) for m in (world.tier1, world.tier2, world.tier3)] == [
        400_000_00,
        450_000_00,
        150_000_00,
    ]
    assert root(consortium, cert).redeemed_value == FACE
    assert balance(consortium, consortium.maturity.address) == 0
    with reverts("CertificateNothingToRedeem", b):
        redeem(world, world.tier3.signer, b)


def test_a_certificate_passed_on_whole_has_nothing_to_redeem(world: World, cert: int) -> None:
    split(world, world.tier1, cert, world.tier2, FACE)
    mature(world, cert)
    repay(world, cert)
    with reverts("CertificateNothingToRedeem", cert):
        redeem(world, world.tier1.signer, cert)


def test_nothing_is_redeemed_before_repayment(world: World, cert: int) -> None:
    mature(world, cert)
    with reverts("CertificateRootNotRepaid", cert):
        redeem(world, world.tier1.signer, cert)


def test_only_the_holder_redeems(world: World, cert: int) -> None:
    """Active or suspended (tests/contracts/test_money_owed.py): money owed is paid."""
    mature(world, cert)
    repay(world, cert)
    for member in (world.tier2, world.core):
        with reverts("CertificateUnauthorizedHolder", member.address, cert, world.tier1.id):
            redeem(world, member.signer, cert)
    with reverts("CertificateUnauthorizedHolder", world.outsider.address, cert, world.tier1.id):
        redeem(world, world.outsider, cert)
    with reverts("CertificateNotFound", 999):
        redeem(world, world.tier1.signer, 999)


def test_escrowed_value_is_not_redeemed_until_the_request_closes(world: World, cert: int) -> None:
    request_id = request_financing(
        world, world.tier1, cert, world.bank, 1_000_00, expires_in=60 * DAY
    )
    mature(world, cert)
    repay(world, cert)
    with reverts("CertificateLocked", cert, 1_000_00):
        redeem(world, world.tier1.signer, cert)
    world.consortium.financing.transact(world.tier1.signer, "cancelFinancing", request_id)
    assert redeem(world, world.tier1.signer, cert) == FACE


# ---- overdue ------------------------------------------------------------------------------


def test_an_unpaid_root_becomes_overdue_after_the_grace_period(world: World, cert: int) -> None:
    consortium, maturity_contract = world.consortium, world.consortium.maturity
    set_parameter(consortium, world.governor, GRACE_PERIOD, 3 * DAY)
    assert maturity_contract.call("gracePeriod") == 3 * DAY
    maturity = root(consortium, cert).maturity
    overdue_from = maturity + 3 * DAY

    travel_to(world.ledger, overdue_from - 1)
    with reverts("MaturityGracePeriodNotOver", cert, overdue_from):
        maturity_contract.transact(world.outsider, "markOverdue", cert)
    world.ledger.mine()  # the block of the grace period's last second
    receipt = maturity_contract.transact(world.outsider, "markOverdue", cert)  # anyone may
    assert now(world.ledger) == overdue_from
    assert maturity_contract.event_args(receipt, "RootOverdue") == {
        "rootId": cert,
        "issuerId": world.core.id,
        "faceValue": FACE,
        "maturity": maturity,
        "markedBy": world.outsider.address,
    }
    assert maturity_contract.call("overdueAt", cert) == overdue_from
    with reverts("MaturityAlreadyOverdue", cert, overdue_from):
        maturity_contract.transact(world.outsider, "markOverdue", cert)

    # a late repayment still lets every holder redeem
    repay(world, cert)
    assert redeem(world, world.tier1.signer, cert) == FACE
    assert maturity_contract.call("overdueAt", cert) == overdue_from


def test_without_a_grace_period_a_root_is_overdue_from_maturity(world: World, cert: int) -> None:
    maturity_contract = world.consortium.maturity
    assert maturity_contract.call("gracePeriod") == 0
    maturity = root(world.consortium, cert).maturity
    travel_to(world.ledger, maturity - 1)
    with reverts("MaturityGracePeriodNotOver", cert, maturity):
        maturity_contract.transact(world.outsider, "markOverdue", cert)
    world.ledger.mine()
    maturity_contract.transact(world.outsider, "markOverdue", cert)


def test_repaid_roots_children_and_unknown_ids_are_never_overdue(world: World, cert: int) -> None:
    maturity_contract = world.consortium.maturity
    child = split(world, world.tier1, cert, world.tier2, 1_00)
    repay(world, cert)
    world.ledger.increase_time(60 * DAY)
    with reverts("MaturityRootRepaid", cert):
        maturity_contract.transact(world.outsider, "markOverdue", cert)
    with reverts("CertificateNotRoot", child):
        maturity_contract.transact(world.outsider, "markOverdue", child)
    with reverts("CertificateNotFound", 999):
        maturity_contract.transact(world.outsider, "markOverdue", 999)
    assert maturity_contract.call("overdueAt", cert) == 0


# ---- pause, construction, cost ------------------------------------------------------------


def test_pause_stops_repay_redeem_and_overdue_marking(world: World, cert: int) -> None:
    maturity_contract = world.consortium.maturity
    mature(world, cert)
    pause(world.consortium, world.governor)
    for signer, function in (
        (world.core.signer, "repay"),
        (world.tier1.signer, "redeem"),
        (world.outsider, "markOverdue"),
    ):
        with reverts("ConsortiumPaused"):
            maturity_contract.transact(signer, function, cert)
    assert maturity_contract.call("overdueAt", cert) == 0


def test_the_constructor_refuses_zero_addresses(world: World) -> None:
    consortium = world.consortium
    addresses = [consortium.certificates.address, consortium.settlement.address]
    assert consortium.maturity.call("wiring") == tuple(addresses)
    for index in range(2):
        args = [ZERO_ADDRESS if i == index else a for i, a in enumerate(addresses)]
        with reverts("ConsortiumZeroAddress"):
            deploy_contract(
                world.ledger, world.governor, "Maturity", consortium.governance.address, *args
            )


def test_redeem_gas_does_not_grow_with_the_number_of_certificates(world: World) -> None:
    consortium = world.consortium
    small = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)
    big = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)
    lone = split(world, world.tier1, small, world.tier2, 1_000_00)
    crowded = split(world, world.tier1, big, world.tier3, 1_000_00)
    for _ in range(60):  # explicit gas: skip py-evm's slow binary-search estimate
        consortium.certificates.transact(
            world.tier1.signer, "splitTransfer", big, world.bank2.id, 1_00, gas=1_000_000
        )
    assert consortium.certificates.call("certificateCount") >= 64
    mature(world, big)
    repay(world, small)
    repay(world, big)

    # both holders start with no tokens; both are the first redemption of their root
    gas_lone = consortium.maturity.transact(world.tier2.signer, "redeem", lone)["gasUsed"]
    gas_crowded = consortium.maturity.transact(world.tier3.signer, "redeem", crowded)["gasUsed"]
    assert gas_crowded == gas_lone
