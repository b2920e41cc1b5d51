"""`kill -9` of a node under sustained writes: every acknowledged transaction survives exactly
once, and `scf-node verify` passes on the ledger afterwards."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, cast

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3

from chain.backends.embedded import DEV_FAUCET_KEY

KILLS = 3
BATCH = 8  # transactions in flight per round trip of the writer


class Node:
    """`python -m nodes start --dev` as a subprocess, its output in a log file."""

    def __init__(self, home: Path, port: int, log: IO[str], api_port: int) -> None:
        self.home, self.port, self.log, self.api_port = home, port, log, api_port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    @property
    def port_args(self) -> list[str]:
        return ["--rpc-port", str(self.port), "--api-port", str(self.api_port)]

    def start(self, timeout: float = 90.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nodes",
                "start",
                "--home",
                str(self.home),
                "--dev",
                *self.port_args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the node exited while starting"
            try:
                w3.eth.chain_id  # noqa: B018 - the probe
                return
            except Exception:
                time.sleep(0.1)
        raise AssertionError(f"JSON-RPC at {self.url} did not come up in {timeout}s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no chance to seal, flush or close anything
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=60) == 0


class Writer(threading.Thread):
    """Value transfers with explicit gas from the dev faucet, each to a fresh recipient.

    Records a transaction only once the node has returned its receipt. When the node
    is gone it waits for ``up`` and resynchronizes its nonce from the node.
    """

    def __init__(self, url: str, up: threading.Event) -> None:
        super().__init__(name="writer", daemon=True)
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 5}))
        self.up = up
        self.stop = threading.Event()
        self.acked: list[tuple[bytes, str]] = []
        self.progress = threading.Condition()
        self.errors = 0
        self._faucet = Account.from_key(DEV_FAUCET_KEY)

    def run(self) -> None:
        nonce: int | None = None
        while not self.stop.is_set():
            try:
                if nonce is None:
                    nonce = self.w3.eth.get_transaction_count(self._faucet.address, "pending")
                sent: list[tuple[bytes, str]] = []
                for _ in range(BATCH):
                    recipient = Account.create().address
                    signed = self._faucet.sign_transaction(
                        {
                            "to": recipient,
                            "value": 1,
                            "gas": 21_000,
                            "nonce": nonce,
                            "chainId": 8_888,
                            "maxFeePerGas": 0,
                            "maxPriorityFeePerGas": 0,
                        }
                    )
                    sent.append(
                        (bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction)), recipient)
                    )
                    nonce += 1
                for tx_hash, recipient in sent:
                    receipt = self.w3.eth.wait_for_transaction_receipt(
                        HexBytes(tx_hash), timeout=10, poll_latency=0.01
                    )
                    assert receipt["status"] == 1
                    with self.progress:
                        self.acked.append((tx_hash, recipient))
                        self.progress.notify_all()
            except Exception:
                self.errors += 1
                nonce = None
                self.up.wait()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.acked) >= count, timeout), (
                f"only {len(self.acked)} of {count} transactions acknowledged in {timeout}s"
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_kill_9_under_sustained_writes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random()
    home = tmp_path / "home"
    with (tmp_path / "node.log").open("w") as log:
        node = Node(home, _free_port(), log, api_port=_free_port())
        node.start()
        up = threading.Event()
        up.set()
        writer = Writer(node.url, up)
        writer.start()
        try:
            for _ in range(KILLS):
                writer.wait_for(len(writer.acked) + rng.randint(10, 60))
                time.sleep(rng.uniform(0, 0.05))  # a random point inside the next batch
                up.clear()
                node.kill()
                node.start()
                up.set()
            writer.wait_for(len(writer.acked) + 20)
        finally:
            writer.stop.set()
            up.set()
            writer.join(timeout=30)

        w3 = Web3(HTTPProvider(node.url))
        mined: Counter[bytes] = Counter()
        for number in range(w3.eth.block_number + 1):
            hashes = w3.eth.get_block(number)["transactions"]
            mined.update(bytes(cast(HexBytes, h)) for h in hashes)
        acked = list(writer.acked)
        assert writer.errors >= KILLS  # the writer did see the node go away
        for tx_hash, recipient in acked:
            assert mined[tx_hash] == 1, f"0x{tx_hash.hex()} is in {mined[tx_hash]} blocks"
            assert w3.eth.get_balance(Web3.to_checksum_address(recipient)) == 1
        node.stop()

    verify = subprocess.run(
        [sys.executable, "-m", "nodes", "verify", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verified" in verify.stdout
