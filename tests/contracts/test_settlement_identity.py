"""SettlementToken (issue 21 item 4): balances follow the member through account rotation
and unbinding; a financier's issuance is capped by governance."""

from __future__ import annotations

from chain.deploy import DEFAULT_ISSUANCE_CAP, ISSUANCE_CAP_KEY
from tests.helpers import (
    DAY,
    Member,
    World,
    approve_tokens,
    balance,
    certificate,
    doc_hash,
    govern,
    issue_certificate,
    mint,
    new_signer,
    pause,
    reverts,
    set_parameter,
    split,
    travel_to,
)


def _rotate(world: World, member: Member) -> Member:
    """Rotate ``member``'s account to a fresh one through governance; the member, re-keyed."""
    replacement = new_signer(world.ledger)
    govern(
        world.consortium,
        world.governor,
        (
            world.consortium.members,
            "rotateAccount",
            (member.id, member.address, replacement.address),
        ),
    )
    return Member(member.id, replacement, member.name, member.credit_code)


# ---- balances follow the member ------------------------------------------------------------


def test_the_registry_tells_the_token_of_every_account_leaving_a_member(world: World) -> None:
    members, token = world.consortium.members, world.consortium.settlement
    assert members.call("accountListener").lower() == token.address.lower()


def test_rotation_moves_the_balance_and_the_member_spends_it(world: World) -> None:
    consortium = world.consortium
    mint(world, world.bank, world.tier1, 700_00)
    old = world.tier1.address
    replacement = new_signer(world.ledger)

    receipt = govern(
        consortium,
        world.governor,
        (consortium.members, "rotateAccount", (world.tier1.id, old, replacement.address)),
    )

    assert consortium.settlement.event_args(receipt, "SettlementBalanceMigrated") == {
        "memberId": world.tier1.id,
        "from": old,
        "to": replacement.address,
        "amount": 700_00,
    }
    assert consortium.settlement.event_args(receipt, "Transfer") == {
        "from": old,
        "to": replacement.address,
        "value": 700_00,
    }
    assert balance(consortium, old) == 0
    assert balance(consortium, replacement.address) == 700_00
    consortium.settlement.transact(replacement, "transfer", world.tier2.address, 300_00)
    assert balance(consortium, world.tier2) == 300_00
    assert balance(consortium, replacement.address) == 400_00
    assert consortium.settlement.call("totalSupply") == 700_00


def test_unbinding_moves_the_balance_to_the_members_remaining_account(world: World) -> None:
    consortium = world.consortium
    second = new_signer(world.ledger)
    govern(
        consortium,
        world.governor,
        (consortium.members, "bindAccount", (world.tier1.id, second.address)),
    )
    mint(world, world.bank, world.tier1, 250_00)
    govern(
        consortium,
        world.governor,
        (consortium.members, "unbindAccount", (world.tier1.id, world.tier1.address)),
    )
    assert balance(consortium, world.tier1.address) == 0
    assert balance(consortium, second.address) == 250_00
    consortium.settlement.transact(second, "transfer", world.tier2.address, 250_00)
    assert balance(consortium, world.tier2) == 250_00


def test_an_empty_account_rotates_without_a_migration(world: World) -> None:
    consortium = world.consortium
    replacement = new_signer(world.ledger)
    receipt = govern(
        consortium,
        world.governor,
        (
            consortium.members,
            "rotateAccount",
            (world.tier3.id, world.tier3.address, replacement.address),
        ),
    )
    assert consortium.settlement.events(receipt) == []


def test_the_balance_moves_even_while_the_consortium_is_paused(world: World) -> None:
    """Key recovery is governance work, which goes on during a pause."""
    consortium = world.consortium
    mint(world, world.bank, world.tier2, 90_00)
    pause(consortium, world.governor)
    replacement = new_signer(world.ledger)
    govern(
        consortium,
        world.governor,
        (
            consortium.members,
            "rotateAccount",
            (world.tier2.id, world.tier2.address, replacement.address),
        ),
    )
    assert balance(consortium, replacement.address) == 90_00


def test_only_the_registry_reports_accounts_and_only_governance_sets_the_listener(
    world: World,
) -> None:
    consortium = world.consortium
    mint(world, world.bank, world.tier1, 10_00)
    for signer in (world.tier1.signer, world.outsider, world.governor):
        with reverts("SettlementUnauthorizedCaller", signer.address):
            consortium.settlement.transact(
                signer,
                "onAccountUnbound",
                world.tier1.id,
                world.tier1.address,
                world.outsider.address,
            )
    assert balance(consortium, world.tier1) == 10_00
    with reverts("ConsortiumUnauthorizedGovernance", world.governor.address):
        consortium.members.transact(world.governor, "setAccountListener", world.outsider.address)


def test_certificates_follow_the_member_through_rotation(world: World) -> None:
    """Certificates are keyed by member id: the new account trades and redeems them, the
    old one can do nothing."""
    consortium = world.consortium
    cert = issue_certificate(world, world.core, world.tier1, 1_000_00, maturity_in=10 * DAY)
    old = world.tier1
    tier1 = _rotate(world, old)
    with reverts("MemberUnknownAccount", old.address):
        split(world, old, cert, world.tier2, 100_00)
    child = split(world, tier1, cert, world.tier2, 100_00)
    assert certificate(consortium, child).holder_id == world.tier2.id

    mint(world, world.bank, world.core, 1_000_00)
    approve_tokens(world, world.core, consortium.maturity.address, 1_000_00)
    consortium.maturity.transact(world.core.signer, "repay", cert)
    travel_to(world.ledger, certificate(consortium, cert).maturity)
    with reverts("CertificateUnauthorizedHolder", old.address, cert, old.id):
        consortium.maturity.transact(old.signer, "redeem", cert)
    consortium.maturity.transact(tier1.signer, "redeem", cert)
    assert balance(consortium, tier1) == 900_00


# ---- issuance caps -------------------------------------------------------------------------


def _issuance(world: World, financier: Member) -> tuple[int, int]:
    outstanding, cap = world.consortium.settlement.call("issuanceOf", financier.id)
    return int(outstanding), int(cap)


def _set_cap(world: World, financier: Member, cap: int) -> None:
    settlement = world.consortium.settlement
    govern(world.consortium, world.governor, (settlement, "setIssuanceCap", (financier.id, cap)))


def test_a_new_consortium_caps_every_financier_by_the_parameter(world: World) -> None:
    assert world.consortium.governance.call("parameter", ISSUANCE_CAP_KEY) == DEFAULT_ISSUANCE_CAP
    assert _issuance(world, world.bank) == (0, DEFAULT_ISSUANCE_CAP)
    assert world.consortium.settlement.call("hasOwnIssuanceCap", world.bank.id) is False


def test_minting_beyond_the_cap_reverts_and_burning_frees_room(world: World) -> None:
    token = world.consortium.settlement
    receipt = govern(
        world.consortium,
        world.governor,
        (token, "setIssuanceCap", (world.bank.id, 1_000_00)),
    )
    assert token.event_args(receipt, "SettlementIssuanceCapSet") == {
        "financierId": world.bank.id,
        "cap": 1_000_00,
    }
    assert token.call("hasOwnIssuanceCap", world.bank.id) is True
    mint(world, world.bank, world.bank, 600_00)
    assert _issuance(world, world.bank) == (600_00, 1_000_00)

    with reverts("SettlementIssuanceCapExceeded", world.bank.id, 600_00, 400_01, 1_000_00):
        mint(world, world.bank, world.tier1, 400_01)
    mint(world, world.bank, world.tier1, 400_00)  # exactly up to the cap
    assert _issuance(world, world.bank) == (1_000_00, 1_000_00)
    with reverts("SettlementIssuanceCapExceeded", world.bank.id, 1_000_00, 1, 1_000_00):
        mint(world, world.bank, world.tier1, 1)

    token.transact(world.bank.signer, "burn", 250_00, doc_hash("withdrawal"))
    assert _issuance(world, world.bank) == (750_00, 1_000_00)
    mint(world, world.bank, world.tier1, 250_00)
    assert _issuance(world, world.bank) == (1_000_00, 1_000_00)
    assert _issuance(world, world.bank2) == (0, DEFAULT_ISSUANCE_CAP)  # others unaffected


def test_burning_more_than_it_issued_leaves_nothing_outstanding(world: World) -> None:
    token = world.consortium.settlement
    mint(world, world.bank, world.bank2, 500_00)  # bank's money, deposited at bank2
    mint(world, world.bank2, world.bank2, 100_00)
    token.transact(world.bank2.signer, "burn", 600_00, doc_hash("withdrawal"))
    assert _issuance(world, world.bank2) == (0, DEFAULT_ISSUANCE_CAP)
    assert _issuance(world, world.bank)[0] == 500_00


def test_a_cap_below_the_outstanding_stops_minting_until_burns(world: World) -> None:
    mint(world, world.bank, world.bank, 800_00)
    _set_cap(world, world.bank, 500_00)
    with reverts("SettlementIssuanceCapExceeded", world.bank.id, 800_00, 1, 500_00):
        mint(world, world.bank, world.tier1, 1)
    _set_cap(world, world.bank, 0)
    with reverts("SettlementIssuanceCapExceeded", world.bank.id, 800_00, 1, 0):
        mint(world, world.bank, world.tier1, 1)


def test_the_consortium_wide_parameter_caps_financiers_without_their_own(world: World) -> None:
    set_parameter(world.consortium, world.governor, ISSUANCE_CAP_KEY, 50_00)
    with reverts("SettlementIssuanceCapExceeded", world.bank2.id, 0, 50_01, 50_00):
        mint(world, world.bank2, world.tier1, 50_01)
    mint(world, world.bank2, world.tier1, 50_00)
    set_parameter(world.consortium, world.governor, ISSUANCE_CAP_KEY, 0)
    with reverts("SettlementIssuanceCapExceeded", world.bank2.id, 50_00, 1, 0):
        mint(world, world.bank2, world.tier1, 1)


def test_only_governance_sets_a_cap_and_it_is_validated(world: World) -> None:
    token = world.consortium.settlement
    for signer in (world.bank.signer, world.governor, world.outsider):
        with reverts("ConsortiumUnauthorizedGovernance", signer.address):
            token.transact(signer, "setIssuanceCap", world.bank.id, 10**15)
    with reverts("MemberNotFound", 999):
        _set_cap(world, Member(999, world.outsider, "nobody", ""), 1)
    with reverts("SettlementInvalidAmount", 2**120):
        _set_cap(world, world.bank, 2**120)
    assert _issuance(world, world.bank) == (0, DEFAULT_ISSUANCE_CAP)
