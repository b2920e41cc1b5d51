"""FinancingHub: request (escrow), approve (delivery versus payment), reject, cancel, expire;
pricing against the Python ``Decimal`` reference in chain/pricing.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.accounts import Signer
from chain.contract import deploy_contract
from chain.errors import ContractRevert
from chain.pricing import MAX_RATE_BPS, PricingError, days_to_maturity, quote, quote_at
from chain.roles import Role
from chain.scf import FinancingStatus
from tests.helpers import (
    AGREEMENT,
    DAY,
    MIN_SPLIT,
    ZERO_HASH,
    World,
    approve_tokens,
    balance,
    certificate,
    doc_hash,
    govern,
    issue_certificate,
    mint,
    now,
    pause,
    request_financing,
    reverts,
    root,
    set_parameter,
    split,
    suspend,
    travel_to,
)

ZERO_ADDRESS = "0x" + "00" * 20
FACE = 1_000_000_00
BANK_CASH = 10_000_000_00


@pytest.fixture(scope="module")
def world(world: World) -> World:
    """The cast, with both banks funded and the hub allowed to take their money."""
    consortium = world.consortium
    for bank in (world.bank, world.bank2):
        mint(world, bank, bank, BANK_CASH)
        approve_tokens(world, bank, consortium.financing.address, BANK_CASH)
    return world


@pytest.fixture
def cert(world: World) -> int:
    """A 1 000 000.00 certificate of tier 1 maturing in 90 days."""
    return issue_certificate(world, world.core, world.tier1, FACE, maturity_in=90 * DAY)


def request_of(world: World, request_id: int) -> tuple[Any, ...]:
    result: tuple[Any, ...] = world.consortium.financing.call("getRequest", request_id)
    return result


def status_of(world: World, request_id: int) -> FinancingStatus:
    return FinancingStatus(request_of(world, request_id)[10])


# ---- request ------------------------------------------------------------------------------


def test_a_holder_requests_financing_and_the_value_is_escrowed(world: World, cert: int) -> None:
    hub = world.consortium.financing
    expires = now(world.ledger) + 7 * DAY
    receipt = hub.transact(
        world.tier1.signer,
        "requestFinancing",
        cert,
        world.bank.id,
        400_000_00,
        500,
        AGREEMENT,
        expires,
    )
    assert hub.event_args(receipt, "FinancingRequested") == {
        "requestId": 1,
        "certificateId": cert,
        "financierId": world.bank.id,
        "requesterId": world.tier1.id,
        "requesterAccount": world.tier1.address,
        "amount": 400_000_00,
        "agreementHash": AGREEMENT,
        "expiresAt": expires,
        "maxRateBps": 500,
    }
    assert world.consortium.certificates.event_args(receipt, "CertificateValueLocked") == {
        "id": cert,
        "amount": 400_000_00,
        "locked": 400_000_00,
    }
    assert request_of(world, 1) == (
        1,
        cert,
        world.tier1.id,
        world.tier1.address,
        world.bank.id,
        400_000_00,
        500,
        AGREEMENT,
        now(world.ledger),
        expires,
        FinancingStatus.PENDING,
        0,
        0,
        0,
        0,
    )
    assert hub.call("requestCount") == 1
    assert (
        certificate(world.consortium, cert).value,
        certificate(world.consortium, cert).locked,
    ) == (
        FACE,
        400_000_00,
    )


def test_request_validates_financier_agreement_and_expiry(world: World, cert: int) -> None:
    hub = world.consortium.financing
    later = now(world.ledger) + DAY

    def ask(financier: int, agreement: bytes = doc_hash("a"), expires: int = later) -> None:
        hub.transact(
            world.tier1.signer, "requestFinancing", cert, financier, 1_00, 500, agreement, expires
        )

    for financier in (0, world.core.id, world.tier2.id, 999):
        with reverts("FinancingInvalidFinancier", financier):
            ask(financier)
    with reverts("FinancingInvalidInput", "agreementHash"):
        ask(world.bank.id, ZERO_HASH)
    for expires in (now(world.ledger), 2**40):
        with reverts("FinancingInvalidExpiry", expires):
            ask(world.bank.id, expires=expires)
    suspend(world, world.bank2)
    with reverts("FinancingInvalidFinancier", world.bank2.id):
        ask(world.bank2.id)


def test_a_financier_holding_a_certificate_cannot_ask_itself(world: World, cert: int) -> None:
    held_by_bank = split(world, world.tier1, cert, world.bank, 1_000_00)
    with reverts("FinancingInvalidFinancier", world.bank.id):
        request_financing(world, world.bank, held_by_bank, world.bank, 1_00)
    request_financing(world, world.bank, held_by_bank, world.bank2, 1_00)


def test_request_follows_the_certificate_rules(world: World, cert: int) -> None:
    with reverts("CertificateUnauthorizedHolder", world.tier2.address, cert, world.tier1.id):
        request_financing(world, world.tier2, cert, world.bank, 1_00)
    with reverts("CertificateInvalidAmount", 0):
        request_financing(world, world.tier1, cert, world.bank, 0)
    with reverts("CertificateInsufficientValue", cert, FACE, FACE + 1):
        request_financing(world, world.tier1, cert, world.bank, FACE + 1)
    request_financing(world, world.tier1, cert, world.bank, 600_000_00)
    with reverts("CertificateLocked", cert, 600_000_00):
        request_financing(world, world.tier1, cert, world.bank2, 400_000_01)
    set_parameter(world.consortium, world.governor, MIN_SPLIT, 10_000_00)
    with reverts("CertificateBelowMinimumSplit", 1_00, 10_000_00):
        request_financing(world, world.tier1, cert, world.bank2, 1_00)
    with reverts("MemberUnknownAccount", world.outsider.address):
        world.consortium.financing.transact(
            world.outsider,
            "requestFinancing",
            cert,
            world.bank.id,
            1_00,
            500,
            doc_hash("a"),
            now(world.ledger) + DAY,
        )
    world.ledger.increase_time(90 * DAY)
    maturity = root(world.consortium, cert).maturity
    with reverts("CertificateMatured", cert, maturity):
        request_financing(world, world.tier1, cert, world.bank2, 100_000_00, expires_in=DAY)


# ---- approve: delivery versus payment -----------------------------------------------------


def test_approval_swaps_the_escrowed_value_for_the_discounted_price(
    world: World, cert: int
) -> None:
    consortium, hub = world.consortium, world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 400_000_00)
    maturity = root(consortium, cert).maturity

    receipt = hub.transact(world.bank.signer, "approveFinancing", request_id, 450, AGREEMENT)
    at = now(world.ledger)
    expected = quote_at(400_000_00, 450, maturity, at)
    assert expected.days == 90
    # by hand: 400 000.00 x 4.5 % x 90 / 365 = 4 438.356... -> 4 438.36 (rounded up)
    assert (expected.discount, expected.price) == (4_438_36, 395_561_64)
    financed = cert + 1

    assert hub.event_args(receipt, "FinancingApproved") == {
        "requestId": request_id,
        "financedCertificateId": financed,
        "financierId": world.bank.id,
        "rateBps": 450,
        "daysToMaturity": 90,
        "price": expected.price,
        "discount": expected.discount,
    }
    assert consortium.certificates.event_args(receipt, "CertificateValueUnlocked") == {
        "id": cert,
        "amount": 400_000_00,
        "locked": 0,
    }
    assert consortium.certificates.event_args(receipt, "CertificateSplit")["toId"] == world.bank.id
    assert consortium.settlement.event_args(receipt, "Transfer") == {
        "from": world.bank.address,
        "to": world.tier1.address,
        "value": expected.price,
    }
    new = certificate(consortium, financed)
    assert (new.holder_id, new.value, new.parent_id, new.root_id) == (
        world.bank.id,
        400_000_00,
        cert,
        cert,
    )
    source = certificate(consortium, cert)
    assert (source.value, source.locked) == (600_000_00, 0)
    assert balance(consortium, world.tier1) == expected.price
    assert balance(consortium, world.bank) == BANK_CASH - expected.price
    assert request_of(world, request_id)[10:] == (
        FinancingStatus.APPROVED,
        450,
        expected.price,
        financed,
        at,
    )


def test_only_the_chosen_active_financier_approves(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    with reverts("FinancingUnauthorizedFinancier", world.bank2.address, request_id, world.bank.id):
        hub.transact(world.bank2.signer, "approveFinancing", request_id, 100, AGREEMENT)
    for who in (world.tier1, world.core):
        with reverts("MemberUnauthorizedAccount", who.address, Role.FINANCIER.id):
            hub.transact(who.signer, "approveFinancing", request_id, 100, AGREEMENT)
    suspend(world, world.bank)
    with reverts("MemberUnauthorizedAccount", world.bank.address, Role.FINANCIER.id):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 100, AGREEMENT)


def test_approval_checks_status_expiry_rate_and_price(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    # the request accepts any rate up to the maximum: one more is above its terms
    with reverts("FinancingRateAboveAccepted", request_id, MAX_RATE_BPS + 1, MAX_RATE_BPS):
        hub.transact(world.bank.signer, "approveFinancing", request_id, MAX_RATE_BPS + 1, AGREEMENT)
    hub.transact(world.bank.signer, "approveFinancing", request_id, 0, AGREEMENT)  # at par
    assert balance(world.consortium, world.tier1) == 1_000_00
    with reverts("FinancingInvalidStatus", request_id, FinancingStatus.APPROVED):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 0, AGREEMENT)

    # a whole year and more at 100 %: the discount would eat everything
    long = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=400 * DAY)
    greedy = request_financing(world, world.tier1, long, world.bank, 1_000_00)
    with reverts("FinancingDiscountExceedsAmount", 1_000_00, 1_095_90):  # 1000 x 400 / 365
        hub.transact(world.bank.signer, "approveFinancing", greedy, MAX_RATE_BPS, AGREEMENT)

    late = request_financing(world, world.tier1, cert, world.bank, 1_000_00, expires_in=DAY)
    expires = int(request_of(world, late)[9])
    travel_to(world.ledger, expires)
    with reverts("FinancingRequestExpired", late, expires):
        hub.transact(world.bank.signer, "approveFinancing", late, 100, AGREEMENT)


def test_approval_needs_the_financiers_allowance_and_cash(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, FACE)
    price = quote(FACE, 1000, 90).price
    approve_tokens(world, world.bank, hub.address, price - 1)
    with reverts("ERC20InsufficientAllowance", hub.address, price - 1, price):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 1000, AGREEMENT)
    approve_tokens(world, world.bank, hub.address, 2**256 - 1)
    world.consortium.settlement.transact(
        world.bank.signer, "burn", BANK_CASH - price + 1, doc_hash("withdrawal")
    )
    with reverts("ERC20InsufficientBalance", world.bank.address, price - 1, price):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 1000, AGREEMENT)
    # nothing moved: the escrow still stands
    assert certificate(world.consortium, cert).locked == FACE
    assert status_of(world, request_id) is FinancingStatus.PENDING


def test_approval_pays_only_an_account_still_bound_to_the_requester(
    world: World, cert: int
) -> None:
    consortium = world.consortium
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    replacement = Signer.create()
    consortium.ledger.fund(replacement.address, 10**18)
    govern(
        consortium,
        world.governor,
        (
            consortium.members,
            "rotateAccount",
            (world.tier1.id, world.tier1.address, replacement.address),
        ),
    )
    with reverts("FinancingPayeeUnbound", request_id, world.tier1.address):
        consortium.financing.transact(
            world.bank.signer, "approveFinancing", request_id, 100, AGREEMENT
        )
    # the member, through its new account, withdraws the request and asks again
    consortium.financing.transact(replacement, "cancelFinancing", request_id)
    assert certificate(consortium, cert).locked == 0


def test_a_suspended_requesters_escrow_is_frozen_until_it_exits(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    suspend(world, world.tier1)
    with reverts("CertificateHolderFrozen", cert, world.tier1.id):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 100, AGREEMENT)
    hub.transact(world.bank.signer, "rejectFinancing", request_id, ZERO_HASH)
    assert certificate(world.consortium, cert).locked == 0


def test_a_request_outliving_maturity_can_no_longer_be_approved(world: World) -> None:
    short = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=2 * DAY)
    request_id = request_financing(world, world.tier1, short, world.bank, FACE, expires_in=5 * DAY)
    world.ledger.increase_time(3 * DAY)
    maturity = root(world.consortium, short).maturity
    with reverts("CertificateMatured", short, maturity):
        world.consortium.financing.transact(
            world.bank.signer, "approveFinancing", request_id, 100, AGREEMENT
        )
    world.consortium.financing.transact(world.tier1.signer, "cancelFinancing", request_id)
    assert certificate(world.consortium, short).locked == 0


# ---- the exits: reject, cancel, expire ------------------------------------------------------


def test_the_financier_rejects(world: World, cert: int) -> None:
    hub, certificates = world.consortium.financing, world.consortium.certificates
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    with reverts("FinancingUnauthorizedFinancier", world.bank2.address, request_id, world.bank.id):
        hub.transact(world.bank2.signer, "rejectFinancing", request_id, ZERO_HASH)
    with reverts("MemberUnauthorizedAccount", world.tier1.address, Role.FINANCIER.id):
        hub.transact(world.tier1.signer, "rejectFinancing", request_id, ZERO_HASH)

    receipt = hub.transact(world.bank.signer, "rejectFinancing", request_id, doc_hash("no"))
    assert hub.event_args(receipt, "FinancingRejected") == {
        "requestId": request_id,
        "financierId": world.bank.id,
        "reasonHash": doc_hash("no"),
    }
    assert certificates.event_args(receipt, "CertificateValueUnlocked") == {
        "id": cert,
        "amount": 1_000_00,
        "locked": 0,
    }
    assert status_of(world, request_id) is FinancingStatus.REJECTED
    assert request_of(world, request_id)[14] == now(world.ledger)
    with reverts("FinancingInvalidStatus", request_id, FinancingStatus.REJECTED):
        hub.transact(world.bank.signer, "rejectFinancing", request_id, ZERO_HASH)


def test_the_requester_cancels(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    for member in (world.tier2, world.bank):
        with reverts("FinancingUnauthorizedRequester", member.address, request_id, world.tier1.id):
            hub.transact(member.signer, "cancelFinancing", request_id)
    with reverts("MemberUnknownAccount", world.outsider.address):
        hub.transact(world.outsider, "cancelFinancing", request_id)

    receipt = hub.transact(world.tier1.signer, "cancelFinancing", request_id)
    assert hub.event_args(receipt, "FinancingCancelled") == {
        "requestId": request_id,
        "requesterId": world.tier1.id,
    }
    assert certificate(world.consortium, cert).locked == 0
    assert status_of(world, request_id) is FinancingStatus.CANCELLED
    with reverts("FinancingInvalidStatus", request_id, FinancingStatus.CANCELLED):
        hub.transact(world.tier1.signer, "cancelFinancing", request_id)
    with reverts("FinancingInvalidStatus", request_id, FinancingStatus.CANCELLED):
        hub.transact(world.bank.signer, "approveFinancing", request_id, 0, AGREEMENT)


def test_anyone_expires_a_request_from_its_expiry_on(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00, expires_in=DAY)
    expires = int(request_of(world, request_id)[9])
    travel_to(world.ledger, expires - 1)
    with reverts("FinancingRequestNotExpired", request_id, expires):
        hub.transact(world.outsider, "expireFinancing", request_id)
    world.ledger.mine()  # the block of the last second before expiry
    receipt = hub.transact(world.outsider, "expireFinancing", request_id)  # at expiry exactly
    assert now(world.ledger) == expires
    assert hub.event_args(receipt, "FinancingExpired") == {
        "requestId": request_id,
        "by": world.outsider.address,
    }
    assert certificate(world.consortium, cert).locked == 0
    assert status_of(world, request_id) is FinancingStatus.EXPIRED
    with reverts("FinancingInvalidStatus", request_id, FinancingStatus.EXPIRED):
        hub.transact(world.outsider, "expireFinancing", request_id)


def test_unknown_requests_are_reported(world: World) -> None:
    hub = world.consortium.financing
    with reverts("FinancingRequestNotFound", 9):
        hub.call("getRequest", 9)
    with reverts("FinancingRequestNotFound", 9):
        hub.call("quoteRequest", 9, 100)
    for signer, function, args in (
        (world.bank.signer, "approveFinancing", (100, AGREEMENT)),
        (world.bank.signer, "rejectFinancing", (ZERO_HASH,)),
        (world.tier1.signer, "cancelFinancing", ()),
        (world.outsider, "expireFinancing", ()),
    ):
        with reverts("FinancingRequestNotFound", 9):
            hub.transact(signer, function, 9, *args)


def test_pause_stops_every_write_but_not_the_views(world: World, cert: int) -> None:
    hub = world.consortium.financing
    request_id = request_financing(world, world.tier1, cert, world.bank, 1_000_00)
    pause(world.consortium, world.governor)
    with reverts("ConsortiumPaused"):
        request_financing(world, world.tier1, cert, world.bank, 1_00)
    for signer, function, args in (
        (world.bank.signer, "approveFinancing", (100, AGREEMENT)),
        (world.bank.signer, "rejectFinancing", (ZERO_HASH,)),
        (world.tier1.signer, "cancelFinancing", ()),
        (world.outsider, "expireFinancing", ()),
    ):
        with reverts("ConsortiumPaused"):
            hub.transact(signer, function, request_id, *args)
    assert status_of(world, request_id) is FinancingStatus.PENDING


def test_the_constructor_refuses_zero_addresses(world: World) -> None:
    consortium = world.consortium
    addresses = [
        consortium.members.address,
        consortium.certificates.address,
        consortium.settlement.address,
    ]
    assert consortium.financing.call("wiring") == tuple(addresses)
    for index in range(3):
        args = [ZERO_ADDRESS if i == index else a for i, a in enumerate(addresses)]
        with reverts("ConsortiumZeroAddress"):
            deploy_contract(
                world.ledger, world.governor, "FinancingHub", consortium.governance.address, *args
            )


# ---- pricing: the contract against the Decimal reference ------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "days", "discount"),
    [
        (100_000_00, 365, 1, 10_00),  # 100 000.00 x 3.65 % / 365: exactly 10.00 a day
        (100_000_00, 365, 100, 1_000_00),
        (1_00, 1, 1, 1),  # 0.0000274 fen: a tiny discount is still one fen
        (1_000_000_00, 0, 180, 0),  # at par
        (999_99, 10_000, 364, 997_26),  # 99 725.03 fen rounds up
    ],
)
def test_quote_examples(world: World, amount: int, rate: int, days: int, discount: int) -> None:
    assert quote(amount, rate, days).discount == discount
    price, on_chain_discount = world.consortium.financing.call("quote", amount, rate, days)
    assert (price, on_chain_discount) == (amount - discount, discount)


def test_quote_matches_the_decimal_reference(world: World) -> None:
    hub = world.consortium.financing

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        amount=st.one_of(st.integers(1, 10**12), st.integers(1, 2**128 - 1)),
        rate=st.integers(0, MAX_RATE_BPS + 50),
        days=st.integers(0, 800),
    )
    def check(amount: int, rate: int, days: int) -> None:
        try:
            expected = quote(amount, rate, days)
        except PricingError:
            with pytest.raises(ContractRevert) as info:
                hub.call("quote", amount, rate, days)
            assert info.value.error_name in {
                "FinancingInvalidRate",
                "FinancingDiscountExceedsAmount",
            }
            return
        assert hub.call("quote", amount, rate, days) == (expected.price, expected.discount)

    check()


def test_days_to_maturity_matches_the_reference(world: World) -> None:
    hub = world.consortium.financing

    @settings(max_examples=100, deadline=None)
    @given(maturity=st.integers(0, 2**40), delta=st.integers(-3 * DAY, 400 * DAY))
    def check(maturity: int, delta: int) -> None:
        at = max(0, maturity - delta)
        assert hub.call("daysToMaturity", maturity, at) == days_to_maturity(maturity, at)

    check()


def test_quote_request_prices_at_the_current_time(world: World, cert: int) -> None:
    request_id = request_financing(world, world.tier1, cert, world.bank, 250_000_00)
    travel_to(world.ledger, root(world.consortium, cert).maturity - 10 * DAY)
    world.ledger.mine()  # the latest block is 10 days before maturity exactly
    expected = quote(250_000_00, 320, 10)
    assert world.consortium.financing.call("quoteRequest", request_id, 320) == (
        expected.price,
        expected.discount,
    )


def test_approvals_at_random_times_pay_exactly_the_reference_price(world: World) -> None:
    consortium, hub = world.consortium, world.consortium.financing
    long = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=360 * DAY)
    maturity = root(consortium, long).maturity

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        wait=st.integers(0, 359 * DAY),
        amount=st.integers(1, FACE),
        rate=st.integers(0, 3_000),
    )
    def check(wait: int, amount: int, rate: int) -> None:
        snapshot = consortium.ledger.snapshot()
        try:
            before = balance(consortium, world.tier1)
            receipt = hub.transact(  # explicit gas: skip py-evm's slow binary-search estimate
                world.tier1.signer,
                "requestFinancing",
                long,
                world.bank.id,
                amount,
                MAX_RATE_BPS,
                AGREEMENT,
                now(world.ledger) + 360 * DAY,
                gas=1_000_000,
            )
            request_id = hub.event_args(receipt, "FinancingRequested")["requestId"]
            if wait:
                world.ledger.increase_time(wait)
            try:
                expected = quote_at(amount, rate, maturity, now(world.ledger) + 1)
            except PricingError:  # a discount that eats a tiny amount whole
                with reverts("FinancingDiscountExceedsAmount") as info:
                    hub.transact(world.bank.signer, "approveFinancing", request_id, rate, AGREEMENT)
                assert info.value.error_args["amount"] == amount
                return
            receipt = hub.transact(
                world.bank.signer, "approveFinancing", request_id, rate, AGREEMENT, gas=1_000_000
            )
            at = int(consortium.ledger.get_block(receipt["blockNumber"])["timestamp"])
            assert quote_at(amount, rate, maturity, at) == expected
            assert hub.event_args(receipt, "FinancingApproved")["price"] == expected.price
            assert balance(consortium, world.tier1) - before == expected.price
            financed = certificate(consortium, request_of(world, request_id)[13])
            assert (financed.holder_id, financed.value) == (world.bank.id, amount)
        finally:
            consortium.ledger.revert(snapshot)

    check()
