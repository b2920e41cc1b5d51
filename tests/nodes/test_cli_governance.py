"""Governance from the CLI: `scf-node member|proposal|node` on a stopped home (the command
opens the embedded ledger itself) and against a running `scf-node start --dev` (JSON-RPC)."""

from __future__ import annotations

import atexit
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from typer.testing import CliRunner, Result

from chain.accounts import Signer
from chain.backends.rpc import RpcLedger
from chain.credit_code import make_credit_code
from chain.governance import pass_proposal
from nodes.cli import app
from nodes.connect import connected
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_ports
from tests.nodes.test_start import _start, _stop, _wait_for_api, _wait_for_rpc, wait_for_read_url

runner = CliRunner()
NODE_KEY = "ab" * 64  # 64 bytes: a node public key as NodeRegistry takes it
_serial = itertools.count(1)


def new_credit_code() -> str:
    """A valid credit code no other member of these homes has (the operator's is 9111...)."""
    return make_credit_code(f"91320500{next(_serial):09d}")


def said(output: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(output.split())


def invoke(home: NodeHome, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, [*args, "--home", str(home.path)])
    assert result.exit_code == code, result.output
    return result


def cli(home: NodeHome, *args: str, code: int = 0) -> str:
    """What the command said, stdout and stderr."""
    return invoke(home, *args, code=code).output


def cli_json(home: NodeHome, *args: str) -> Any:
    return json.loads(invoke(home, *args, "--json").stdout)


def write_keystore(path: Path, signer: Signer) -> Path:
    path.write_text(json.dumps(Account.encrypt(signer.key, DEV_PASSPHRASE)), "utf-8")
    return path


def init_dev_home(directory: Path) -> NodeHome:
    """A new home in ``directory`` as ``scf-node init --dev`` makes it (the node stays
    stopped): a copy of the one this test process made, so each caller has a home of its
    own, which no other test sees, for a copy's cost instead of an init's."""
    home = NodeHome(directory / "home")
    shutil.copytree(_made_dev_home(), home.path)
    return home


@cache
def _made_dev_home() -> Path:
    """``scf-node init --dev`` once per test process (each xdist worker makes its own):
    an init deploys a consortium, 1.5-2 s."""
    directory = Path(tempfile.mkdtemp(prefix="scf-dev-home-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    home = NodeHome(directory / "home")
    result = runner.invoke(app, ["init", "--home", str(home.path), "--dev"])
    assert result.exit_code == 0, result.output
    return home.path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(tmp_path_factory.mktemp("gov"))


@pytest.fixture(scope="module")
def supplier_code() -> str:
    return new_credit_code()


@pytest.fixture(scope="module")
def supplier(home: NodeHome, supplier_code: str) -> int:
    """A member admitted through the CLI in admin mode (one governor: executes at once)."""
    outcome = cli_json(
        home,
        "member", "propose-admit", "--dev",
        "--name", "Suzhou Cable Co., Ltd.",
        "--credit-code", supplier_code,
        "--role", "SUPPLIER",
    )  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    return int(outcome["member_id"])


def test_lists_and_shows_members_of_a_stopped_home(home: NodeHome, supplier: int) -> None:
    members = cli_json(home, "member", "list")
    assert [(m["id"], m["name"], m["roles"], m["status"]) for m in members] == [
        (1, "SCF Consortium Operator", ["AUDITOR"], "active"),
        (supplier, "Suzhou Cable Co., Ltd.", ["SUPPLIER"], "active"),
    ]
    shown = cli_json(home, "member", "show", str(supplier))
    # without --account the member's key is held by the node, encrypted with its passphrase
    (account,) = shown["accounts"]
    assert (home.path / "keys" / "accounts" / f"{account.lower()}.json").exists()
    table = said(cli(home, "member", "list"))
    assert "Suzhou Cable Co., Ltd." in table
    assert "SUPPLIER" in table


def test_bad_input_is_refused_before_anything_is_signed(
    home: NodeHome, supplier: int, supplier_code: str
) -> None:
    before = len(cli_json(home, "proposal", "list"))
    out = cli(home, "member", "propose-admit", "--dev", "--name", "X", "--credit-code",
              "91110000000000002X", "--role", "SUPPLIER", code=1)  # fmt: skip
    assert "error: check character is 'X' but should be 'L'" in said(out)
    out = cli(home, "member", "propose-admit", "--dev", "--name", "Twin", "--credit-code",
              supplier_code, "--role", "SUPPLIER", code=1)  # fmt: skip
    assert f"member {supplier} already has this credit code; nothing was proposed" in said(out)
    out = cli(home, "member", "propose-admit", "--dev", "--name", "Y", "--credit-code",
              new_credit_code(), "--role", "BANKER", code=2)  # fmt: skip
    assert "BANKER" in said(out)
    cli(home, "node", "propose-remove", "--dev", "not-hex", code=1)
    assert len(cli_json(home, "proposal", "list")) == before


def test_reverts_exit_non_zero_naming_the_custom_error(home: NodeHome, tmp_path: Path) -> None:
    out = cli(home, "member", "propose-suspend", "99", "--dev", code=1)
    assert "the contract reverted: MemberNotFound(memberId=99)" in said(out)
    out = cli(home, "proposal", "vote", "1", "--for", "--dev", code=1)
    assert "GovernanceProposalNotPending(proposalId=1" in said(out)
    out = cli(home, "proposal", "show", "999", code=1)
    assert "GovernanceProposalNotFound(proposalId=999)" in said(out)
    stranger = write_keystore(tmp_path / "stranger.json", Signer.create())
    out = cli(home, "member", "propose-suspend", "1", "--dev", "--keystore", str(stranger), code=1)
    assert "GovernanceUnauthorizedAccount" in said(out)


def test_init_puts_the_node_itself_on_the_allow_list(home: NodeHome) -> None:
    (own,) = cli_json(home, "node", "list")
    node_key = Signer.from_key(Account.decrypt(json.loads(home.node_keystore.read_text()),
                                               DEV_PASSPHRASE))  # fmt: skip
    assert own["public_key"] == "0x" + node_key.public_key.hex()
    assert own["id"] == "0x" + keccak(node_key.public_key).hex()
    assert (own["owner_member_id"], own["endpoint"], own["allowed"]) == (
        1,  # the operator
        "http://127.0.0.1:8545",  # its JSON-RPC, where init's node answers by default
        True,
    )


def test_node_allow_list(home: NodeHome) -> None:
    outcome = cli_json(home, "node", "propose-add", "--dev", "--public-key", NODE_KEY,
                       "--owner", "1", "--endpoint", "node1.example:30303")  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    _own, node = cli_json(home, "node", "list")
    assert (node["owner_member_id"], node["endpoint"], node["allowed"]) == (
        1,
        "node1.example:30303",
        True,
    )
    # in admin mode the proposal is approved at once; the failing action is named
    out = cli(home, "node", "propose-add", "--dev", "--public-key", NODE_KEY, "--owner", "1",
              "--endpoint", "again:30303", code=1)  # fmt: skip
    assert "executing it failed: NodeAlreadyRegistered" in said(out)
    out = cli(home, "node", "propose-add", "--dev", "--public-key", "abcd", "--owner", "1",
              "--endpoint", "short:30303", code=1)  # fmt: skip
    assert "NodeInvalidPublicKey(length=2)" in said(out)
    assert cli_json(home, "node", "propose-remove", "--dev", node["id"])["state"] == "EXECUTED"
    assert [n["allowed"] for n in cli_json(home, "node", "list")] == [True, False]
    out = cli(home, "node", "propose-remove", "--dev", "0x" + "00" * 32, code=1)
    assert "NodeNotFound" in said(out)


def test_api_keys_issue_show_revoke(home: NodeHome, supplier: int) -> None:
    issued = cli_json(home, "member", "api-key", str(supplier), "--label", "erp")
    assert issued["key"].startswith(issued["prefix"])
    keys = cli_json(home, "member", "show", str(supplier))["api_keys"]
    assert [(k["prefix"], k["label"], k["revoked_at"]) for k in keys] == [
        (issued["prefix"], "erp", None)
    ]
    revoked = cli_json(home, "member", "api-key", str(supplier), "--revoke", issued["prefix"])
    assert revoked["revoked"] == 1
    out = cli(home, "member", "api-key", str(supplier), "--revoke", issued["prefix"], code=1)
    assert "has no active API key with prefix" in said(out)
    out = cli(home, "member", "api-key", "77", code=1)
    assert "MemberNotFound(memberId=77)" in said(out)


def test_a_development_home_governs_without_dev(home: NodeHome) -> None:
    """``node.json`` says the home is a development home: its commands need no --dev for
    the development passphrase (and ask for none: there is no terminal here)."""
    admitted = cli_json(home, "member", "propose-admit", "--name", "Ningbo Valve Co., Ltd.",
                        "--credit-code", new_credit_code(), "--role", "SUPPLIER")  # fmt: skip
    assert admitted["state"] == "EXECUTED"
    result = invoke(home, "member", "propose-suspend", str(admitted["member_id"]), "--json")
    assert json.loads(result.stdout)["state"] == "EXECUTED"
    assert "development passphrase" in said(result.stderr)  # it says which secret it used


@pytest.fixture(scope="module")
def second_governor(home: NodeHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committee of two equal governors (thresholds stay 100 %): every proposal needs both."""
    other = Signer.create()
    with connected(home) as connection:
        governance = connection.consortium.governance
        first = home.read_keystore(DEV_PASSPHRASE)
        pass_proposal(governance, first, [(governance, "setGovernor", (other.address, 1))], "2nd")
    return write_keystore(tmp_path_factory.mktemp("keys") / "governor2.json", other)


def test_committee_votes_executes_and_revokes(
    home: NodeHome, supplier: int, second_governor: Path
) -> None:
    other = ("--keystore", str(second_governor))
    suspend = cli_json(home, "member", "propose-suspend", str(supplier), "--dev")
    assert suspend["state"] == "PENDING"
    pending = cli_json(home, "proposal", "list", "--state", "pending")
    assert [p["id"] for p in pending] == [suspend["proposal_id"]]
    shown = cli_json(home, "proposal", "show", str(suspend["proposal_id"]))
    assert shown["actions"] == [f"MemberRegistry.suspendMember(memberId={supplier})"]
    assert (shown["for_weight"], shown["total_weight"]) == (1, 2)

    voted = cli_json(
        home, "proposal", "vote", str(suspend["proposal_id"]), "--for", "--dev", *other
    )
    assert voted["state"] == "EXECUTED"
    assert cli_json(home, "member", "show", str(supplier))["status"] == "suspended"
    out = cli(home, "proposal", "vote", str(suspend["proposal_id"]), "--for", "--dev", code=1)
    assert "GovernanceProposalNotPending" in said(out)

    # two reinstatements: the second is approved after the first ran, and cannot execute
    first = cli_json(home, "member", "propose-reinstate", str(supplier), "--dev")["proposal_id"]
    second = cli_json(home, "member", "propose-reinstate", str(supplier), "--dev")["proposal_id"]
    cli_json(home, "proposal", "vote", str(first), "--for", "--dev", *other)
    out = cli(home, "proposal", "vote", str(second), "--for", "--dev", *other, code=1)
    assert "executing it failed: MemberInvalidStatus" in said(out)
    assert f"scf-node proposal execute {second}" in said(out)
    approved = cli_json(home, "proposal", "show", str(second))
    assert approved["state"] == "APPROVED"
    assert approved["executable_until"] > approved["deadline"] > approved["created_at"]
    out = cli(home, "proposal", "execute", str(second), "--dev", code=1)
    assert "GovernanceActionFailed" in said(out)
    assert "MemberInvalidStatus" in said(out)

    # once the member is suspended again, the approved reinstatement executes
    again = cli_json(home, "member", "propose-suspend", str(supplier), "--dev")["proposal_id"]
    cli_json(home, "proposal", "vote", str(again), "--for", "--dev", *other)
    assert cli_json(home, "proposal", "execute", str(second), "--dev")["state"] == "EXECUTED"
    assert cli_json(home, "member", "show", str(supplier))["status"] == "active"

    # a vote Against carries a rejection; only the proposer may revoke
    rejected = cli_json(home, "member", "propose-suspend", str(supplier), "--dev")["proposal_id"]
    voted = cli_json(home, "proposal", "vote", str(rejected), "--against", "--dev", *other)
    assert voted["state"] == "REJECTED"
    revocable = cli_json(home, "member", "propose-suspend", str(supplier), "--dev")["proposal_id"]
    assert cli_json(home, "proposal", "retally", str(revocable), "--dev")["state"] == "PENDING"
    out = cli(home, "proposal", "revoke", str(revocable), "--dev", *other, code=1)
    assert "GovernanceNotProposer" in said(out)
    assert cli_json(home, "proposal", "revoke", str(revocable), "--dev")["state"] == "REVOKED"

    out = cli(home, "proposal", "vote", str(revocable), "--abstain", "--dev", code=2)
    assert "counts For and Against only" in said(out)
    cli(home, "proposal", "vote", str(revocable), "--dev", code=2)
    assert cli_json(home, "member", "show", str(supplier))["status"] == "active"
    # a proposal that could not execute is not even made
    out = cli(home, "member", "propose-reinstate", str(supplier), "--dev", code=1)
    assert "only a suspended member can be reinstated" in said(out)


# ---- against a running node ------------------------------------------------------------------


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeHome, str]]:
    home = NodeHome(tmp_path_factory.mktemp("running") / "home")
    port, api_port, read_port = free_ports(3)
    proc = _start(home.path, port, api_port, read_port)
    api = f"http://127.0.0.1:{api_port}"
    try:
        _wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        _wait_for_api(api, proc)
        wait_for_read_url(home.path, proc)
        yield home, api
    finally:
        out = _stop(proc)
    assert f"scf-node status --home {home.path}" in said(out)  # the first-run hints


def test_governance_against_a_running_node_and_its_api_key(running: tuple[NodeHome, str]) -> None:
    home, api = running
    status = cli_json(home, "status")
    assert status["node"]["running"] is True
    assert status["node"]["read_url"].startswith("http://127.0.0.1:")  # the node's replica
    outcome = cli_json(home, "member", "propose-admit", "--dev", "--name", "Bank of Lakes",
                       "--credit-code", new_credit_code(), "--role", "FINANCIER")  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    member_id = outcome["member_id"]
    names = [m["name"] for m in cli_json(home, "member", "list")]
    assert names == ["SCF Consortium Operator", "Bank of Lakes"]

    key = cli_json(home, "member", "api-key", str(member_id))["key"]
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 30
    while (me := httpx.get(f"{api}/v1/members/me", headers=headers)).status_code != 200:
        assert me.status_code == 401, me.text  # until the indexer has seen the admission
        assert time.monotonic() < deadline, "the new member never reached the read model"
        time.sleep(0.1)
    assert (me.json()["id"], me.json()["roles"]) == (member_id, ["FINANCIER"])

    cli(home, "member", "api-key", str(member_id), "--revoke", key[:12])
    assert httpx.get(f"{api}/v1/members/me", headers=headers).status_code == 401


def test_status_of_a_running_node_after_time_travel(running: tuple[NodeHome, str]) -> None:
    """The block rate is what the node sealed by its machine's clock, however far time
    travel moved the blocks' timestamps; the node is on the allow-list at its JSON-RPC."""
    home, _ = running
    rpc_url = json.loads((home.path / "node.run.json").read_text())["rpc_url"]
    ledger = RpcLedger(rpc_url)
    try:
        ledger.increase_time(30 * 86_400)  # and a block
        ledger.mine(2)
    finally:
        ledger.close()
    report = cli_json(home, "status")
    rate = report["block_rate"]
    assert rate["measured_by"] == "node"
    assert rate["blocks"] >= 3
    assert 0 < rate["seconds"] <= 60
    assert rate["blocks_per_minute"] == round(rate["blocks"] * 60 / rate["seconds"], 2)
    assert report["nodes"] == {"allowed": 1, "removed": 0}
    (own,) = cli_json(home, "node", "list")
    assert own["endpoint"] == rpc_url
    assert "blocks/min" in said(cli(home, "status"))
