"""`scf-node migrate`: a home whose consortium was deployed before the proxies (the frozen
legacy artifacts) adopts the current contracts, governance and registries included, step by
step (chain/migration.py)."""

from __future__ import annotations

import json

import pytest

from chain.backends.embedded import EmbeddedLedger
from chain.contract import ContractHandle
from chain.deploy import UPGRADEABLE, Consortium, MemberSpec
from chain.errors import TransactionRefused
from chain.migration import IMPORTED, MIGRATED
from chain.roles import Role
from nodes.connect import connected
from nodes.home import DEV_PASSPHRASE, NodeHome
from tests.contracts.legacy import deploy_legacy_consortium, legacy_artifact
from tests.helpers import DAY, admit_member, doc_hash, new_credit_code, now
from tests.nodes.test_cli_governance import cli, cli_json, init_dev_home, said


@pytest.fixture(scope="module")
def legacy_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[NodeHome, dict[str, int]]:
    """A dev home whose deployment is a legacy consortium with a line and some money."""
    home = init_dev_home(tmp_path_factory.mktemp("migrate"))
    governor = home.read_keystore(DEV_PASSPHRASE)
    with connected(home) as connection:
        operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
        legacy = deploy_legacy_consortium(connection.ledger, governor, operator)
        bank = admit_member(legacy, governor, [Role.FINANCIER], name="Bank")
        core = admit_member(legacy, governor, [Role.CORE_ENTERPRISE], name="Core")
        legacy.save(home.deployment)  # from the next opening on, the node admits by it
    with connected(home) as connection:
        c = Consortium(connection.ledger, {
            n: ContractHandle(connection.ledger, legacy_artifact(n), h.address)
            for n, h in legacy.contracts.items()
        })  # fmt: skip
        c.credit_lines.transact(bank.signer, "grantCreditLine", core.id, 1_000_00,
                                now(c.ledger) + 30 * DAY)  # fmt: skip
        c.settlement.transact(bank.signer, "mint", core.address, 700_00, doc_hash("in"))
        c.settlement.transact(bank.signer, "mint", bank.address, 300_00, doc_hash("in"))
    return home, {core.address: 700_00, bank.address: 300_00}


def test_a_legacy_home_adopts_the_current_contracts(
    legacy_home: tuple[NodeHome, dict[str, int]],
) -> None:
    home, balances = legacy_home
    assert "no migration under way" in said(cli(home, "migrate", "import", code=1))
    plan = cli_json(home, "migrate", "prepare")
    assert set(plan["successors"]) == set(MIGRATED)
    assert set(plan["importers"]) == set(UPGRADEABLE)
    assert "prepared already" in said(cli(home, "migrate", "prepare", code=1))

    # governors check what they vote for: the importers are the released build
    for name in UPGRADEABLE:
        checked = cli_json(home, "proposal", "check-implementation", f"{name}Import",
                           plan["importers"][name])  # fmt: skip
        assert checked["matches"], checked
    # a plan file pointing at other code is refused before anything is proposed
    path = home.deployment.with_name("migration.json")
    kept = path.read_text("utf-8")
    tampered = json.loads(kept)
    tampered["importers"]["Maturity"] = plan["released"]["Maturity"]
    path.write_text(json.dumps(tampered), "utf-8")
    refused = said(cli(home, "migrate", "propose-open", code=1))
    assert f"MaturityImport {plan['released']['Maturity']}: the code is not the released" in refused
    path.write_text(kept, "utf-8")
    # the successor governance and registries are checked too
    tampered = json.loads(kept)
    tampered["successors"]["NodeRegistry"] = plan["successors"]["MemberRegistry"]
    path.write_text(json.dumps(tampered), "utf-8")
    refused = said(cli(home, "migrate", "propose-open", code=1))
    assert f"NodeRegistryImport {plan['successors']['MemberRegistry']}: the code is not" in refused
    path.write_text(kept, "utf-8")
    opened = cli_json(home, "migrate", "propose-open")
    # admin mode: the handover, the successor's settings and the opening all executed at once
    assert [p["state"] for p in opened["proposals"]] == ["EXECUTED"] * 3
    assert [p["governance"] for p in opened["proposals"]] == [
        plan["legacy"]["ConsortiumGovernance"],
        *[plan["successors"]["ConsortiumGovernance"]] * 2,
    ]
    assert "not adopted yet" in said(cli(home, "migrate", "finish", code=1))

    out = said(cli(home, "migrate", "import", "--batch-size", "1"))
    assert "SettlementToken: 0/2 SettlementToken: 1/2 SettlementToken: 2/2" in out
    assert "CreditLines: 1/1" in out
    assert "MemberRegistry: 3/3" in out  # the operator, the bank, the core enterprise
    again = cli_json(home, "migrate", "import")  # after a crash, or twice: nothing left
    assert again == {"imported": dict.fromkeys(IMPORTED, 0)}

    # the committee's path for invoices it cannot re-key: refused without a decision or a key,
    # and an invoice the legacy registry does not hold fails the proposal's execution
    settle = ("migrate", "propose-settle-invoices")
    assert "name at least one invoice" in said(cli(home, *settle, code=2))
    assert "not a legacy invoice key" in said(cli(home, *settle, "--keep", "0x12", code=2))
    refused = said(cli(home, *settle, "--cancel", "0x" + "ab" * 32, code=1))
    assert "ImportNotInLegacy" in refused

    adopted = cli_json(home, "migrate", "propose-adopt")
    assert adopted["state"] == "EXECUTED"
    finished = cli_json(home, "migrate", "finish")
    assert finished["retired"] == plan["legacy"]
    assert finished["contracts"]["SettlementToken"] == plan["successors"]["SettlementToken"]
    saved = json.loads(home.deployment.read_text("utf-8"))
    assert saved["retired"] == plan["legacy"]

    with connected(home) as connection:
        c = connection.consortium
        assert isinstance(connection.ledger, EmbeddedLedger)
        assert {a: c.settlement.call("balanceOf", a) for a in balances} == balances
        assert c.credit_lines.call("availableOf", 1) == 1_000_00
        governor = home.read_keystore(DEV_PASSPHRASE)
        legacy_token = ContractHandle(connection.ledger, legacy_artifact("SettlementToken"),
                                      plan["legacy"]["SettlementToken"])  # fmt: skip
        with pytest.raises(TransactionRefused, match="is a retired contract"):
            legacy_token.transact(governor, "approve", governor.address, 1, gas=100_000)
        # the node admits by the successor registry and governance now
        assert c.members.address == plan["successors"]["MemberRegistry"]
        assert c.members.call("memberOf", governor.address) == 1
        assert c.governance.call("isGovernor", governor.address)
    assert "runs the proxied contracts already" in said(
        cli(init_dev_home(home.path.parent / "current"), "migrate", "prepare", code=1)
    )
