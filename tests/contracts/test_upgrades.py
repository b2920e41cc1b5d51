"""Upgrades under governance (issue 21, item 8; docs/decisions/0013).

A consortium deployed as `scf-node init` deploys it runs the story part way (line, invoices,
certificate, splits, money, a pending financing request); the committee votes an upgrade of
FinancingHub and CreditCertificates; the story finishes on the new rules with every
certificate, balance and record intact. Then what must refuse an upgrade does.
"""

from __future__ import annotations

import pytest

from chain.artifacts import Artifact
from chain.contract import ContractHandle, deploy_artifact
from chain.deploy import UPGRADEABLE
from chain.governance import ProposalState, VoteType, proposal_state, propose, vote
from chain.upgrades import code_hash, deploy_implementation, implementation_of, upgrade_call
from tests.contracts.upgrades import fixture_artifacts
from tests.helpers import (
    DAY,
    World,
    approve_financing,
    approve_tokens,
    balance,
    certificate,
    confirmed_invoice,
    govern,
    grant_line,
    mint,
    new_signer,
    now,
    request_financing,
    reverts,
    root,
    split,
    travel_to,
)


@pytest.fixture(scope="module")
def v2() -> dict[str, Artifact]:
    return fixture_artifacts()


def _as(handle: ContractHandle, artifact: Artifact) -> ContractHandle:
    """``handle``'s address seen through another ABI (a proxy after its upgrade)."""
    return ContractHandle(handle.ledger, artifact, handle.address)


def test_a_committee_upgrades_a_running_consortium_and_the_story_finishes_on_the_new_rules(
    world: World, v2: dict[str, Artifact]
) -> None:
    c = world.consortium
    core, tier1, tier2, tier3, bank = world.core, world.tier1, world.tier2, world.tier3, world.bank

    # Part one, on version 1: line, invoices, certificate, splits, money, a financing request.
    line = grant_line(world, bank, core, 5_000_000_00)
    invoices = [confirmed_invoice(world, tier1, core, 1_000_000_00)]
    maturity = now(world.ledger) + 180 * DAY
    receipt = c.certificates.transact(
        core.signer, "issueCertificate", tier1.id, 1_000_000_00, maturity, line, invoices
    )
    root_id = int(c.certificates.event_args(receipt, "CertificateIssued")["id"])
    to_tier2 = split(world, tier1, root_id, tier2, 700_000_00)
    to_tier3 = split(world, tier2, to_tier2, tier3, 250_000_00)
    mint(world, bank, bank, 1_000_000_00)
    mint(world, bank, core, 1_000_000_00)
    request_id = request_financing(
        world, tier3, to_tier3, bank, 200_000_00, expires_in=40 * DAY, max_rate_bps=450
    )
    before = {
        "certificates": [certificate(c, i) for i in (root_id, to_tier2, to_tier3)],
        "request": c.financing.call("getRequest", request_id),
        "balances": {m.name: balance(c, m) for m in (core, tier1, tier2, tier3, bank)},
        "line": c.credit_lines.call("getCreditLine", line),
        "invoice": c.invoices.call("getInvoice", invoices[0]),
        "supply": c.settlement.call("totalSupply"),
    }
    old_hub, old_certificates = implementation_of(c.financing), implementation_of(c.certificates)

    # The committee grows to three governors who must all agree (bootstrap thresholds 100 %).
    governors = [world.governor, new_signer(world.ledger), new_signer(world.ledger)]
    govern(
        c, world.governor, *[(c.governance, "setGovernor", (g.address, 1)) for g in governors[1:]]
    )

    # Anyone deploys the new implementations; the proposal records their code hashes.
    hub_v2 = deploy_implementation(c, bank.signer, "FinancingHub", v2["FinancingHubV2"])
    certificates_v2 = deploy_implementation(
        c, bank.signer, "CreditCertificates", v2["CreditCertificatesV2"]
    )
    upgrade = [
        upgrade_call(
            c.financing,
            hub_v2.address,
            code_hash(world.ledger, hub_v2.address),
            hub_v2.encode("initializeV2"),
        ),
        upgrade_call(
            c.certificates,
            certificates_v2.address,
            code_hash(world.ledger, certificates_v2.address),
        ),
    ]
    proposal_id, _ = propose(
        c.governance, governors[0], upgrade, "FinancingHub v2: seller rounding"
    )
    vote(c.governance, governors[1], proposal_id, VoteType.FOR)
    assert proposal_state(c.governance, proposal_id) is ProposalState.PENDING
    assert implementation_of(c.financing) == old_hub  # nothing changes before the vote carries
    receipt = vote(c.governance, governors[2], proposal_id, VoteType.FOR)
    assert proposal_state(c.governance, proposal_id) is ProposalState.EXECUTED
    assert implementation_of(c.financing) == hub_v2.address
    assert implementation_of(c.certificates) == certificates_v2.address
    assert old_certificates != certificates_v2.address
    for proxy, new in ((c.financing, hub_v2), (c.certificates, certificates_v2)):
        assert [e["args"]["implementation"] for e in proxy.events(receipt, "Upgraded")] == [
            new.address
        ]

    # Same addresses, same state: nothing was lost or moved.
    hub = _as(c.financing, v2["FinancingHubV2"])
    certificates = _as(c.certificates, v2["CreditCertificatesV2"])
    assert (hub.call("version"), certificates.call("version")) == (2, 2)
    assert hub.call("initializedVersion") == 2
    assert hub.call("upgradedAt") == world.ledger.get_block("latest")["timestamp"]
    assert c.certificates.call("initializedVersion") == 1  # upgraded without set-up
    assert [certificate(c, i) for i in (root_id, to_tier2, to_tier3)] == before["certificates"]
    assert c.financing.call("getRequest", request_id) == before["request"]
    assert c.financing.call("requestCount") == 1
    assert {m.name: balance(c, m) for m in (core, tier1, tier2, tier3, bank)} == before["balances"]
    assert c.credit_lines.call("getCreditLine", line) == before["line"]
    assert c.invoices.call("getInvoice", invoices[0]) == before["invoice"]
    assert c.settlement.call("totalSupply") == before["supply"]
    assert c.financing.call("wiring") == (
        c.members.address,
        c.certificates.address,
        c.settlement.address,
    )

    # Part two, on version 2: the request made under version 1 is approved under the new rule,
    # 200 000.00 x 4.35 % x 150 / 365 = 3 575.342... -> discount rounds DOWN to 3 575.34
    # (version 1 charged 3 575.35).
    approve_tokens(world, bank, c.financing.address, 196_424_66)
    travel_to(world.ledger, maturity - 150 * DAY)
    receipt = approve_financing(world, bank, request_id, 435)
    approved = c.financing.event_args(receipt, "FinancingApproved")
    assert (approved["discount"], approved["price"]) == (3_575_34, 196_424_66)
    financed = int(approved["financedCertificateId"])
    chain_up, current = [], financed
    while current:
        chain_up.append(current)
        current = c.certificates.call("parentOf", current)
    assert chain_up == [financed, to_tier3, to_tier2, root_id]  # lineage across the upgrade

    travel_to(world.ledger, maturity)
    approve_tokens(world, core, c.maturity.address, 1_000_000_00)
    c.maturity.transact(core.signer, "repay", root_id)
    for holder, cert_id in (
        (tier1, root_id),
        (tier2, to_tier2),
        (tier3, to_tier3),
        (bank, financed),
    ):
        c.maturity.transact(holder.signer, "redeem", cert_id)
    assert root(c, root_id).redeemed_value == 1_000_000_00
    assert c.credit_lines.call("usedOf", line) == 0
    assert {m.name: balance(c, m) for m in (core, tier1, tier2, tier3, bank)} == {
        core.name: 0,
        tier1.name: 300_000_00,
        tier2.name: 450_000_00,
        tier3.name: 196_424_66 + 50_000_00,
        bank.name: 1_000_000_00 - 196_424_66 + 200_000_00,
    }


def test_every_business_contract_upgrades_in_place(world: World) -> None:
    """A fresh build of each contract's own artifact, deployed with its proxy's immutables."""
    c = world.consortium
    line = grant_line(world, world.bank, world.core, 1_000_00)
    mint(world, world.bank, world.tier1, 5_00)
    for name in UPGRADEABLE:
        proxy = c.contracts[name]
        old = implementation_of(proxy)
        new = deploy_implementation(c, world.governor, name)
        govern(
            c, world.governor, upgrade_call(proxy, new.address, code_hash(c.ledger, new.address))
        )
        assert old != new.address
        assert implementation_of(proxy) == new.address
        assert proxy.call("governance") == c.governance.address
    assert c.credit_lines.call("availableOf", line) == 1_000_00
    assert balance(c, world.tier1) == 5_00
    assert c.settlement.call("name") == "SCF Settlement CNY"
    assert c.settlement.call("symbol") == "SCNY"


def test_no_upgrade_without_an_executed_proposal(world: World, v2: dict[str, Artifact]) -> None:
    c = world.consortium
    hub_v2 = deploy_implementation(c, world.governor, "FinancingHub", v2["FinancingHubV2"])
    digest = code_hash(c.ledger, hub_v2.address)
    old = implementation_of(c.financing)
    # A governor's own account is not governance; a member's neither.
    for signer in (world.governor, world.bank.signer):
        with reverts("ConsortiumUnauthorizedGovernance", signer.address):
            c.financing.transact(signer, "upgradeToVerified", hub_v2.address, digest, b"")
    # OpenZeppelin's entry, which checks no code hash, is closed, even to governance.
    with reverts("ConsortiumUpgradeNeedsCodeHash"):
        c.financing.transact(world.governor, "upgradeToAndCall", hub_v2.address, b"")
    with reverts("ConsortiumUpgradeNeedsCodeHash"):
        govern(c, world.governor, (c.financing, "upgradeToAndCall", (hub_v2.address, b"")))
    assert implementation_of(c.financing) == old


def test_a_proposal_whose_code_hash_does_not_match_fails(
    world: World, v2: dict[str, Artifact]
) -> None:
    c = world.consortium
    hub_v2 = deploy_implementation(c, world.governor, "FinancingHub", v2["FinancingHubV2"])
    actual = code_hash(c.ledger, hub_v2.address)
    # voters were shown the hash of version 1's code, not of what the address holds
    shown = code_hash(c.ledger, implementation_of(c.financing))
    old = implementation_of(c.financing)
    with reverts("ConsortiumImplementationMismatch", hub_v2.address, shown, actual):
        govern(c, world.governor, upgrade_call(c.financing, hub_v2.address, shown))
    # an address without code has the empty hash, never a recorded one
    nowhere = new_signer(c.ledger).address
    with reverts("ConsortiumImplementationMismatch"):
        govern(c, world.governor, upgrade_call(c.financing, nowhere, actual))
    assert implementation_of(c.financing) == old


def test_an_implementation_must_obey_this_governance_and_stay_upgradeable(
    world: World, v2: dict[str, Artifact]
) -> None:
    c = world.consortium
    old = implementation_of(c.financing)
    # built for another consortium's governance: the committee would lose the proxy
    foreign = deploy_artifact(
        c.ledger,
        world.governor,
        v2["FinancingHubV2"],
        world.outsider.address,
        c.members.address,
        c.certificates.address,
        c.settlement.address,
    )
    with reverts("ConsortiumImplementationGovernance", foreign.address):
        govern(
            c,
            world.governor,
            upgrade_call(c.financing, foreign.address, code_hash(c.ledger, foreign.address)),
        )
    # not UUPS: no later upgrade could ever run
    plain = deploy_artifact(c.ledger, world.governor, v2["NotUpgradeable"], c.governance.address)
    with reverts("ERC1967InvalidImplementation", plain.address):
        govern(
            c,
            world.governor,
            upgrade_call(c.financing, plain.address, code_hash(c.ledger, plain.address)),
        )
    assert implementation_of(c.financing) == old


def test_initializers_run_once_and_never_on_an_implementation(
    world: World, v2: dict[str, Artifact]
) -> None:
    c = world.consortium
    for name in UPGRADEABLE:
        proxy = c.contracts[name]
        with reverts("InvalidInitialization"):
            proxy.transact(world.outsider, "initialize")
        implementation = ContractHandle(c.ledger, proxy.artifact, implementation_of(proxy))
        with reverts("InvalidInitialization"):
            implementation.transact(world.outsider, "initialize")
        assert implementation.call("initializedVersion") == 2**64 - 1  # disabled for good
    hub_v2 = deploy_implementation(c, world.governor, "FinancingHub", v2["FinancingHubV2"])
    with reverts("InvalidInitialization"):
        hub_v2.transact(world.outsider, "initializeV2")
    digest = code_hash(c.ledger, hub_v2.address)
    govern(
        c,
        world.governor,
        upgrade_call(c.financing, hub_v2.address, digest, hub_v2.encode("initializeV2")),
    )
    hub = _as(c.financing, v2["FinancingHubV2"])
    with reverts("InvalidInitialization"):
        hub.transact(world.outsider, "initializeV2")
    # an implementation cannot be upgraded as if it were a proxy, even by governance
    with reverts("UUPSUnauthorizedCallContext"):
        govern(c, world.governor, upgrade_call(hub_v2, hub_v2.address, digest))
