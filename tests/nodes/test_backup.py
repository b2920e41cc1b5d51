"""`scf-node backup` under write load and `scf-node restore`: the restored home verifies,
starts, and holds every write acknowledged before the backup began; restore refuses a
home that is not empty and a backup that does not match its manifest."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import HTTPProvider, Web3

from chain.backends.embedded import DEV_FAUCET_KEY
from nodes.cli import app
from nodes.connect import connected
from nodes.home import NodeHome
from nodes.runtime.ports import free_ports
from tests.nodes.test_start import _start, _stop, _wait_for_api, _wait_for_rpc

runner = CliRunner()


def said(output: str) -> str:
    return " ".join(output.split())


def invoke(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


class Writer(threading.Thread):
    """Sends value transfers through the node's JSON-RPC, one after the other, and records
    each one the node acknowledged with a receipt."""

    def __init__(self, rpc_url: str) -> None:
        super().__init__(name="writer", daemon=True)
        self.w3 = Web3(HTTPProvider(rpc_url))
        self.faucet = Account.from_key(DEV_FAUCET_KEY)
        self.acknowledged: list[bytes] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.progress = threading.Condition(self.lock)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            nonce: int = self.w3.eth.get_transaction_count(self.faucet.address)
            while not self.stop.is_set():
                tx = {
                    "to": Account.create().address,
                    "value": 1,
                    "gas": 21_000,
                    "nonce": nonce,
                    "chainId": self.w3.eth.chain_id,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                }
                signed = self.faucet.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
                assert receipt["status"] == 1
                nonce += 1
                with self.progress:
                    self.acknowledged.append(bytes(tx_hash))
                    self.progress.notify_all()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_for(self, count: int, timeout: float = 60) -> list[bytes]:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.acknowledged) >= count, timeout), (
                f"writer stalled: {self.error!r}"
            )
            return list(self.acknowledged)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeHome, str]]:
    home = NodeHome(tmp_path_factory.mktemp("live") / "home")
    port, api_port, read_port = free_ports(3)
    proc = _start(home.path, port, api_port, read_port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_rpc(url, proc)
        _wait_for_api(f"http://127.0.0.1:{api_port}", proc)
        yield home, url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def backup_dir(node: tuple[NodeHome, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup taken while a writer keeps the node busy, and the writes acknowledged
    before it began (stored next to it for the tests)."""
    home, url = node
    target = tmp_path_factory.mktemp("backups") / "b1"
    writer = Writer(url)
    writer.start()
    try:
        before = writer.wait_for(5)
        result = invoke("backup", str(target), "--home", str(home.path), "--json")
        after = writer.wait_for(len(before) + 3)  # still writing: the backup was online
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    assert len(after) > len(before)
    manifest = json.loads(result.stdout)
    assert manifest["read_model"] == "included"
    (target.parent / "acknowledged.json").write_text(json.dumps([h.hex() for h in before]))
    return target


def test_manifest_lists_every_part_with_hashes(backup_dir: Path) -> None:
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    files = set(manifest["files"])
    assert {"chain/ledger/data.mdb", "scf.db", "transactions.db", "deployment.json",
            "node.json", "keys/governor.json", "operator-api-key"} <= files  # fmt: skip
    assert not {"ledger.lock", "node.run.json"} & files  # the running process's, not data
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert manifest["head_block"] > 0


def test_restore_verifies_starts_and_holds_every_acknowledged_write(
    backup_dir: Path, tmp_path: Path
) -> None:
    restored = NodeHome(tmp_path / "restored")
    invoke("restore", str(backup_dir), "--home", str(restored.path))
    out = invoke("verify", "--home", str(restored.path)).output
    assert "Verified" in said(out)

    acknowledged = json.loads((backup_dir.parent / "acknowledged.json").read_text())
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    with connected(restored) as connection:
        assert connection.ledger.block_number() == manifest["head_block"]
        for tx_hash in acknowledged:
            receipt = connection.ledger.get_transaction_receipt(bytes.fromhex(tx_hash))
            assert receipt is not None, tx_hash
            assert receipt["status"] == 1, tx_hash

    port, api_port, read_port = free_ports(3)
    proc = _start(restored.path, port, api_port, read_port)
    try:
        w3 = _wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        _wait_for_api(f"http://127.0.0.1:{api_port}", proc)
        assert w3.eth.block_number >= manifest["head_block"]
    finally:
        out = _stop(proc)
    assert "Initializing" not in out


def test_restore_refuses_a_home_that_is_not_empty(backup_dir: Path, tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    out = invoke("restore", str(backup_dir), "--home", str(occupied), code=1).output
    assert "is not empty; restore only into a new or empty home" in said(out)
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]


def test_restore_refuses_a_backup_that_does_not_match_its_manifest(
    backup_dir: Path, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(backup_dir, tampered)
    settings = json.loads((tampered / "node.json").read_text())
    (tampered / "node.json").write_text(json.dumps({**settings, "chain_id": 1}))
    target = tmp_path / "home"
    out = invoke("restore", str(tampered), "--home", str(target), code=1).output
    assert "node.json in" in said(out)
    assert "does not match the manifest" in said(out)
    assert not target.exists()

    extra = tmp_path / "extra"
    shutil.copytree(backup_dir, extra)
    (extra / "keys" / "intruder.json").write_text("{}")
    out = invoke("restore", str(extra), "--home", str(target), code=1).output
    assert "not listed ['keys/intruder.json']" in said(out)

    out = invoke("restore", str(tmp_path), "--home", str(target), code=1).output
    assert "is not a backup: no manifest.json" in said(out)
    assert not target.exists()


def test_backup_refuses_a_directory_that_is_not_empty(
    node: tuple[NodeHome, str], backup_dir: Path
) -> None:
    home, _ = node
    out = invoke("backup", str(backup_dir), "--home", str(home.path), code=1).output
    assert "is not empty; back up into a new directory" in said(out)
