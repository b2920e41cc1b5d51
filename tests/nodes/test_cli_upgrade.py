"""Upgrades from the CLI (docs/decisions/0013): `scf-node proposal deploy-implementation` and
`propose-upgrade` on a stopped development home (admin mode: executes at once)."""

from __future__ import annotations

import pytest

from chain.upgrades import implementation_of
from nodes.connect import connected
from nodes.home import NodeHome
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


def test_bad_input_exits_2(home: NodeHome) -> None:
    for args, says in (
        (("deploy-implementation", "MemberRegistry"), "CONTRACT: one of InvoiceRegistry"),
        (("propose-upgrade", "Nope", "0x" + "11" * 20, "--code-hash", "0x" + "00" * 32),
         "CONTRACT: Input should be"),
        (("propose-upgrade", "Maturity", "0x" + "11" * 20, "--code-hash", "0x12"),
         "--code-hash: String should match"),
    ):  # fmt: skip
        assert says in said(cli(home, "proposal", *args, code=2))
