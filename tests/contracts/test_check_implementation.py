"""Governors check a proposed implementation against the released build, immutables included
(`chain.upgrades.check_implementation`, docs/decisions/0013)."""

from __future__ import annotations

from chain.artifacts import load_artifact
from chain.contract import deploy_artifact
from chain.deploy import UPGRADEABLE
from chain.upgrades import (
    check_deployment,
    check_implementation,
    code_hash,
    deploy_implementation,
    implementation_of,
)
from tests.contracts.upgrades import fixture_artifacts
from tests.helpers import World, new_signer


def test_the_running_and_a_freshly_deployed_implementation_match_the_build(world: World) -> None:
    c = world.consortium
    for name in UPGRADEABLE:
        running = check_implementation(
            c, name, implementation_of(c.contracts[name]), world.governor.address
        )
        assert running.matches, running.problems
        fresh = deploy_implementation(c, world.bank.signer, name)
        check = check_implementation(c, name, fresh.address, world.governor.address)
        assert check.matches, check.problems
        assert check.code_hash == "0x" + code_hash(c.ledger, fresh.address).hex()


def test_right_code_with_a_wrong_sibling_is_named(world: World) -> None:
    """The tampering `upgradeToVerified` cannot see: the released FinancingHub built to pay
    through a settlement token of the attacker's choosing."""
    c = world.consortium
    fake_token = new_signer(c.ledger)  # the attacker's: any address will do here
    tampered = deploy_artifact(
        c.ledger,
        world.bank.signer,
        load_artifact("FinancingHub"),
        c.governance.address,
        c.members.address,
        c.certificates.address,
        fake_token.address,
    )
    check = check_implementation(c, "FinancingHub", tampered.address, world.governor.address)
    assert not check.matches
    assert check.problems == [
        f"immutable SettlementToken is {fake_token.address}, "
        f"the consortium's is {c.settlement.address}"
    ]


def test_other_code_or_no_code_does_not_match(world: World) -> None:
    c = world.consortium
    v2 = fixture_artifacts()["FinancingHubV2"]
    other = deploy_implementation(c, world.bank.signer, "FinancingHub", v2)
    check = check_implementation(c, "FinancingHub", other.address, world.governor.address)
    assert not check.matches
    assert check.problems[0].startswith("the code is not the released build")
    # the same code is the released build when the release is that version
    assert check_implementation(
        c, "FinancingHub", other.address, world.governor.address, v2
    ).matches
    # an implementation of another contract
    lines = deploy_implementation(c, world.bank.signer, "CreditLines")
    assert not check_implementation(
        c, "InvoiceRegistry", lines.address, world.governor.address
    ).matches
    nowhere = new_signer(c.ledger).address
    assert check_implementation(c, "Maturity", nowhere, world.governor.address).problems == [
        f"no contract at {nowhere}"
    ]


def swapped(addresses: dict[str, str], first: str, second: str) -> dict[str, str]:
    return addresses | {first: addresses[second], second: addresses[first]}


def test_a_deployment_is_each_named_contract_at_its_address(world: World) -> None:
    """`check_deployment`: what a node joining from a descriptor checks (code at each address
    alone accepts two addresses exchanged)."""
    c = world.consortium
    addresses = c.addresses()
    assert check_deployment(c.ledger, addresses, world.governor.address) == {}
    business = check_deployment(
        c.ledger, swapped(addresses, "CreditLines", "InvoiceRegistry"), world.governor.address
    )
    assert sorted(business) == ["CreditCertificates", "CreditLines", "InvoiceRegistry"]
    assert business["CreditLines"][0].startswith(
        f"its implementation {implementation_of(c.invoices)}: "
    )
    registries = check_deployment(
        c.ledger, swapped(addresses, "MemberRegistry", "NodeRegistry"), world.governor.address
    )
    assert {"MemberRegistry", "NodeRegistry"} <= set(registries)
    governance = check_deployment(
        c.ledger, swapped(addresses, "ConsortiumGovernance", "Maturity"), world.governor.address
    )
    assert governance["ConsortiumGovernance"] == [
        f"the code at {addresses['Maturity']} is not the released ConsortiumGovernance"
    ]
    assert governance["Maturity"] == [f"no ConsortiumProxy at {addresses['ConsortiumGovernance']}"]
    # every other contract names governance as an immutable: all of them are named
    assert set(governance) == set(addresses)
