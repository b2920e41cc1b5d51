"""FinancingHub: the seller's terms bind the financier (issue 21, item 2).

A request carries the highest discount rate the seller accepts, its deadline and the hash of
the agreement; an approval at a worse rate, or under another agreement, reverts by name.
Before, the financier alone chose the rate: a 1 000 000.00 request approved at 9 999 bps over
365 days paid the seller 100.00 while the whole value moved to the bank.
"""

from __future__ import annotations

import pytest

from chain.pricing import quote_at
from chain.scf import FinancingStatus, get_request
from tests.helpers import (
    AGREEMENT,
    DAY,
    World,
    approve_financing,
    approve_tokens,
    balance,
    certificate,
    doc_hash,
    issue_certificate,
    mint,
    now,
    request_financing,
    reverts,
    root,
    travel_to,
)

FACE = 1_000_000_00
BANK_CASH = 10_000_000_00


@pytest.fixture(scope="module")
def world(world: World) -> World:
    """The cast, with the bank funded and the hub allowed to take its money."""
    consortium = world.consortium
    mint(world, world.bank, world.bank, BANK_CASH)
    approve_tokens(world, world.bank, consortium.financing.address, BANK_CASH)
    return world


@pytest.fixture
def cert(world: World) -> int:
    """A 1 000 000.00 certificate of tier 1 maturing in 365 days."""
    return issue_certificate(world, world.core, world.tier1, FACE, maturity_in=365 * DAY)


def test_the_request_records_the_sellers_terms(world: World, cert: int) -> None:
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=450)
    request = get_request(world.consortium, request_id)
    assert (request.max_rate_bps, request.agreement_hash) == (450, AGREEMENT)


def test_an_approval_above_the_accepted_rate_reverts_and_nothing_moves(
    world: World, cert: int
) -> None:
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=450)
    with reverts("FinancingRateAboveAccepted", request_id, 9_999, 450):
        approve_financing(world, world.bank, request_id, 9_999)
    with reverts("FinancingRateAboveAccepted", request_id, 451, 450):
        approve_financing(world, world.bank, request_id, 451)
    assert balance(world.consortium, world.tier1) == 0
    assert certificate(world.consortium, cert).locked == FACE
    assert get_request(world.consortium, request_id).status is FinancingStatus.PENDING


def test_an_approval_within_the_terms_pays_at_least_the_quoted_floor(
    world: World, cert: int
) -> None:
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=450)
    maturity = root(world.consortium, cert).maturity
    floor = quote_at(FACE, 450, maturity, now(world.ledger)).price  # what the seller was shown
    travel_to(world.ledger, now(world.ledger) + 3 * DAY)
    receipt = approve_financing(world, world.bank, request_id, 450)
    paid = world.consortium.financing.event_args(receipt, "FinancingApproved")["price"]
    assert paid == balance(world.consortium, world.tier1)
    assert paid >= floor  # fewer days to maturity at the same rate: never less


def test_a_lower_rate_than_accepted_is_fine(world: World, cert: int) -> None:
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=450)
    approve_financing(world, world.bank, request_id, 300)
    assert get_request(world.consortium, request_id).rate_bps == 300


def test_the_approval_must_name_the_requests_agreement(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=450)
    other = doc_hash("another agreement")
    with reverts("FinancingAgreementMismatch", request_id, AGREEMENT, other):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 400, other)
    assert get_request(world.consortium, request_id).status is FinancingStatus.PENDING
    hub.transact(world.bank.signer, "approveFinancing", request_id, 400, AGREEMENT)
    assert get_request(world.consortium, request_id).status is FinancingStatus.APPROVED


def test_terms_above_the_maximum_rate_are_refused(world: World, cert: int) -> None:
    with reverts("FinancingInvalidRate", 10_001, 10_000):
        request_financing(world, world.tier1, cert, world.bank, FACE, max_rate_bps=10_001)


def test_the_deadline_binds_the_approval(world: World, cert: int) -> None:
    request_id = request_financing(
        world, world.tier1, cert, world.bank, FACE, max_rate_bps=450, expires_in=DAY
    )
    expires = get_request(world.consortium, request_id).expires_at
    travel_to(world.ledger, expires)
    with reverts("FinancingRequestExpired", request_id, expires):
        approve_financing(world, world.bank, request_id, 100)
