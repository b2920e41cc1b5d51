"""`kill -9` of a node under sustained writes: every acknowledged transaction survives exactly
once, retries of the same idempotency keys after each restart never produce two transactions,
and `scf-node verify` passes on the ledger afterwards."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, cast

import pytest
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY
from chain.ledger import Web3Ledger
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from nodes.runtime.ports import free_ports

KILLS = 3
BATCH = 8  # transactions in flight per round trip of the writer


class Node:
    """`python -m nodes start --dev` as a subprocess, its output in a log file."""

    def __init__(self, home: Path, port: int, log: IO[str], api_port: int, read_port: int) -> None:
        self.home, self.port, self.log, self.api_port = home, port, log, api_port
        self.read_port = read_port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    @property
    def port_args(self) -> list[str]:
        ports = ["--rpc-port", str(self.port), "--api-port", str(self.api_port)]
        return [*ports, "--read-port", str(self.read_port)]

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
    """Value transfers from the dev faucet through a transaction manager, each under its own
    idempotency key and to its own recipient (so a key sent twice would pay twice).

    Records a transfer only once its receipt came back. When the node is gone it waits for
    ``up``, opens a new transaction manager over the same store, as a restarted API would,
    re-sends what is unconfirmed and retries the keys it has no receipt for.
    """

    def __init__(self, url: str, up: threading.Event, store: TxStore) -> None:
        super().__init__(name="writer", daemon=True)
        self.ledger = Web3Ledger(Web3(HTTPProvider(url, request_kwargs={"timeout": 5})))
        self.store = store
        self.up = up
        self.stop = threading.Event()
        self.acked: list[tuple[str, bytes]] = []  # (idempotency key, transaction hash)
        self.keys: list[str] = []  # every key ever submitted
        self.progress = threading.Condition()
        self.errors = 0
        self._faucet = Signer.from_key(DEV_FAUCET_KEY)

    def run(self) -> None:
        txm: TransactionManager | None = None
        batch: list[str] = []
        while not self.stop.is_set():
            try:
                if txm is None:
                    txm = TransactionManager(self.ledger, self.store, receipt_timeout=10)
                    txm.resend_unconfirmed()
                if not batch:
                    batch = [f"pay-{len(self.keys) + i}" for i in range(BATCH)]
                    self.keys.extend(batch)
                pending = [
                    txm.submit(
                        self._faucet,
                        recipient_of(key),
                        b"",
                        gas=21_000,
                        value=1,
                        idempotency_key=key,
                    )
                    for key in batch
                ]
                for key, sent in zip(batch, pending, strict=True):
                    assert txm.wait(sent)["status"] == 1
                    with self.progress:
                        self.acked.append((key, sent.tx_hash))
                        self.progress.notify_all()
                batch = []
            except Exception:
                self.errors += 1
                txm = None
                done = {key for key, _ in self.acked}
                batch = [key for key in batch if key not in done]  # the same keys again
                self.up.wait()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.acked) >= count, timeout), (
                f"only {len(self.acked)} of {count} transactions acknowledged in {timeout}s"
            )


def recipient_of(key: str) -> ChecksumAddress:
    return Web3.to_checksum_address(keccak(text=key)[:20])


@pytest.mark.slow
def test_kill_9_under_sustained_writes_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random()
    home = tmp_path / "home"
    store = TxStore(tmp_path / "client-transactions.sqlite")
    with (tmp_path / "node.log").open("w") as log:
        port, api_port, read_port = free_ports(3)
        node = Node(home, port, log, api_port=api_port, read_port=read_port)
        node.start()
        w3 = Web3(HTTPProvider(node.url))
        faucet = Signer.from_key(DEV_FAUCET_KEY).address
        nonce_before = w3.eth.get_transaction_count(faucet)
        up = threading.Event()
        up.set()
        writer = Writer(node.url, up, store)
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

        mined: Counter[bytes] = Counter()
        for number in range(w3.eth.block_number + 1):
            hashes = w3.eth.get_block(number)["transactions"]
            mined.update(bytes(cast(HexBytes, h)) for h in hashes)
        assert writer.errors >= KILLS  # the writer did see the node go away
        for key, tx_hash in list(writer.acked):
            assert mined[tx_hash] == 1, f"0x{tx_hash.hex()} is in {mined[tx_hash]} blocks"
            stored = store.by_key(key)
            assert stored is not None
            assert stored.tx_hash == tx_hash
        # No key produced two transfers (its recipient would hold 2), and every transfer the
        # faucet made belongs to one key.
        paid = [w3.eth.get_balance(recipient_of(key)) for key in writer.keys]
        assert max(paid) == 1
        assert w3.eth.get_transaction_count(faucet) - nonce_before == sum(paid)
        node.stop()
    store.close()

    verify = subprocess.run(
        [sys.executable, "-m", "nodes", "verify", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verified" in verify.stdout
