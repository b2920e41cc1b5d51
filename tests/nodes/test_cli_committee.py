"""The committee's own rules from the CLI: `scf-node proposal committee` and the proposals
that change governors, thresholds, the voting period and parameters (on a stopped home)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from nodes.connect import connected
from nodes.home import NodeHome
from tests.nodes.test_cli_governance import (
    cli,
    cli_json,
    init_dev_home,
    said,
    write_keystore,
)

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(tmp_path_factory.mktemp("committee"))


def _proposal_count(home: NodeHome) -> int:
    return len(cli_json(home, "proposal", "list"))


def _parameter(home: NodeHome, key: str) -> int:
    with connected(home) as connection:
        return int(connection.consortium.governance.call("parameter", keccak(text=key)))


def test_committee_of_a_new_consortium(home: NodeHome) -> None:
    committee = cli_json(home, "proposal", "committee")
    (operator,) = committee["governors"]
    assert operator["weight"] == 1
    assert {k: v for k, v in committee.items() if k != "governors"} == {
        "total_weight": 1,
        "participation_percent": 100,
        "win_percent": 100,
        "voting_period_seconds": 7 * 86_400,
        "paused": False,
    }
    shown = said(cli(home, "proposal", "committee"))
    assert operator["address"] in shown
    assert "100 % of all weight must vote" in shown
    assert "604800 s" in shown


def test_bad_input_exits_2_and_proposes_nothing(home: NodeHome) -> None:
    before = _proposal_count(home)
    cases = [
        (("propose-governor", "not-an-address", "--weight", "1"), "ACCOUNT: String should match"),
        (("propose-governor", ZERO, "--weight", "1"), "zero address cannot be a governor"),
        (("propose-governor", "0x" + "12" * 20, "--weight", "-1"), "--weight: Input should be"),
        (("propose-governor", "0x" + "12" * 20, "--weight", str(2**64)), "--weight"),
        (("propose-thresholds", "--participation", "0", "--win", "51"), "--participation"),
        (("propose-thresholds", "--participation", "60", "--win", "101"), "--win: Input"),
        (("propose-voting-period", "0"), "SECONDS: Input should be greater than or equal to 1"),
        (("propose-voting-period", str(365 * 86_400 + 1)), "SECONDS: Input should be less"),
        (("propose-voting-period", "soon"), "Invalid value for 'SECONDS'"),
        (("propose-parameter", "grace_period", "10"), "KEY: String should match pattern"),
        (("propose-parameter", "GRACE_PERIOD", "-1"), "No such option: -1"),
        (("propose-parameter", "GRACE_PERIOD", "1.5"), "Invalid value for 'VALUE'"),
        (("propose-parameter", "GRACE_PERIOD", str(2**256)), "VALUE: Input should be less"),
        (
            ("propose-parameter", "MIN_SPLIT", "1", "--description", "x" * 501),
            "--description: String should have at most 500 characters",
        ),
    ]
    for args, message in cases:
        out = said(cli(home, "proposal", *args, "--dev", code=2))
        assert message in out, (args, out)
    with connected(home) as connection:
        governance = connection.consortium.governance.address
    out = cli(home, "proposal", "propose-governor", governance, "--weight", "1", "--dev", code=2)
    assert "cannot govern itself" in said(out)
    assert _proposal_count(home) == before


def test_parameter_and_thresholds_execute_at_once_in_admin_mode(home: NodeHome) -> None:
    outcome = cli_json(home, "proposal", "propose-parameter", "GRACE_PERIOD", "864000", "--dev")
    assert outcome["state"] == "EXECUTED"
    assert _parameter(home, "GRACE_PERIOD") == 864_000
    shown = cli_json(home, "proposal", "show", str(outcome["proposal_id"]))
    assert shown["description"] == "Set GRACE_PERIOD to 864000"
    big = str(2**256 - 1)  # a parameter is a uint256
    out = said(cli(home, "proposal", "propose-parameter", "MAX_TEST", big, "--dev",
                   "--description", "the largest value"))  # fmt: skip
    assert f"Set MAX_TEST to {big}: proposal" in out  # the summary names the change
    assert "is EXECUTED" in out
    assert _parameter(home, "MAX_TEST") == 2**256 - 1
    latest = cli_json(home, "proposal", "list")[-1]
    assert latest["description"] == "the largest value"

    outcome = cli_json(home, "proposal", "propose-thresholds", "--participation", "60",
                       "--win", "51", "--dev")  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    committee = cli_json(home, "proposal", "committee")
    assert (committee["participation_percent"], committee["win_percent"]) == (60, 51)


def test_pause_and_unpause_in_admin_mode(home: NodeHome) -> None:
    before = _proposal_count(home)
    paused = cli_json(home, "proposal", "propose-pause", "--dev")
    assert paused["state"] == "EXECUTED"
    assert cli_json(home, "proposal", "committee")["paused"] is True
    again = said(cli(home, "proposal", "propose-pause", "--dev", code=1))
    assert "the consortium is paused" in again
    assert _proposal_count(home) == before + 1  # the refused one proposed nothing
    resumed = cli_json(home, "proposal", "propose-unpause", "--dev")
    assert resumed["state"] == "EXECUTED"
    assert cli_json(home, "proposal", "committee")["paused"] is False
    assert "not paused" in said(cli(home, "proposal", "propose-unpause", "--dev", code=1))


def test_a_second_governor_then_votes_on_the_rules(home: NodeHome, tmp_path: Path) -> None:
    """Runs after the thresholds became 60 % / 51 %: with two governors of weight 1 one vote
    is 50 % participation, so every proposal needs both."""
    other = Signer.create()
    keystore = ("--keystore", str(write_keystore(tmp_path / "governor2.json", other)))
    added = cli_json(home, "proposal", "propose-governor", other.address, "--weight", "1", "--dev")
    assert added["state"] == "EXECUTED"
    committee = cli_json(home, "proposal", "committee")
    assert [g["address"] for g in committee["governors"]][1:] == [other.address]
    assert committee["total_weight"] == 2

    period = cli_json(home, "proposal", "propose-voting-period", "3600", "--dev")
    assert period["state"] == "PENDING"
    shown = cli_json(home, "proposal", "show", str(period["proposal_id"]))
    assert shown["actions"] == ["ConsortiumGovernance.setVotingPeriod(votingPeriod_=3600)"]
    voted = cli_json(home, "proposal", "vote", str(period["proposal_id"]), "--for", "--dev",
                     *keystore)  # fmt: skip
    assert voted["state"] == "EXECUTED"
    assert cli_json(home, "proposal", "committee")["voting_period_seconds"] == 3600

    stranger = Signer.create().address
    out = cli(home, "proposal", "propose-governor", stranger, "--weight", "0", "--dev", code=1)
    assert f"{stranger} is not a governor; nothing was proposed" in said(out)

    removal = cli_json(home, "proposal", "propose-governor", other.address.lower(),
                       "--weight", "0", "--dev", *keystore)  # fmt: skip
    assert removal["state"] == "PENDING"
    first = committee["governors"][0]["address"]
    voted = cli_json(home, "proposal", "vote", str(removal["proposal_id"]), "--for", "--dev")
    assert voted["state"] == "EXECUTED"
    assert [g["address"] for g in cli_json(home, "proposal", "committee")["governors"]] == [first]
    out = cli(home, "proposal", "propose-governor", first, "--weight", "0", "--dev", code=1)
    assert "is the last governor; nothing was proposed" in said(out)
