"""Upgrades from the CLI (docs/decisions/0013): `scf-node proposal deploy-implementation` and
`propose-upgrade` on a stopped development home (admin mode: executes at once)."""

from __future__ import annotations

import pytest
from web3 import Web3

from chain.artifacts import build_dir, load_artifact
from chain.contract import deploy_artifact
from chain.upgrades import implementation_of
from nodes.connect import connected
from nodes.home import DEV_PASSPHRASE, NodeHome
from tests.nodes.test_cli_governance import cli, cli_json, init_dev_home, said


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(tmp_path_factory.mktemp("upgrade"))


def _implementation(home: NodeHome, contract: str) -> str:
    with connected(home) as connection:
        return implementation_of(connection.consortium.contracts[contract])


def test_a_business_contract_is_upgraded_by_proposal(home: NodeHome) -> None:
    before = _implementation(home, "FinancingHub")
    deployed = cli_json(home, "proposal", "deploy-implementation", "FinancingHub")
    assert deployed["contract"] == "FinancingHub"
    assert _implementation(home, "FinancingHub") == before  # deploying changes nothing

    new, digest = deployed["implementation"], deployed["code_hash"]
    wrong = "0x" + "ab" * 32
    refused = said(cli(home, "proposal", "propose-upgrade", "FinancingHub", new,
                       "--code-hash", wrong, code=1))  # fmt: skip
    assert f"hashes to {digest}, not {wrong}" in refused
    outcome = cli_json(home, "proposal", "propose-upgrade", "FinancingHub", new,
                       "--code-hash", digest)  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    assert _implementation(home, "FinancingHub") == new
    shown = cli_json(home, "proposal", "show", str(outcome["proposal_id"]))
    assert shown["description"] == f"Upgrade FinancingHub to {new} (code {digest})"


def test_governors_check_an_implementation_against_the_released_build(home: NodeHome) -> None:
    deployed = cli_json(home, "proposal", "deploy-implementation", "Maturity")
    new = deployed["implementation"]
    checked = cli_json(home, "proposal", "check-implementation", "Maturity", new)
    assert checked == {
        "contract": "Maturity",
        "implementation": new,
        "code_hash": deployed["code_hash"],
        "matches": True,
        "problems": [],
    }
    assert "is the released Maturity" in said(cli(home, "proposal", "check-implementation",
                                                 "Maturity", new))  # fmt: skip

    # The released Maturity's code, built to pay from a settlement token of someone's choosing.
    with connected(home) as connection:
        c = connection.consortium
        governor = home.read_keystore(DEV_PASSPHRASE)
        fake_token = Web3.to_checksum_address("0x" + "5e" * 20)
        tampered = deploy_artifact(c.ledger, governor, load_artifact("Maturity"),
                                   c.governance.address, c.certificates.address,
                                   fake_token).address  # fmt: skip
        settlement = c.settlement.address
    refused = said(cli(home, "proposal", "check-implementation", "Maturity", tampered, code=1))
    assert f"{tampered} is NOT the released Maturity" in refused
    assert f"immutable SettlementToken is {fake_token}," in refused
    assert f"the consortium's is {settlement}" in refused
    # another release's artifact is the one to compare with when given
    release = home.path / "FinancingHub.json"
    release.write_text((build_dir() / "FinancingHub.json").read_text("utf-8"), "utf-8")
    other = said(cli(home, "proposal", "check-implementation", "Maturity", new,
                     "--artifact", str(release), code=1))  # fmt: skip
    built_from = "(ConsortiumGovernance, CreditCertificates, SettlementToken)"
    assert f"the build FinancingHub is not built from {built_from}" in other


def test_bad_input_exits_2(home: NodeHome) -> None:
    for args, says in (
        (("deploy-implementation", "MemberRegistry"), "CONTRACT: one of InvoiceRegistry"),
        (("propose-upgrade", "Nope", "0x" + "11" * 20, "--code-hash", "0x" + "00" * 32),
         "CONTRACT: Input should be"),
        (("propose-upgrade", "Maturity", "0x" + "11" * 20, "--code-hash", "0x12"),
         "--code-hash: String should match"),
        (("check-implementation", "NodeRegistry", "0x" + "11" * 20), "CONTRACT: one of"),
        (("check-implementation", "NodeRegistryImport", "0x" + "11" * 20), "CONTRACT: one of"),
        (("check-implementation", "Maturity", "0x12"), "IMPLEMENTATION: a 0x-prefixed"),
        (("check-implementation", "Maturity", "0x" + "11" * 20, "--artifact", "/nonexistent"),
         "--artifact: cannot read"),
    ):  # fmt: skip
        assert says in said(cli(home, "proposal", *args, code=2))
