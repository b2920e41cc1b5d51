"""A consortium of institutions on this machine's loopback, as an operator builds one.

``LocalConsortium.found`` starts one etcd member per validator institution (Debian's
``etcd-server``, ``nodes.consortium.local_etcd``) on free 127.0.0.1 ports, makes the
first institution's home with ``scf-node init --consortium --dev`` and starts it; every
other institution is made by ``scf-node join`` from the network descriptor, gets its node
certificate from the founder's CA (``node certify`` of its request, ``node
install-certificate``), is added to the NodeRegistry by a committee vote (``node
propose-add`` on the founder's home) unless it is a learner, and started. ``join`` adds
one more institution the same way to a running consortium. ``init`` and ``join`` run as
the operator's commands; the certificate and the governance steps (the vote, a member's
admission) do what those commands do, in this process: each command would spend seconds
of a busy machine starting up before a signature or a transaction of a moment. The
joining nodes start while the founder does, before their votes. Each ``scf-node start``
and each etcd member is a real subprocess, so a caller can kill -9 one
(``LocalNode.kill``) and start it again; ``stop`` ends them all.

The consortium describes itself in ``local-consortium.json`` in its directory and each
running node's pid in ``<name>.pid`` beside its home, so that another program can work
on it while it runs (``LocalConsortium.attach``: ``scf-node demo --consortium --cluster
DIR``, ``scf-node bench --consortium --cluster DIR``), kill and restart its nodes too.

Used by ``scf-node demo --consortium``, ``scf-node bench --consortium`` and the tests.
Everything is development mode (``--dev``: the well-known passphrase, time travel open on
the JSON-RPC): a rehearsal on one machine, not a production layout (docs/operations.md,
"Running a consortium", has the commands for real institutions).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from api.client import ScfClient
from nodes.consortium.local_etcd import LocalEtcd
from nodes.consortium.local_process import (
    STOP_TIMEOUT,
    LocalClusterError,
    Progress,
    alive,
    child_env,
    end,
    quiet,
    scf_node,
    scf_node_json,
    wait_until,
)
from nodes.runtime.ports import free_ports

if TYPE_CHECKING:  # the ledger's libraries load when a consortium is built
    from chain.governance import Call
    from nodes.governor import Governor

NODE_START_TIMEOUT = 180.0  # seconds for a node to answer /healthz on a busy 2-core machine
CATCH_UP = 60.0  # seconds for a node's read model to hold the other nodes' last block
CLUSTER_FILE = "local-consortium.json"

__all__ = ["LocalClusterError", "LocalConsortium", "LocalNode", "NodeOptions"]


@dataclass(frozen=True)
class NodeOptions:
    """How every node of a local consortium is set up (its ``node.json``)."""

    # blocks etcd keeps while a node mints (None: ``chain.consortium.retention``'s
    # default); a small window lets a test's chain outrun it within seconds
    retain_blocks: int | None = None
    # each node serves private documents to the other institutions' nodes (ADR 22)
    documents: bool = False


# ---- scf-node --------------------------------------------------------------------------


@dataclass(eq=False)  # a node is itself: compared and hashed by identity
class LocalNode:
    """One institution's ``scf-node start`` on loopback."""

    name: str
    home: Path
    rpc_port: int
    api_port: int
    learner: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

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
    def pid_file(self) -> Path:
        return self.home.parent / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The running ``scf-node start``'s pid, whoever started it; None when it is not
        running."""
        try:
            pid = int(self.pid_file.read_text("ascii"))
        except (OSError, ValueError):
            return None
        if self.process is not None and self.process.pid == pid:
            return pid if self.process.poll() is None else None
        return pid if alive(pid) else None

    @property
    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = NODE_START_TIMEOUT) -> None:
        self.launch()
        self.wait_healthy(timeout)

    def launch(self) -> None:
        """Start ``scf-node start`` without waiting for it (``wait_healthy``)."""
        if self.running:
            raise LocalClusterError(f"{self.name}'s node is running already")
        command = [sys.executable, "-m", "nodes", "start", "--home", str(self.home), "--dev"]
        command += ["--rpc-port", str(self.rpc_port), "--api-port", str(self.api_port)]
        # the nodes share the machine: no read replica, no pinning to a CPU of its own
        command += ["--no-read-replica", "--cpus", "off"]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=child_env()
            )
        self.pid_file.write_text(str(self.process.pid), "ascii")

    def wait_healthy(self, timeout: float = NODE_START_TIMEOUT) -> None:
        wait_until(self._healthy, f"{self.name}'s node to answer /healthz", timeout)

    def _healthy(self) -> bool:
        if not self.running:
            self._forget()
            raise LocalClusterError(f"{self.name}'s node exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9 of ``scf-node start``; its ledger process dies with it (PDEATHSIG)."""
        pid = self.pid()
        if pid is not None and not end(pid, signal.SIGKILL, STOP_TIMEOUT):
            raise LocalClusterError(f"{self.name}'s node {pid} outlived kill -9")
        self._forget()

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None and not end(pid, signal.SIGINT, STOP_TIMEOUT):
            end(pid, signal.SIGKILL, STOP_TIMEOUT)
        self._forget()

    def _forget(self) -> None:
        if self.process is not None:  # collect it (it has ended)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
            self.process = None
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self) -> str:
        return self.log_file.read_text("utf-8", "replace")[-3000:]

    def rpc(self, method: str, *params: Any, timeout: float = 30) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(self.rpc_url, json=body, timeout=timeout).json()
        if "error" in answer:
            raise LocalClusterError(f"{self.name} {method}: {answer['error'].get('message')}")
        return answer["result"]

    def consortium(self) -> dict[str, Any]:
        """The node's view of the cluster (``scf_consortium brief``: role, minter, …)."""
        found: dict[str, Any] = self.rpc("scf_consortium", "brief", timeout=10)
        return found

    def role(self) -> str | None:
        """minter, verifier, learner or halted; None when the node does not answer."""
        if not self.running:
            return None
        try:
            return str(self.consortium()["role"])
        except (httpx.HTTPError, LocalClusterError, ValueError):
            return None

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, number: int) -> tuple[str, str]:
        """The block's hash and state root at ``number``."""
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return str(block["hash"]), str(block["stateRoot"])

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rpc_port": self.rpc_port,
            "api_port": self.api_port,
            "learner": self.learner,
        }


# ---- the consortium --------------------------------------------------------------------


@dataclass
class LocalConsortium:
    directory: Path
    etcd: LocalEtcd
    nodes: list[LocalNode]
    chain_id: int
    options: NodeOptions = field(default_factory=NodeOptions)

    @property
    def founder(self) -> LocalNode:
        return self.nodes[0]

    @property
    def validators(self) -> list[LocalNode]:
        return [node for node in self.nodes if not node.learner]

    @property
    def descriptor(self) -> Path:
        return self.founder.home / "network.json"

    @classmethod
    @contextmanager
    def running(
        cls,
        directory: Path,
        names: Sequence[str],
        progress: Progress = quiet,
        **found: Any,
    ) -> Iterator[LocalConsortium]:
        """``found``, and ``stop`` on the way out, whatever happens."""
        consortium = cls.found(directory, names, progress, **found)
        try:
            yield consortium
        finally:
            progress("stopping the consortium")
            consortium.stop()

    @classmethod
    def found(
        cls,
        directory: Path,
        names: Sequence[str],
        progress: Progress = quiet,
        *,
        learners: Sequence[str] = (),
        options: NodeOptions | None = None,
    ) -> LocalConsortium:
        """Validator institutions ``names`` (the first founds the network, each runs an
        etcd member) and learner institutions ``learners``."""
        everyone = [*names, *learners]
        if len(names) < 1 or len(set(everyone)) != len(everyone):
            raise LocalClusterError(f"institutions need distinct names, got {everyone}")
        progress(f"starting {len(names)} etcd members")
        etcd = LocalEtcd.start(directory / "etcd", [f"etcd-{name}" for name in names])
        chain_id = 20_000 + secrets.randbelow(2**30)
        consortium = cls(directory, etcd, [], chain_id, options or NodeOptions())
        try:
            consortium._found(names, learners, progress)
        except BaseException:
            consortium.stop()
            raise
        return consortium

    def _found(self, names: Sequence[str], learners: Sequence[str], progress: Progress) -> None:
        founder = self._new_node(names[0], learner=False)
        progress(f"{founder.name}: scf-node init --consortium")
        scf_node(
            "init", "--home", str(founder.home), "--dev", "--consortium",
            "--etcd", self.etcd.endpoints, "--chain-id", str(self.chain_id),
            "--advertise-rpc-url", founder.rpc_url,
        )  # fmt: skip
        self._configure(founder)
        self.nodes.append(founder)  # before it starts: ``stop`` ends it
        self.save()
        progress(f"{founder.name}: starting its node; the others join meanwhile")
        founder.launch()
        joining = [(name, False) for name in names[1:]] + [(name, True) for name in learners]
        made: dict[str, tuple[LocalNode, str]] = {}

        def make(name: str, learner: bool) -> None:
            node, public_key = self._make_home(name, learner, progress)
            # it starts at once: it follows the log as a learner until its vote passes
            # (``chain.consortium.replica`` looks at the allow-list again every lease TTL)
            node.launch()
            made[name] = (node, public_key)

        # each institution's join and its node's start wait on their own processes: side
        # by side, while the founder starts
        try:
            with ThreadPoolExecutor(max(1, len(joining))) as pool:
                list(pool.map(lambda joiner: make(*joiner), joining))
        finally:
            self.nodes += [made[name][0] for name, _ in joining if name in made]  # in order
            self.save()
        founder.wait_healthy()
        with self._governor() as governor:
            for node, public_key in made.values():
                if not node.learner:  # the committee's votes, one after the other
                    progress(f"{node.name}: committee vote to allow its node")
                    self._vote_in(governor, node, public_key)
        progress(f"waiting for the nodes of {', '.join(made)}")
        for node, _ in made.values():
            node.wait_healthy()

    def join(self, name: str, *, learner: bool = False, progress: Progress = quiet) -> LocalNode:
        """One more institution joins the running consortium (a committee vote allows its
        node unless it is a ``learner``) and starts its node."""
        node, public_key = self._make_home(name, learner, progress)
        if not learner:
            with self._governor() as governor:
                self._vote_in(governor, node, public_key)
        self.nodes.append(node)
        self.save()
        node.start()
        return node

    @classmethod
    def attach(cls, directory: Path) -> LocalConsortium:
        """The local consortium that ``found`` brought up in ``directory`` (and that may
        still run in another program): its nodes can be killed and started from here."""
        try:
            saved = json.loads((directory / CLUSTER_FILE).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise LocalClusterError(f"{directory} holds no local consortium: {exc}") from None
        etcd = LocalEtcd.of(
            directory / "etcd",
            [(m["name"], m["client_port"], m["peer_port"]) for m in saved["etcd"]],
        )
        nodes = [
            LocalNode(n["name"], directory / n["name"], n["rpc_port"], n["api_port"], n["learner"])
            for n in saved["nodes"]
        ]
        options = NodeOptions(**saved["options"])
        consortium = cls(directory, etcd, nodes, int(saved["chain_id"]), options)
        if not any(node.running for node in nodes):
            raise LocalClusterError(f"no node of the local consortium in {directory} runs")
        return consortium

    def save(self) -> None:
        """Describe the consortium in its directory (``attach`` reads it)."""
        described = {
            "chain_id": self.chain_id,
            "etcd": [member.as_json() for member in self.etcd.members],
            "nodes": [node.as_json() for node in self.nodes],
            "options": {
                "retain_blocks": self.options.retain_blocks,
                "documents": self.options.documents,
            },
        }
        path = self.directory / CLUSTER_FILE
        path.write_text(json.dumps(described, indent=2) + "\n", "utf-8")

    def contract(self, name: str) -> str:
        """A contract's address, from the network descriptor."""
        descriptor = json.loads(self.descriptor.read_text("utf-8"))
        return str(descriptor["contracts"][name])

    def _new_node(self, name: str, learner: bool) -> LocalNode:
        rpc_port, api_port = free_ports(2)
        return LocalNode(name, self.directory / name, rpc_port, api_port, learner)

    def _make_home(
        self, name: str, learner: bool, progress: Progress = quiet
    ) -> tuple[LocalNode, str]:
        """``name``'s home, by ``scf-node join``, with its node certificate; its node's
        public key (not started, not yet allowed)."""
        node = self._new_node(name, learner)
        progress(f"{name}: scf-node join (replays and verifies the log)")
        joined = scf_node_json(
            "join", "--home", str(node.home), "--descriptor", str(self.descriptor),
            "--etcd", self.etcd.endpoints, "--advertise-rpc-url", node.rpc_url,
            *(["--learner"] if learner else []),
        )  # fmt: skip
        progress(f"{name}: node certificate from the consortium CA")
        # ``scf-node node certify`` on the founder's home and ``node install-certificate``
        # on the new one, in this process (no process start-up for a signature each)
        from nodes.consortium.certificates import certify, install
        from nodes.home import DEV_PASSPHRASE, NodeHome

        request = Path(joined["certificate_request"]).read_bytes()
        founder = NodeHome(self.founder.home)
        certificate = certify(founder, DEV_PASSPHRASE, request, name, [])
        (self.directory / f"{name}.pem").write_bytes(certificate)
        install(NodeHome(node.home), DEV_PASSPHRASE, certificate)
        self._configure(node)
        return node, str(joined["public_key"])

    @contextmanager
    def _governor(self) -> Iterator[Governor]:
        """The founder's governor (in development the whole committee) in this process:
        what a governance command on the founder's home (``scf-node member propose-admit``,
        ``node propose-add``) does, without the seconds of a process's start-up each."""
        from nodes.connect import connected
        from nodes.governor import Governor, load_signer
        from nodes.home import DEV_PASSPHRASE, NodeHome

        founder = NodeHome(self.founder.home)
        signer = load_signer(founder, None, DEV_PASSPHRASE)
        with (
            connected(founder) as connection,
            Governor.of(connection, signer, DEV_PASSPHRASE) as governor,
        ):
            yield governor

    @staticmethod
    def _enact(governor: Governor, calls: list[Call], description: str) -> None:
        """Propose ``calls``; executed at once by the development committee."""
        from chain.governance import execution_failure

        proposal_id, receipt = governor.propose(calls, description)
        failure = execution_failure(governor.governance, receipt)
        if failure is not None:
            raise LocalClusterError(f"proposal {proposal_id} ({description}): {failure.message}")

    def _vote_in(self, governor: Governor, node: LocalNode, public_key: str) -> None:
        """The committee's vote adding ``node`` to the NodeRegistry (owner: member 1)."""
        registry = governor.connection.consortium.nodes
        key = bytes.fromhex(public_key.removeprefix("0x"))
        calls: list[Call] = [(registry, "addNode", (key, 1, node.rpc_url))]
        self._enact(governor, calls, f"Add node {node.rpc_url}")

    def _configure(self, node: LocalNode) -> None:
        """``options`` in the node's ``node.json``, before it first starts."""
        path = node.home / "node.json"
        settings = json.loads(path.read_text("utf-8"))
        if self.options.retain_blocks is not None:
            settings["consortium"]["retain_blocks"] = self.options.retain_blocks
        if self.options.documents:
            (port,) = free_ports(1)
            settings["consortium"]["documents"] = {"listen": f"127.0.0.1:{port}"}
        path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", "utf-8")

    # ---- members -------------------------------------------------------------------------
    def admit(self, at: LocalNode, name: str, credit_code: str, roles: Sequence[str]) -> int:
        """Admit a member whose signing key ``at``'s node holds, by the founder's governor
        (in development it is the whole committee); the member id.

        What ``scf-node member new-account`` on ``at``'s home and ``scf-node member
        propose-admit --account`` on the founder's do, in this process: each command's
        start-up (seconds of imports on a busy machine) is paid once, not per member."""
        from api.services.custody import Custody
        from chain.deploy import MemberSpec
        from chain.roles import Role
        from nodes.home import DEV_PASSPHRASE

        account = Custody(at.home / "keys" / "accounts", DEV_PASSPHRASE).create_account()
        spec = MemberSpec(name, credit_code, [Role(role) for role in roles], account.address)
        with self._governor() as governor:
            members = governor.connection.consortium.members
            self._enact(governor, [(members, "admitMember", spec.admit_args())], f"Admit {name}")
            # a consortium node may answer a read from the block before the receipt's
            member_id: int = wait_until(
                lambda: int(members.call("memberOf", account.address)),
                f"{name} admitted (executed at once by the development committee)",
                CATCH_UP,
            )
        return member_id

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
        """Stop every node (side by side: each takes a moment to close), then etcd."""
        with ThreadPoolExecutor(max(1, len(self.nodes))) as pool:
            list(pool.map(LocalNode.stop, self.nodes))
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


# ---- a consortium kept running, for ``--cluster DIR`` ------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m nodes.consortium.local_cluster DIR [NAME ...]``: validator institutions
    (default: the demo's core, bank and suppliers) on loopback in the new directory DIR,
    running until Ctrl-C; ``scf-node demo --consortium --cluster DIR`` and ``scf-node
    bench --consortium --cluster DIR`` work on it meanwhile."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nodes.consortium.local_cluster")
    parser.add_argument("directory", type=Path)
    parser.add_argument("names", nargs="*", default=["core", "bank", "suppliers"])
    parser.add_argument("--learner", action="append", default=[], help="a learner's name")
    args = parser.parse_args(argv)
    if args.directory.exists() and any(args.directory.iterdir()):
        parser.error(f"{args.directory} is not empty")
    with LocalConsortium.running(
        args.directory, args.names, print, learners=args.learner
    ) as cluster:
        for node in cluster.nodes:
            print(f"{node.name}: REST API {node.api_url}, JSON-RPC {node.rpc_url}")
        print(f"running from {args.directory}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
