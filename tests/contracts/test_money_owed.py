"""Certificates and maturity (issue 21 item 5): MIN_SPLIT holds for escrowed value too, and
suspension freezes trading, never money that is owed."""

from __future__ import annotations

import pytest

from tests.helpers import (
    AGREEMENT,
    DAY,
    MIN_SPLIT,
    World,
    approve_tokens,
    balance,
    certificate,
    issue_certificate,
    mint,
    request_financing,
    reverts,
    root,
    set_parameter,
    split,
    suspend,
    travel_to,
)

FACE = 1_000_00
MINIMUM = 100_00


@pytest.fixture(scope="module")
def world(world: World) -> World:
    """The cast, with money on both sides, the contracts allowed to take it, and a MIN_SPLIT."""
    consortium = world.consortium
    mint(world, world.bank, world.core, 10 * FACE)
    approve_tokens(world, world.core, consortium.maturity.address, 2**256 - 1)
    mint(world, world.bank, world.bank, 10 * FACE)
    approve_tokens(world, world.bank, consortium.financing.address, 2**256 - 1)
    set_parameter(consortium, world.governor, MIN_SPLIT, MINIMUM)
    return world


@pytest.fixture
def cert(world: World) -> int:
    return issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)


# ---- MIN_SPLIT and escrow -------------------------------------------------------------------


def test_a_second_lock_may_not_leave_a_free_rest_below_the_minimum(world: World, cert: int) -> None:
    request_financing(world, world.tier1, cert, world.bank, 500_00)
    # 500 locked, 450 more would leave 50 free: once both settle, a 50 piece would remain
    with reverts("CertificateBelowMinimumSplit", 50_00, MINIMUM):
        request_financing(world, world.tier1, cert, world.bank2, 450_00)
    with reverts("CertificateBelowMinimumSplit", 50_00, MINIMUM):
        split(world, world.tier1, cert, world.tier2, 450_00)
    request_financing(world, world.tier1, cert, world.bank2, 400_00)  # leaves 100 free
    assert certificate(world.consortium, cert).locked == 900_00


def test_locks_may_take_the_whole_value(world: World, cert: int) -> None:
    request_financing(world, world.tier1, cert, world.bank, 500_00)
    request_financing(world, world.tier1, cert, world.bank2, 500_00)
    assert certificate(world.consortium, cert).locked == FACE


def test_however_two_escrows_end_no_piece_below_the_minimum_remains(
    world: World, cert: int
) -> None:
    hub = world.consortium.financing
    first = request_financing(world, world.tier1, cert, world.bank, 600_00)
    second = request_financing(world, world.tier1, cert, world.bank, 300_00)
    hub.transact(world.bank.signer, "approveFinancing", first, 100, AGREEMENT)
    hub.transact(world.bank.signer, "approveFinancing", second, 100, AGREEMENT)
    assert certificate(world.consortium, cert).value == 100_00 >= MINIMUM


# ---- suspension never freezes money owed ----------------------------------------------------


def test_a_suspended_issuer_still_repays(world: World, cert: int) -> None:
    consortium = world.consortium
    suspend(world, world.core)
    before = balance(consortium, world.core)
    receipt = consortium.maturity.transact(world.core.signer, "repay", cert)
    assert consortium.certificates.event_args(receipt, "RootRepaid")["issuerId"] == world.core.id
    assert balance(consortium, world.core) == before - FACE
    assert balance(consortium, consortium.maturity.address) == FACE


def test_a_suspended_holder_still_redeems_at_maturity(world: World, cert: int) -> None:
    consortium = world.consortium
    consortium.maturity.transact(world.core.signer, "repay", cert)
    suspend(world, world.tier1)
    travel_to(world.ledger, root(consortium, cert).maturity)
    consortium.maturity.transact(world.tier1.signer, "redeem", cert)
    assert balance(consortium, world.tier1) == FACE
    assert balance(consortium, consortium.maturity.address) == 0


def test_suspension_still_freezes_trading(world: World, cert: int) -> None:
    consortium = world.consortium
    mint(world, world.bank, world.tier1, 10_00)
    suspend(world, world.tier1)
    with reverts("MemberInvalidStatus", world.tier1.id, 2):
        split(world, world.tier1, cert, world.tier2, MINIMUM)
    with reverts("MemberInvalidStatus", world.tier1.id, 2):
        request_financing(world, world.tier1, cert, world.bank, MINIMUM)
    with reverts("SettlementUnauthorizedParticipant", world.tier1.address):
        consortium.settlement.transact(world.tier1.signer, "transfer", world.tier2.address, 1)
    with reverts("SettlementUnauthorizedParticipant", world.tier1.address):  # and is not paid
        consortium.settlement.transact(world.bank.signer, "transfer", world.tier1.address, 1)


def test_only_the_issuers_and_holders_own_accounts_collect_or_pay(world: World, cert: int) -> None:
    consortium = world.consortium
    with reverts("CertificateUnauthorizedIssuer", world.outsider.address, cert, world.core.id):
        consortium.maturity.transact(world.outsider, "repay", cert)
    with reverts("CertificateUnauthorizedIssuer", world.core2.address, cert, world.core.id):
        consortium.maturity.transact(world.core2.signer, "repay", cert)
    consortium.maturity.transact(world.core.signer, "repay", cert)
    travel_to(world.ledger, root(consortium, cert).maturity)
    with reverts("CertificateUnauthorizedHolder", world.outsider.address, cert, world.tier1.id):
        consortium.maturity.transact(world.outsider, "redeem", cert)
    with reverts("CertificateUnauthorizedHolder", world.tier2.address, cert, world.tier1.id):
        consortium.maturity.transact(world.tier2.signer, "redeem", cert)
