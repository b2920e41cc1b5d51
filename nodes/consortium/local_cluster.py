"""A consortium of institutions on this machine's loopback, as an operator builds one.

``LocalConsortium.found`` starts one etcd member per institution (Debian's
``etcd-server``) on free 127.0.0.1 ports, makes the first institution's home with
``scf-node init --consortium --dev`` and starts it; every other institution is made by
``scf-node join`` from the network descriptor, gets its node certificate from the
founder's CA (``node certify`` of its request, ``node install-certificate``), is added to
the NodeRegistry by a committee vote (``node propose-add`` on the founder's home) and
started. Each ``scf-node start`` and each etcd member is a real subprocess, so a caller
can kill -9 one (``LocalNode.kill``) and start it again; ``stop`` ends them all.

Used by ``scf-node demo --consortium`` and ``scf-node bench --consortium``. Everything is
development mode (``--dev``: the well-known passphrase, time travel open on the
JSON-RPC): a rehearsal on one machine, not a production layout (docs/operations.md,
"Running a consortium", has the commands for real institutions).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.client import ScfClient
from chain.errors import ScfError
from nodes.runtime.ports import free_ports

NODE_START_TIMEOUT = 180.0  # seconds for a node to answer /healthz on a busy 2-core machine
ETCD_START_TIMEOUT = 30.0
CLI_TIMEOUT = 600.0
STOP_TIMEOUT = 60.0
CATCH_UP = 60.0  # seconds for a node's read model to hold the other nodes' last block
POLL = 0.1  # seconds between looks at something that is starting

Progress = Callable[[str], None]


class LocalClusterError(ScfError):
    code = "local_cluster_failed"


def _quiet(_message: str) -> None:
    """No progress report."""


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if found is None:
        raise LocalClusterError("etcd is not installed: apt-get install etcd-server")
    return found


def _child_env() -> dict[str, str]:
    """The CLI's environment: a dev home's passphrase and its own SQLite read model, not
    whatever this shell sets for another node."""
    drop = ("SCF_PASSPHRASE", "SCF_DATABASE_URL")
    return {k: v for k, v in os.environ.items() if k not in drop} | {"COLUMNS": "200"}


def scf_node(*args: str) -> str:
    """Run ``scf-node ARGS`` as its own process; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise LocalClusterError(
            f"scf-node {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def scf_node_json(*args: str) -> Any:
    return json.loads(scf_node(*args, "--json"))


def wait_until(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(POLL)  # bounded by the deadline
    raise LocalClusterError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- etcd ------------------------------------------------------------------------------


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_file.read_text("utf-8", "replace")[-2000:]
            raise LocalClusterError(f"etcd {self.name} exited:\n{tail}")
        try:
            answer = httpx.get(f"{self.client_url}/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("health") == "true"


@dataclass
class LocalEtcd:
    """``size`` etcd members forming one new cluster, data under ``directory``."""

    directory: Path
    members: list[EtcdMember] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, names: Sequence[str]) -> LocalEtcd:
        binary = etcd_binary()
        directory.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * len(names))
        etcd = cls(directory)
        for index, name in enumerate(names):
            etcd.members.append(
                EtcdMember(
                    name,
                    ports[2 * index],
                    ports[2 * index + 1],
                    directory / name,
                    directory / f"{name}.log",
                )
            )
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in etcd.members)
        token = f"scf-local-{secrets.token_hex(4)}"
        try:
            for member in etcd.members:
                command = [
                    binary,
                    f"--name={member.name}",
                    f"--data-dir={member.data_dir}",
                    f"--listen-client-urls={member.client_url}",
                    f"--advertise-client-urls={member.client_url}",
                    f"--listen-peer-urls={member.peer_url}",
                    f"--initial-advertise-peer-urls={member.peer_url}",
                    f"--initial-cluster={cluster}",
                    "--initial-cluster-state=new",
                    f"--initial-cluster-token={token}",
                    "--logger=zap",
                    "--log-outputs=stderr",
                    "--log-level=warn",
                ]
                with member.log_file.open("ab") as log:
                    member.process = subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                    )
            for member in etcd.members:
                wait_until(member.healthy, f"etcd {member.name}", ETCD_START_TIMEOUT)
        except BaseException:
            etcd.stop()
            raise
        return etcd

    @property
    def endpoints(self) -> str:
        return ",".join(member.client_url for member in self.members)

    def stop(self) -> None:
        """kill -9: the data is thrown away with the directory, and a graceful stop of the
        leader waits seconds for a leadership transfer."""
        for member in self.members:
            if member.process is not None:
                member.process.kill()
                member.process.wait(STOP_TIMEOUT)
                member.process = None


# ---- scf-node --------------------------------------------------------------------------


@dataclass
class LocalNode:
    """One institution's ``scf-node start`` on loopback."""

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

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, timeout: float = NODE_START_TIMEOUT) -> None:
        self.launch()
        self.wait_healthy(timeout)

    def launch(self) -> None:
        """Start ``scf-node start`` without waiting for it (``wait_healthy``)."""
        command = [sys.executable, "-m", "nodes", "start", "--home", str(self.home), "--dev"]
        command += ["--rpc-port", str(self.rpc_port), "--api-port", str(self.api_port)]
        # three nodes share the machine: no read replica, no pinning to a CPU of its own
        command += ["--no-read-replica", "--cpus", "off"]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=_child_env()
            )

    def wait_healthy(self, timeout: float = NODE_START_TIMEOUT) -> None:
        wait_until(self._healthy, f"{self.name}'s node to answer /healthz", timeout)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            self.process = None
            raise LocalClusterError(f"{self.name}'s node exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9 of ``scf-node start``; its ledger process dies with it (PDEATHSIG)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def log_tail(self) -> str:
        return self.log_file.read_text("utf-8", "replace")[-3000:]

    def rpc(self, method: str, *params: Any, timeout: float = 30) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(self.rpc_url, json=body, timeout=timeout).json()
        if "error" in answer:
            raise LocalClusterError(f"{self.name} {method}: {answer['error'].get('message')}")
        return answer["result"]

    def role(self) -> str | None:
        """minter, verifier or learner; None when the node does not answer."""
        if self.process is None:
            return None
        try:
            return str(self.rpc("scf_consortium", "brief", timeout=5)["role"])
        except (httpx.HTTPError, LocalClusterError, ValueError):
            return None

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, number: int) -> tuple[str, str]:
        """The block's hash and state root at ``number``."""
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return str(block["hash"]), str(block["stateRoot"])


@dataclass
class LocalConsortium:
    directory: Path
    etcd: LocalEtcd
    nodes: list[LocalNode]
    chain_id: int

    @property
    def founder(self) -> LocalNode:
        return self.nodes[0]

    @property
    def descriptor(self) -> Path:
        return self.founder.home / "network.json"

    @classmethod
    @contextmanager
    def running(
        cls, directory: Path, names: Sequence[str], progress: Progress = _quiet
    ) -> Iterator[LocalConsortium]:
        """``found``, and ``stop`` on the way out, whatever happens."""
        consortium = cls.found(directory, names, progress)
        try:
            yield consortium
        finally:
            progress("stopping the consortium")
            consortium.stop()

    @classmethod
    def found(
        cls, directory: Path, names: Sequence[str], progress: Progress = _quiet
    ) -> LocalConsortium:
        """Institutions ``names`` (the first founds the network), every one a validator."""
        if len(names) < 1 or len(set(names)) != len(names):
            raise LocalClusterError(f"institutions need distinct names, got {list(names)}")
        progress(f"starting {len(names)} etcd members")
        etcd = LocalEtcd.start(directory / "etcd", [f"etcd-{name}" for name in names])
        consortium = cls(directory, etcd, [], 20_000 + secrets.randbelow(2**30))
        try:
            founder = consortium._new_node(names[0])
            progress(f"{founder.name}: scf-node init --consortium")
            scf_node(
                "init", "--home", str(founder.home), "--dev", "--consortium",
                "--etcd", etcd.endpoints, "--chain-id", str(consortium.chain_id),
                "--advertise-rpc-url", founder.rpc_url,
            )  # fmt: skip
            consortium.nodes.append(founder)  # before it starts: ``stop`` ends it
            progress(f"{founder.name}: starting its node")
            founder.start()
            for name in names[1:]:
                consortium._join(name, progress)
            joined = consortium.nodes[1:]
            progress(f"starting the nodes of {', '.join(n.name for n in joined)}")
            for node in joined:  # side by side: each start waits on its own work
                node.launch()
            for node in joined:
                node.wait_healthy()
        except BaseException:
            consortium.stop()
            raise
        return consortium

    def contract(self, name: str) -> str:
        """A contract's address, from the network descriptor."""
        descriptor = json.loads(self.descriptor.read_text("utf-8"))
        return str(descriptor["contracts"][name])

    def _new_node(self, name: str) -> LocalNode:
        rpc_port, api_port = free_ports(2)
        return LocalNode(name, self.directory / name, rpc_port, api_port)

    def _join(self, name: str, progress: Progress) -> None:
        """Make ``name``'s home and have its node allowed (started by ``found``)."""
        node = self._new_node(name)
        founder = str(self.founder.home)
        progress(f"{name}: scf-node join (replays and verifies the log)")
        joined = scf_node_json(
            "join", "--home", str(node.home), "--descriptor", str(self.descriptor),
            "--etcd", self.etcd.endpoints, "--advertise-rpc-url", node.rpc_url,
        )  # fmt: skip
        progress(f"{name}: node certificate from the consortium CA, committee vote")
        certificate = self.directory / f"{name}.pem"
        scf_node(
            "node", "certify", joined["certificate_request"], "--out", str(certificate),
            "--name", name, "--home", founder,
        )  # fmt: skip
        scf_node("node", "install-certificate", str(certificate), "--home", str(node.home))
        scf_node(
            "node", "propose-add", "--public-key", joined["public_key"], "--owner", "1",
            "--endpoint", node.rpc_url, "--home", founder,
        )  # fmt: skip
        self.nodes.append(node)

    # ---- members -------------------------------------------------------------------------
    def admit(self, at: LocalNode, name: str, credit_code: str, roles: Sequence[str]) -> int:
        """Admit a member whose signing key ``at``'s node holds, by the founder's governor
        (in development it is the whole committee); the member id."""
        from api.services.custody import Custody
        from nodes.home import DEV_PASSPHRASE

        # as ``scf-node member new-account`` on ``at``'s home, without a process's start-up
        account = Custody(at.home / "keys" / "accounts", DEV_PASSPHRASE).create_account()
        role_args = [arg for role in roles for arg in ("--role", role)]
        try:
            outcome = scf_node_json(
                "member", "propose-admit", "--name", name, "--credit-code", credit_code,
                *role_args, "--account", account.address, "--home", str(self.founder.home),
            )  # fmt: skip
        except LocalClusterError as exc:
            # the command reads the proposal's state right after its receipt, and a
            # consortium node has answered that read from the block before (the receipt
            # was visible first): the admission executed all the same; look it up
            if "GovernanceProposalNotFound" not in str(exc):
                raise
            outcome = {"member_id": self._member_of(account.address)}
        if not outcome.get("member_id"):
            raise LocalClusterError(f"admitting {name} was not executed: {outcome}")
        return int(outcome["member_id"])

    def _member_of(self, account: str) -> int | None:
        members = scf_node_json("member", "list", "--home", str(self.founder.home))
        wanted = account.lower()
        return next(
            (int(m["id"]) for m in members if wanted in {a.lower() for a in m["accounts"]}), None
        )

    def api_key(self, member_id: int, at: LocalNode) -> str:
        """A new API key for ``member_id`` in ``at``'s read model, as ``scf-node member
        api-key`` issues it (a member reads through any node, writes through its own)."""
        from api.readmodel.database import make_engine, migrate, session_factory
        from api.services.api_keys import issue_key

        # the nodes run without SCF_DATABASE_URL (``_child_env``): the home's SQLite file
        engine = make_engine(f"sqlite:///{at.home / 'scf.db'}")
        try:
            migrate(engine)
            with session_factory(engine).begin() as session:
                return issue_key(session, member_id, label="local consortium").key
        finally:
            engine.dispose()

    # ---- the cluster ---------------------------------------------------------------------
    def minter(self) -> LocalNode | None:
        return next((n for n in self.nodes if n.role() == "minter"), None)

    def wait_for_minter(
        self, timeout: float, among: Sequence[LocalNode] | None = None
    ) -> LocalNode:
        candidates = list(among) if among is not None else self.nodes
        found: LocalNode = wait_until(
            lambda: next((n for n in candidates if n.role() == "minter"), None),
            "a minter",
            timeout,
        )
        return found

    def same_head(self, timeout: float = 120.0) -> tuple[int, set[tuple[str, str]]]:
        """The height every running node has reached, and each one's (hash, state root)
        there: one pair when they agree."""
        running = [n for n in self.nodes if n.running]

        def level() -> int | None:
            heads = [n.head() for n in running]
            return heads[0] if min(heads) == max(heads) else None

        height: int = wait_until(level, "every node at the same head", timeout)
        return height, {node.block(height) for node in running}

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.etcd.stop()


# ---- members' clients ----------------------------------------------------------------


class InstitutionClient(ScfClient):
    """A company's client of its institution's node. Before each request it waits until
    that node's read model holds every block any running node has: a write another
    institution's member just had answered 201 is then seen here, as a person at this
    institution would see it a moment later (the API reads its own node's read model)."""

    def __init__(self, node: LocalNode, cluster: LocalConsortium, api_key: str) -> None:
        super().__init__(node.api_url, api_key)
        self.node = node
        self.cluster = cluster

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        wait_until_indexed(self.node, self.cluster)
        return super().request(method, path, **kwargs)


def indexed_block(node: LocalNode) -> int:
    """The last block ``node``'s read model holds (its /metrics: head less indexer lag)."""
    try:
        text = httpx.get(f"{node.api_url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return -1  # busy or restarting: asked again
    gauges = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("scf_ledger_head_block", "scf_indexer_lag_blocks"):
            gauges[name] = int(float(value))
    if len(gauges) < 2:  # the ledger did not answer the metrics: asked again
        return -1
    return gauges["scf_ledger_head_block"] - gauges["scf_indexer_lag_blocks"]


def wait_until_indexed(node: LocalNode, cluster: LocalConsortium) -> None:
    heads = []
    for other in cluster.nodes:
        if other.running:
            with contextlib.suppress(httpx.HTTPError, LocalClusterError):
                heads.append(other.head())
    target = max(heads, default=0)
    wait_until(lambda: indexed_block(node) >= target, f"{node.name}'s read model", CATCH_UP)
