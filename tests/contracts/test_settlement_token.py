"""SettlementToken: a permissioned ERC-20 in fen; financiers mint and burn; members transfer."""

from __future__ import annotations

import pytest

from chain.contract import deploy_contract
from chain.roles import Role
from tests.helpers import (
    World,
    approve_tokens,
    balance,
    doc_hash,
    govern,
    mint,
    pause,
    reverts,
    suspend,
)

ZERO_ADDRESS = "0x" + "00" * 20


def test_metadata(world: World) -> None:
    token = world.consortium.settlement
    assert token.call("name") == "SCF Settlement CNY"
    assert token.call("symbol") == "SCNY"
    assert token.call("decimals") == 2
    assert token.call("governance") == world.consortium.governance.address
    assert token.call("totalSupply") == 0


# ---- mint and burn ------------------------------------------------------------------------


def test_a_financier_mints_against_a_deposit(world: World) -> None:
    token = world.consortium.settlement
    receipt = token.transact(
        world.bank.signer, "mint", world.tier1.address, 500_000_00, doc_hash("deposit 1")
    )
    assert token.event_args(receipt, "Transfer") == {
        "from": ZERO_ADDRESS,
        "to": world.tier1.address,
        "value": 500_000_00,
    }
    assert token.event_args(receipt, "SettlementMinted") == {
        "financierId": world.bank.id,
        "to": world.tier1.address,
        "amount": 500_000_00,
        "bankRef": doc_hash("deposit 1"),
    }
    assert balance(world.consortium, world.tier1) == 500_000_00
    assert token.call("totalSupply") == token.call("totalMinted") == 500_000_00


@pytest.mark.parametrize("who", ["core", "tier1", "outsider"])
def test_only_active_financiers_mint(world: World, who: str) -> None:
    signer = world.outsider if who == "outsider" else getattr(world, who).signer
    with reverts("MemberUnauthorizedAccount", signer.address, Role.FINANCIER.id):
        world.consortium.settlement.transact(
            signer, "mint", world.tier1.address, 1, doc_hash("deposit")
        )


def test_mint_refuses_zero_and_non_member_recipients(world: World) -> None:
    consortium = world.consortium
    with reverts("SettlementInvalidAmount", 0):
        mint(world, world.bank, world.tier1, 0)
    for to in (world.outsider.address, consortium.financing.address, consortium.maturity.address):
        with reverts("SettlementUnauthorizedParticipant", to):
            consortium.settlement.transact(world.bank.signer, "mint", to, 1, doc_hash("deposit"))
    suspend(world, world.tier1)
    with reverts("SettlementUnauthorizedParticipant", world.tier1.address):
        mint(world, world.bank, world.tier1, 1)


def test_a_financier_burns_its_own_tokens_on_withdrawal(world: World) -> None:
    token = world.consortium.settlement
    mint(world, world.bank, world.bank, 1_000_00)
    receipt = token.transact(world.bank.signer, "burn", 400_00, doc_hash("withdrawal 1"))
    assert token.event_args(receipt, "SettlementBurned") == {
        "financierId": world.bank.id,
        "from": world.bank.address,
        "amount": 400_00,
        "bankRef": doc_hash("withdrawal 1"),
    }
    assert token.event_args(receipt, "Transfer")["to"] == ZERO_ADDRESS
    assert balance(world.consortium, world.bank) == 600_00
    assert token.call("totalBurned") == 400_00
    assert token.call("totalSupply") == token.call("totalMinted") - token.call("totalBurned")
    with reverts("ERC20InsufficientBalance", world.bank.address, 600_00, 600_01):
        token.transact(world.bank.signer, "burn", 600_01, doc_hash("withdrawal 2"))
    with reverts("SettlementInvalidAmount", 0):
        token.transact(world.bank.signer, "burn", 0, doc_hash("withdrawal 3"))


def test_only_active_financiers_burn(world: World) -> None:
    token = world.consortium.settlement
    mint(world, world.bank, world.tier1, 1_00)
    with reverts("MemberUnauthorizedAccount", world.tier1.address, Role.FINANCIER.id):
        token.transact(world.tier1.signer, "burn", 1_00, doc_hash("withdrawal"))
    mint(world, world.bank, world.bank2, 1_00)
    suspend(world, world.bank2)
    with reverts("MemberUnauthorizedAccount", world.bank2.address, Role.FINANCIER.id):
        token.transact(world.bank2.signer, "burn", 1_00, doc_hash("withdrawal"))


# ---- transfers ----------------------------------------------------------------------------


def test_members_transfer_to_members(world: World) -> None:
    token = world.consortium.settlement
    mint(world, world.bank, world.core, 1_000_00)
    token.transact(world.core.signer, "transfer", world.tier1.address, 300_00)
    approve_tokens(world, world.tier1, world.tier2.address, 100_00)
    token.transact(
        world.tier2.signer, "transferFrom", world.tier1.address, world.tier3.address, 100_00
    )
    assert [balance(world.consortium, m) for m in (world.core, world.tier1, world.tier3)] == [
        700_00,
        200_00,
        100_00,
    ]
    assert token.call("allowance", world.tier1.address, world.tier2.address) == 0


def test_transfers_only_between_active_members_and_system_contracts(world: World) -> None:
    consortium, token = world.consortium, world.consortium.settlement
    mint(world, world.bank, world.core, 1_000_00)
    mint(world, world.bank, world.tier2, 1_000_00)
    with reverts("SettlementUnauthorizedParticipant", world.outsider.address):
        token.transact(world.core.signer, "transfer", world.outsider.address, 1)
    with reverts("SettlementUnauthorizedParticipant", world.outsider.address):
        token.transact(world.outsider, "transfer", world.core.address, 0)

    suspend(world, world.tier2)
    with reverts("SettlementUnauthorizedParticipant", world.tier2.address):
        token.transact(world.core.signer, "transfer", world.tier2.address, 1)
    with reverts("SettlementUnauthorizedParticipant", world.tier2.address):
        token.transact(world.tier2.signer, "transfer", world.core.address, 1)

    # a registered system contract may receive
    token.transact(world.core.signer, "transfer", consortium.maturity.address, 1)
    assert balance(consortium, consortium.maturity.address) == 1


def test_governance_registers_system_contracts(world: World) -> None:
    consortium, token = world.consortium, world.consortium.settlement
    system = world.outsider.address
    assert token.call("isSystemContract", consortium.financing.address) is True
    assert token.call("isSystemContract", consortium.maturity.address) is True
    assert token.call("isSystemContract", system) is False
    with reverts("ConsortiumUnauthorizedGovernance", world.governor.address):
        token.transact(world.governor, "setSystemContract", system, True)

    receipt = govern(consortium, world.governor, (token, "setSystemContract", (system, True)))
    assert token.event_args(receipt, "SystemContractSet") == {"account": system, "allowed": True}
    mint(world, world.bank, world.core, 5_00)
    token.transact(world.core.signer, "transfer", system, 5_00)
    token.transact(world.outsider, "transfer", world.tier1.address, 2_00)
    assert balance(consortium, world.tier1) == 2_00

    with reverts("SettlementSystemContractUnchanged", system, True):
        govern(consortium, world.governor, (token, "setSystemContract", (system, True)))
    govern(consortium, world.governor, (token, "setSystemContract", (system, False)))
    with reverts("SettlementSystemContractUnchanged", system, False):
        govern(consortium, world.governor, (token, "setSystemContract", (system, False)))
    with reverts("SettlementUnauthorizedParticipant", system):
        token.transact(world.outsider, "transfer", world.tier1.address, 1_00)
    with reverts("ConsortiumZeroAddress"):
        govern(consortium, world.governor, (token, "setSystemContract", (ZERO_ADDRESS, True)))


def test_pause_stops_every_balance_change_and_approval(world: World) -> None:
    token = world.consortium.settlement
    mint(world, world.bank, world.bank, 1_000_00)
    approve_tokens(world, world.bank, world.tier1.address, 1_00)
    pause(world.consortium, world.governor)
    bank = world.bank.signer
    for function, args in (
        ("mint", (world.tier1.address, 1, doc_hash("deposit"))),
        ("burn", (1, doc_hash("withdrawal"))),
        ("transfer", (world.tier1.address, 1)),
        ("approve", (world.tier1.address, 1)),
    ):
        with reverts("ConsortiumPaused"):
            token.transact(bank, function, *args)
    with reverts("ConsortiumPaused"):
        token.transact(
            world.tier1.signer, "transferFrom", world.bank.address, world.tier1.address, 1
        )
    assert balance(world.consortium, world.bank) == 1_000_00
    assert token.call("totalSupply") == 1_000_00


def test_the_constructor_refuses_a_zero_registry(world: World) -> None:
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(
            world.ledger,
            world.governor,
            "SettlementToken",
            world.consortium.governance.address,
            ZERO_ADDRESS,
        )
