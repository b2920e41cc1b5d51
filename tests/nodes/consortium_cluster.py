"""A consortium of institutions on loopback, as an operator builds it: three etcd members,
``scf-node init --consortium`` at the founding institution, ``scf-node join`` at the
others (certificate request signed by the founder, node added by a committee vote), each
home served by its own ``scf-node start`` process; a learner follows.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from web3 import Web3

from nodes.runtime.ports import free_ports
from tests.chain.consortium.etcd_cluster import EtcdCluster

RETAIN_BLOCKS = 12  # etcd's window in the test network: small, so nodes outrun it
START_TIMEOUT = 180.0  # seconds for a node to answer /healthz on a busy 2-core machine
WAIT = 90.0
_CLI_ENV = {
    k: v for k, v in os.environ.items() if k not in ("SCF_PASSPHRASE", "SCF_DATABASE_URL")
} | {"COLUMNS": "200"}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)  # poll interval, bounded by the deadline
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        env=_CLI_ENV,
        timeout=600,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"scf-node {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


@dataclass
class Institution:
    name: str
    home: Path
    rpc_port: int
    api_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_file(self) -> Path:
        return self.home.parent / f"{self.name}.log"

    def start(self) -> None:
        self._serve_documents()
        command = [sys.executable, "-m", "nodes", "start", "--home", str(self.home), "--dev"]
        command += ["--rpc-port", str(self.rpc_port), "--api-port", str(self.api_port)]
        command += ["--no-read-replica", "--cpus", "off"]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=_CLI_ENV
            )
        wait_for(self._healthy, f"{self.name} to answer /healthz", START_TIMEOUT)

    def _serve_documents(self) -> None:
        """Name the home's endpoint for private documents from other institutions in its
        node.json (once: it keeps its port across restarts)."""
        settings_file = self.home / "node.json"
        settings = json.loads(settings_file.read_text("utf-8"))
        if "documents" not in settings["consortium"]:
            (port,) = free_ports(1)
            settings["consortium"]["documents"] = {"listen": f"127.0.0.1:{port}"}
            settings_file.write_text(json.dumps(settings, indent=2), "utf-8")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9 of scf-node start; its ledger child dies with it (PDEATHSIG)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def log_tail(self) -> str:
        return self.log_file.read_text("utf-8", "replace")[-3000:]

    def rpc(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(self.rpc_url, json=body, timeout=10).json()
        if "error" in answer:
            raise AssertionError(f"{self.name} {method}: {answer['error']}")
        return answer["result"]

    def consortium(self) -> dict[str, Any]:
        found: dict[str, Any] = self.rpc("scf_consortium", "brief")
        return found

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, number: int) -> tuple[str, str]:
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return block["hash"], block["stateRoot"]


@dataclass
class Member:
    id: int
    home: Institution
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = self.auth | ({"Idempotency-Key": key} if key else {})
        return httpx.post(f"{self.home.api_url}{path}", json=body, headers=headers, timeout=120)

    def get(self, path: str, via: Institution | None = None) -> httpx.Response:
        node = via or self.home
        return httpx.get(f"{node.api_url}{path}", headers=self.auth, timeout=30)


def _retain(home: Path) -> None:
    """Keep only ``RETAIN_BLOCKS`` in etcd while this node mints (``node.json``)."""
    settings = json.loads((home / "node.json").read_text())
    settings["consortium"]["retain_blocks"] = RETAIN_BLOCKS
    (home / "node.json").write_text(json.dumps(settings))


def _institution(directory: Path, name: str) -> Institution:
    rpc_port, api_port = free_ports(2)
    return Institution(name, directory / name, rpc_port, api_port)


_credit_serial = iter(range(10**6))


def credit_code() -> str:
    from chain.credit_code import make_credit_code

    return make_credit_code(f"9111{secrets.randbelow(10**4):04d}{next(_credit_serial):09d}")


@dataclass
class Cluster:
    directory: Path
    etcd: EtcdCluster = field(init=False)
    founder: Institution = field(init=False)
    validators: list[Institution] = field(default_factory=list)
    learner: Institution = field(init=False)

    def __post_init__(self) -> None:
        self.etcd = EtcdCluster(3, self.directory / "etcd")
        self.endpoints = ",".join(self.etcd.endpoints)
        self.chain_id = 20_000 + secrets.randbelow(2**30)
        self.founder = _institution(self.directory, "founder")
        cli(
            "init",
            "--home",
            str(self.founder.home),
            "--dev",
            "--consortium",
            "--etcd",
            self.endpoints,
            "--chain-id",
            str(self.chain_id),
            "--advertise-rpc-url",
            self.founder.rpc_url,
        )
        self.descriptor = self.founder.home / "network.json"
        _retain(self.founder.home)
        self.founder.start()
        self.validators = [self.founder]
        for name in ("bank", "supplier"):
            self.validators.append(self.join(name))
        self.learner = self.join("regulator", learner=True)

    def join(self, name: str, *, learner: bool = False) -> Institution:
        node = _institution(self.directory, name)
        joined = cli_json(
            "join",
            "--home",
            str(node.home),
            "--descriptor",
            str(self.descriptor),
            "--etcd",
            self.endpoints,
            "--advertise-rpc-url",
            node.rpc_url,
            *(["--learner"] if learner else []),
        )
        certificate = self.directory / f"{name}.pem"
        cli(
            "node", "certify", joined["certificate_request"], "--out", str(certificate),
            "--name", name, "--home", str(self.founder.home),
        )  # fmt: skip
        cli("node", "install-certificate", str(certificate), "--home", str(node.home))
        if not learner:
            cli(
                "node", "propose-add", "--public-key", joined["public_key"], "--owner", "1",
                "--endpoint", node.rpc_url, "--home", str(self.founder.home),
            )  # fmt: skip
        _retain(node.home)
        node.start()
        return node

    @property
    def nodes(self) -> list[Institution]:
        return [*self.validators, self.learner]

    def admit(self, at: Institution, role: str) -> Member:
        """A member whose key ``at`` holds, admitted by the founder's governor."""
        account = cli_json("member", "new-account", "--home", str(at.home))["account"]
        outcome = cli_json(
            "member", "propose-admit", "--name", f"{role} at {at.name}",
            "--credit-code", credit_code(), "--role", role, "--account", account,
            "--home", str(self.founder.home),
        )  # fmt: skip
        return self.member(outcome["member_id"], at)

    def member(self, member_id: int, at: Institution) -> Member:
        """An API key for ``member_id`` at ``at`` (a member may read through any node)."""
        issued = cli_json("member", "api-key", str(member_id), "--home", str(at.home))
        return Member(member_id, at, issued["key"])

    def faucet_transfer(self, through: Institution) -> None:
        """A development faucet transfer sent through ``through``, waited for."""
        from eth_account import Account

        from chain.backends.embedded import DEV_FAUCET_KEY

        faucet = Account.from_key(DEV_FAUCET_KEY)
        nonce = int(through.rpc("eth_getTransactionCount", faucet.address, "pending"), 16)
        transfer = faucet.sign_transaction(
            {
                "to": Web3.to_checksum_address("0x" + "cd" * 20),
                "value": 1,
                "gas": 21_000,
                "nonce": nonce,
                "chainId": self.chain_id,
                "maxFeePerGas": int(through.rpc("eth_gasPrice"), 16),
                "maxPriorityFeePerGas": 0,
            }
        )
        tx_hash = through.rpc("eth_sendRawTransaction", Web3.to_hex(transfer.raw_transaction))
        wait_for(lambda: through.rpc("eth_getTransactionReceipt", tx_hash), "the faucet transfer")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.etcd.stop()


def invoice(buyer_id: int, document_hash: str, number: int, amount: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "invoice_code": "5100231130",
        "invoice_number": f"{number:08d}",
        "buyer_id": buyer_id,
        "amount": amount,
        "issue_date": (today - timedelta(days=1)).isoformat(),
        "due_date": (today + timedelta(days=90)).isoformat(),
        "document_hash": document_hash,
    }
