"""The ledger process of ``scf-node start``: it serves, stops cleanly, dies with its
parent, and never shares its store with a second ledger process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY
from chain.backends.scf_node import ScfNodeLedger
from chain.embedded.calls import DEFAULT_MAX_CALL_GAS, DEFAULT_MAX_CALL_SECONDS
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from chain.errors import LedgerError, TransactionRefused
from nodes.home import NodeHome
from nodes.runtime import ledger_process
from nodes.runtime.ledger_process import LedgerProcessFailed, spawn_ledger
from tests.nodes.test_cli_governance import init_dev_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(Path(tmp_path_factory.mktemp("ledger-home")))


def _gone(pid: int, within: float = 15.0) -> bool:
    """Whether ``pid`` ended (a zombie no one reaped yet counts: it runs nothing)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_serves_json_rpc_and_stops_in_order(home: NodeHome) -> None:
    child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
    try:
        ledger = ScfNodeLedger(child.url)
        assert ledger.chain_id == home.read_settings()["chain_id"]
        head = ledger.block_number()
        ledger.mine()  # a dev node: evm_mine
        assert ledger.block_number() == head + 1
        ledger.close()
    finally:
        child.stop()
    assert child.process.returncode == 0  # SIGTERM: sealed and closed, not killed


def test_a_second_ledger_process_is_refused(
    home: NodeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_process, "LOCK_WAIT", 0.3)
    child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
    try:
        with pytest.raises(LedgerProcessFailed, match="another ledger process"):  # noqa: SIM117
            with ledger_process._store_lock(home):
                pass
    finally:
        child.stop()
    with ledger_process._store_lock(home):  # free again once it stopped
        pass


# The ledger process run by hand, saying at its exit which modules it had loaded.
LOADED_AT_EXIT = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), flush=True))
from nodes.runtime.ledger_process import main
main()
"""
# What a single node's ledger process, which serves JSON-RPC and signs nothing, never
# needs: eth-account's keystore module alone builds py_ecc's BLS curves (0.4-0.6 s of CPU).
NOT_IN_THE_LEDGER = ("web3", "eth_account", "eth_keyfile", "fastapi", "sqlalchemy", "api")


def test_a_single_nodes_ledger_process_loads_neither_web3_nor_the_api(home: NodeHome) -> None:
    read_end, write_end = os.pipe()
    arguments = ["--home", str(home.path), "--port", "0", "--dev", "--ready-fd", str(write_end)]
    child = subprocess.Popen(
        [sys.executable, "-c", LOADED_AT_EXIT, *arguments],
        pass_fds=(write_end,),
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as ready:
            port = json.loads(ready.readline())["port"]
        ledger = ScfNodeLedger(f"http://127.0.0.1:{port}")
        ledger.fund("0x" + "77" * 20, 1)  # a transaction past the members-only admission
        assert ledger.get_balance("0x" + "77" * 20) >= 1
        ledger.close()
    finally:
        child.terminate()
        out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "chain.embedded.permissions" in loaded  # the home's deployment admits members only
    assert sorted(name for name in NOT_IN_THE_LEDGER if name in loaded) == []


def test_the_ledger_dies_with_its_parent(home: NodeHome, tmp_path: Path) -> None:
    parent_script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from nodes.home import NodeHome
        from nodes.runtime.ledger_process import spawn_ledger
        home = NodeHome(Path({str(home.path)!r}))
        child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
        print(child.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)  # a crash: no chance to stop the child
    parent.wait()
    assert _gone(child_pid), "the ledger process outlived its parent"


def test_the_block_window_comes_from_the_home(home: NodeHome) -> None:
    """A lone transaction waits the whole window for company before its block is built:
    with a window of 1.5 s its receipt cannot come sooner."""
    settings = home.read_settings()
    home.write_settings({**settings, "block_window_ms": 1500})
    try:
        child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
        try:
            ledger = ScfNodeLedger(child.url)
            sent = time.monotonic()
            ledger.fund("0x" + "77" * 20, 1)  # a faucet transfer, waited for
            assert time.monotonic() - sent >= 1.5
            ledger.close()
        finally:
            child.stop()
    finally:
        home.write_settings(settings)


@pytest.mark.parametrize("window", [-1, "10", True, None])
def test_a_bad_block_window_is_refused_before_the_child_starts(
    home: NodeHome, window: object
) -> None:
    settings = home.read_settings()
    home.write_settings({**settings, "block_window_ms": window})
    try:
        with pytest.raises(LedgerProcessFailed, match="block_window_ms"):
            spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
    finally:
        home.write_settings(settings)


def test_the_block_window_defaults_to_the_dedicated_process_value() -> None:
    assert ledger_process.block_window({}) == ledger_process.BLOCK_WINDOW_MS / 1000
    assert ledger_process.block_window({"block_window_ms": 0}) == 0.0
    assert ledger_process.block_window({"block_window_ms": 2.5}) == 0.0025


def test_the_transaction_gas_cap_comes_from_the_home(home: NodeHome) -> None:
    settings = home.read_settings()
    home.write_settings({**settings, "max_transaction_gas": 50_000})
    try:
        child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
        try:
            ledger = ScfNodeLedger(child.url)
            faucet = Signer.from_key(DEV_FAUCET_KEY)  # admitted on a --dev node
            tx = {"to": "0x" + "77" * 20, "value": 1, "chainId": ledger.chain_id}
            tx |= {"nonce": ledger.get_transaction_count(faucet.address), **ledger.fee_params()}
            raw, _ = faucet.sign_transaction({**tx, "gas": 50_001})
            with pytest.raises(TransactionRefused, match="per-transaction gas cap 50000"):
                ledger.send_raw_transaction(raw)
            raw, tx_hash = faucet.sign_transaction({**tx, "gas": 50_000})
            ledger.send_raw_transaction(raw)
            assert ledger.wait_for_transaction_receipt(tx_hash)["status"] == 1
            ledger.close()
        finally:
            child.stop()
    finally:
        home.write_settings(settings)


@pytest.mark.parametrize("cap", [20_999, 1_000_000_001, "10000000", True, None, 1e7])
def test_a_bad_gas_cap_is_refused_before_the_child_starts(home: NodeHome, cap: object) -> None:
    settings = home.read_settings()
    home.write_settings({**settings, "max_transaction_gas": cap})
    try:
        with pytest.raises(LedgerProcessFailed, match="max_transaction_gas"):
            spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
    finally:
        home.write_settings(settings)


def test_the_gas_cap_defaults_to_the_node_default() -> None:
    assert ledger_process.max_transaction_gas({}) == DEFAULT_MAX_TRANSACTION_GAS


def test_the_call_limits_come_from_the_home(home: NodeHome) -> None:
    settings = home.read_settings()
    home.write_settings({**settings, "max_call_gas": 60_000, "max_call_seconds": 2})
    try:
        child = spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
        try:
            ledger = ScfNodeLedger(child.url)
            loop = {"data": "0x5b600056", "gas": hex(10**9)}  # initcode: JUMP to 0 for ever
            with pytest.raises(LedgerError) as ran_out:
                ledger._request("eth_call", [loop, "latest"])
            assert ran_out.value.details["rpc_message"] == "out of gas (the call had 60000)"
            assert ledger.block_number() >= 0  # and the node serves on
            ledger.close()
        finally:
            child.stop()
    finally:
        home.write_settings(settings)


@pytest.mark.parametrize(
    "limits",
    [{"max_call_gas": 20_000}, {"max_call_gas": "8000000"}, {"max_call_seconds": 0},
     {"max_call_seconds": 61}, {"max_call_seconds": "5"}],
)  # fmt: skip
def test_bad_call_limits_are_refused_before_the_child_starts(
    home: NodeHome, limits: dict[str, object]
) -> None:
    settings = home.read_settings()
    home.write_settings({**settings, **limits})
    try:
        with pytest.raises(LedgerProcessFailed, match="max_call_gas/max_call_seconds"):
            spawn_ledger(home, dev=True, host="127.0.0.1", port=0)
    finally:
        home.write_settings(settings)


def test_the_call_limits_default_to_the_node_defaults() -> None:
    assert ledger_process.call_limits({}) == (DEFAULT_MAX_CALL_GAS, DEFAULT_MAX_CALL_SECONDS)


def test_a_taken_port_is_named_in_one_line_without_a_traceback(
    home: NodeHome, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(LedgerProcessFailed) as refused:
            spawn_ledger(home, dev=True, host="127.0.0.1", port=port)
    assert refused.value.message == (
        f"port {port} (JSON-RPC) on 127.0.0.1 is already in use: stop the program that uses "
        "it, or choose another port with --rpc-port"
    )
    assert "Traceback" not in capfd.readouterr().err
