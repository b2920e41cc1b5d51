"""An SCF Chain API node over an external JSON-RPC ledger (anvil standing in for Besu).

`scf-node init --ledger-url` and `scf-node start` run as real processes against anvil
run free of fees, as a consortium network is; the REST API, the operator commands and
the whole demo work over it. The failure modes: an unreachable URL, a network of
another chain, a stopped or reset network, a network that charges fees.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from typer.testing import CliRunner

from api.client import ApiError, ScfClient
from chain.backends.rpc import RpcLedger
from chain.credit_code import make_credit_code
from chain.deploy import Consortium
from nodes.cli import app
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_port, free_ports
from tests.chain.anvil import anvil
from tests.nodes.test_start import wait_for_read_url

# A consortium network charges no fees (Besu: --min-gas-price=0, zeroBaseFee): anvil's flags.
ZERO_FEES = ("--base-fee", "0", "--gas-price", "0", "--disable-min-priority-fee")
ANVIL_CHAIN_ID = 31_337
# anvil's first development account (from its public test mnemonic), funded by its genesis.
ANVIL_FUNDED_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
NODE_TIMEOUT = 120.0

runner = CliRunner()


def said(output: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(output.split())


def scf_node(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`scf-node ARGS` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )


@dataclass
class RunningNode:
    home: NodeHome
    api_url: str
    read_url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return said(self.log.read_text("utf-8"))

    def client(self) -> ScfClient:
        key = (self.home.path / "operator-api-key").read_text("utf-8").strip()
        return ScfClient(self.api_url, key)


def start_node(home: NodeHome, log: Path, env: dict[str, str] | None = None) -> RunningNode:
    """`scf-node start` as a real process; returns once its REST API answers."""
    api_port, rpc_port, read_port = free_ports(3)
    command = [sys.executable, "-m", "nodes", "start", "--home", str(home.path)]
    command += ["--api-port", str(api_port), "--rpc-port", str(rpc_port)]
    command += ["--read-port", str(read_port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {"SCF_PASSPHRASE": DEV_PASSPHRASE})},
        )
    api_url, read_url = (f"http://127.0.0.1:{port}" for port in (api_port, read_port))
    node = RunningNode(home, api_url, read_url, process, log)
    deadline = time.monotonic() + NODE_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the node exited ({process.returncode}):\n{node.output()}")
        try:
            if httpx.get(f"{node.api_url}/healthz", timeout=2).status_code == 200:
                wait_for_read_url(home.path, process)
                return node
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    stop_node(node)
    raise AssertionError(f"the REST API did not come up:\n{node.output()}")


def stop_node(node: RunningNode) -> None:
    node.process.send_signal(signal.SIGINT)
    try:
        node.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait()
        raise AssertionError(f"the node did not stop on SIGINT:\n{node.output()}") from None
    assert node.process.returncode == 0, node.output()


def init_home(home: NodeHome, url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    """`scf-node init --ledger-url` in process (the subprocess path is tested once below)."""
    return runner.invoke(
        app,
        ["init", "--home", str(home.path), "--ledger-url", url, *extra],
        env={"COLUMNS": "200", **(env or {"SCF_PASSPHRASE": DEV_PASSPHRASE})},
    )


# ---- one free-of-fees network, one home, one running node -------------------------------


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    with anvil(*ZERO_FEES) as url:
        yield url


@pytest.fixture(scope="module")
def initialized(network: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[NodeHome, str]:
    home = NodeHome(tmp_path_factory.mktemp("external") / "home")
    done = scf_node("init", "--home", str(home.path), "--ledger-url", network, "--dev")
    assert done.returncode == 0, done.stdout + done.stderr
    return home, said(done.stdout)


@pytest.fixture(scope="module")
def node(
    initialized: tuple[NodeHome, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    home, _ = initialized
    running = start_node(home, tmp_path_factory.mktemp("logs") / "node.log")
    yield running
    stop_node(running)
    assert "Stopped." in running.output()


def test_init_deploys_to_the_network_and_keeps_no_ledger(
    initialized: tuple[NodeHome, str], network: str
) -> None:
    home, output = initialized
    assert home.read_settings() == {
        "ledger": "rpc",
        "ledger_url": network,
        "chain_id": ANVIL_CHAIN_ID,
        "dev": True,
    }
    assert not home.chain_dir.exists()
    assert f"the JSON-RPC network at {network} (chain {ANVIL_CHAIN_ID})" in output
    ledger = RpcLedger(network)
    try:
        consortium = Consortium.load(ledger, home.deployment)
        for name, address in consortium.addresses().items():
            assert ledger.get_code(address), f"{name} has no code on the network"
        governor = home.read_keystore(DEV_PASSPHRASE)
        assert consortium.members.call("memberOf", governor.address) == 1
        assert ledger.get_balance(governor.address) == 0  # a free-of-fees network needs none
    finally:
        ledger.close()


def test_start_follows_the_network_and_serves_the_api(node: RunningNode, network: str) -> None:
    output = node.output()
    assert f"following the external JSON-RPC network at {network}" in output
    assert "runs no ledger and no JSON-RPC server of its own" in output
    assert f"Ledger JSON-RPC (external network): {network}" in output
    assert "charges gas fees" not in output

    me = node.client().me()
    assert (me["id"], me["roles"]) == (1, ["AUDITOR"])
    runtime = json.loads((node.home.path / "node.run.json").read_text("utf-8"))
    assert runtime["rpc_url"] == network
    assert runtime["api_url"] == node.api_url


def test_status_reaches_the_network_of_the_home(node: RunningNode, network: str) -> None:
    done = scf_node("status", "--home", str(node.home.path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["chain_id"] == ANVIL_CHAIN_ID
    # following a network, the node supervises its read replica only: no ledger of its own
    processes = report["node"].pop("processes")
    assert [(p["name"], p["state"], p["restarts"]) for p in processes] == [
        ("read_replica", "running", 0)
    ]
    assert report["node"] == {
        "running": True,
        "dev_mode": False,  # started without --dev
        "rpc_url": network,
        "api_url": node.api_url,
        "read_url": node.read_url,
    }
    assert report["members"]["total"] >= 1


def test_the_demo_runs_end_to_end_over_the_network(node: RunningNode, network: str) -> None:
    done = scf_node(
        "demo", "--api-url", node.api_url, "--rpc-url", network, "--home", str(node.home.path)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Demo complete: every figure matched." in said(done.stdout)


def test_verify_leaves_blocks_to_the_network_and_reconciles_the_read_model(
    node: RunningNode, network: str
) -> None:
    done = scf_node("verify", "--home", str(node.home.path))
    output = said(done.stdout)
    assert done.returncode == 0, output + done.stderr
    assert f"external JSON-RPC network at {network}" in output
    assert "re-executing its blocks from genesis is that network's job" in output
    assert "Reconciled the read model with chain state at block" in output


def test_backup_copies_everything_but_the_ledger(
    node: RunningNode, network: str, tmp_path: Path
) -> None:
    target = tmp_path / "backup"
    result = runner.invoke(app, ["backup", str(target), "--home", str(node.home.path)])
    assert result.exit_code == 0, result.output
    assert f"the external JSON-RPC network at {network} keeps the ledger" in said(result.output)
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    assert manifest["ledger"].startswith("not included")
    assert manifest["read_model"] == "included"
    assert manifest["head_block"] > 0
    assert {"node.json", "deployment.json", "keys/governor.json", "scf.db"} <= set(
        manifest["files"]
    )
    assert not any(path.startswith("chain/") for path in manifest["files"])

    restored = NodeHome(tmp_path / "restored")
    result = runner.invoke(app, ["restore", str(target), "--home", str(restored.path)])
    assert result.exit_code == 0, result.output
    assert restored.ledger_url() == network
    assert restored.read_keystore(DEV_PASSPHRASE).address == (
        node.home.read_keystore(DEV_PASSPHRASE).address
    )


# ---- what init refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}", "no Ethereum JSON-RPC ledger answers at"),
        ("ftp://127.0.0.1:{port}", "must be an http:// or https:// JSON-RPC endpoint"),
    ],
)
def test_init_refuses_a_url_without_a_ledger_and_writes_nothing(
    tmp_path: Path, url: str, message: str
) -> None:
    home = NodeHome(tmp_path / "home")
    result = init_home(home, url.format(port=free_port()), "--dev")  # nothing listens there
    assert result.exit_code == 1
    assert message in said(result.output)
    assert not home.path.exists() or not home.existing_parts()


def test_init_refuses_a_network_of_another_chain(network: str, tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    result = init_home(home, network, "--dev", "--chain-id", "8888")
    assert result.exit_code == 1
    assert f"has chain id {ANVIL_CHAIN_ID}" in said(result.output)
    assert not home.existing_parts()


def test_governor_keystore_needs_a_ledger_url(tmp_path: Path) -> None:
    keystore = tmp_path / "governor.json"
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_FUNDED_KEY, DEV_PASSPHRASE)))
    result = runner.invoke(
        app, ["init", "--home", str(tmp_path / "home"), "--governor-keystore", str(keystore)]
    )
    assert result.exit_code == 2
    assert "--governor-keystore needs --ledger-url" in said(result.output)


# ---- what start refuses -----------------------------------------------------------------


def test_start_against_a_stopped_network_fails_clearly(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    with anvil(*ZERO_FEES) as url:
        assert init_home(home, url, "--dev").exit_code == 0
    done = scf_node("start", "--home", str(home.path), "--api-port", str(free_port()), "--dev")
    output = said(done.stdout + done.stderr)
    assert done.returncode == 1, output
    assert f"The node cannot start: no Ethereum JSON-RPC ledger answers at {url}" in output
    assert not (home.path / "node.run.json").exists()


def test_start_refuses_a_network_that_lost_the_consortium(
    initialized: tuple[NodeHome, str], tmp_path: Path
) -> None:
    """A development network restarted empty (same chain id) no longer has the contracts."""
    source, _ = initialized
    home = NodeHome(tmp_path / "home")
    home.path.mkdir()
    home.keystore.parent.mkdir()
    home.keystore.write_bytes(source.keystore.read_bytes())
    home.deployment.write_bytes(source.deployment.read_bytes())
    with anvil(*ZERO_FEES) as fresh:
        home.write_settings({**source.read_settings(), "ledger_url": fresh})
        result = runner.invoke(
            app,
            ["start", "--home", str(home.path), "--dev", "--api-port", str(free_port())],
        )
    output = said(result.output)
    assert result.exit_code == 1, output
    assert f"are not on the network at {fresh}" in output
    assert "was the network reset?" in output


# ---- a network that charges fees --------------------------------------------------------


@pytest.fixture(scope="module")
def fee_network() -> Iterator[str]:
    with anvil() as url:  # anvil's defaults: an EIP-1559 base fee, like a public chain
        yield url


def test_init_on_a_fee_charging_network_needs_a_funded_governor(
    fee_network: str, tmp_path: Path
) -> None:
    home = NodeHome(tmp_path / "home")
    result = init_home(home, fee_network, env={"SCF_PASSPHRASE": "a long production passphrase"})
    output = said(result.output)
    assert result.exit_code == 1, output
    assert "charges gas fees and the governor" in output
    assert "holds no ether" in output
    assert "--min-gas-price=0" in output
    assert not home.existing_parts()

    result = init_home(home, fee_network, "--dev")  # a development node can fund it
    assert result.exit_code == 0, result.output
    assert "funded the governor" in said(result.output)


def test_a_fee_charging_network_is_named_and_member_writes_fail_clearly(
    fee_network: str, tmp_path: Path
) -> None:
    keystore = tmp_path / "funded.json"
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_FUNDED_KEY, DEV_PASSPHRASE)))
    home = NodeHome(tmp_path / "home")
    result = init_home(home, fee_network, "--governor-keystore", str(keystore))
    assert result.exit_code == 0, result.output
    funded = Account.from_key(ANVIL_FUNDED_KEY).address
    assert home.read_keystore(DEV_PASSPHRASE).address == funded

    node = start_node(home, tmp_path / "node.log")
    try:
        assert "Warning: the network at" in node.output()
        assert "charges gas fees" in node.output()
        operator = node.client()
        applied = ScfClient(node.api_url).apply(
            "Bank of Fees", make_credit_code("91370200599999999"), ["FINANCIER"]
        )
        proposal = operator.post(
            "/v1/governance/proposals", {"kind": "admit_member", "application_id": applied["id"]}
        )
        if operator.proposal(proposal["id"])["state"] == "approved":
            operator.post(f"/v1/governance/proposals/{proposal['id']}/execute")
        assert operator.proposal(proposal["id"])["state"] == "executed"
        bank = ScfClient(node.api_url, applied["api_key"])
        member = bank.wait_until_admitted()
        with pytest.raises(ApiError) as refused:
            bank.mint(member["id"], "100.00", "0x" + "11" * 32)
        assert (refused.value.status, refused.value.code) == (422, "transaction_refused")
        assert "insufficient funds" in refused.value.message.lower()
    finally:
        stop_node(node)
