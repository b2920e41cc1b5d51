"""``scf-node demo --consortium``: the demo's story told across three institutions.

A consortium is brought up on loopback (``nodes.consortium.local_cluster``): three etcd
members and three institutions' nodes — the core enterprise's (it founds the network),
the bank's and the suppliers' (they join by descriptor, CSR and committee vote). Each
company's signing key stays on its own institution's node and each company acts through
that node only. The story is ``nodes.demo.Story``'s, figure by figure; before step 4 the
minter's node is killed (kill -9), the story goes on through the surviving nodes once
another validator mints, and the killed node is started again (it catches up from the
log) before anyone of its institution acts again. Last, every node must hold the same
head block (hash and state root) and every company's figures read through every node's
read model must be the same. Any difference is a ``DemoMismatch``: the command fails.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api.client import ScfClient
from api.money import format_amount
from chain.credit_code import make_credit_code
from nodes.consortium.local_cluster import (
    InstitutionClient,
    LocalClusterError,
    LocalConsortium,
    LocalNode,
)
from nodes.demo import CAST, Actor, DemoMismatch, Endpoints, PortalSignIn, Story

# where each company of the cast keeps its key and sends its requests
INSTITUTIONS = ("core", "bank", "suppliers")
HOME_OF = {"maker": "core", "bank": "bank", "tier1": "suppliers", "tier2": "suppliers"}
HOME_OF["tier3"] = "suppliers"
FAILOVER_TIMEOUT = 60.0  # seconds for another validator to mint after the kill
BALANCE_OF = "0x70a08231"  # balanceOf(address)
READ_MODEL_TIMEOUT = 60.0  # seconds for every node's read model to reach the head


@dataclass
class Failover:
    """The kill of the minter: who it was, who took over, how long until then."""

    killed: str
    new_minter: str
    seconds: float
    restarted: bool = False


@dataclass
class ConsortiumStory(Story):
    cluster: LocalConsortium | None = None
    failover: Failover | None = None
    readers: dict[str, dict[str, ScfClient]] = field(default_factory=dict)  # node → handle

    @property
    def consortium(self) -> LocalConsortium:
        assert self.cluster is not None
        return self.cluster

    def node(self, name: str) -> LocalNode:
        """The node of ``INSTITUTIONS``' ``name``: the consortium's validators in order."""
        return self.consortium.validators[INSTITUTIONS.index(name)]

    # ---- plumbing: the minter answers time travel, each company its own node ---------------
    def rpc(self, method: str, *params: Any) -> Any:
        minter = self.consortium.wait_for_minter(FAILOVER_TIMEOUT)
        try:
            return minter.rpc(method, *params)
        except LocalClusterError as exc:
            raise DemoMismatch(str(exc)) from None

    def step(self, title: str) -> None:
        if title.startswith("4."):
            self.kill_the_minter()
        if title.startswith("6."):
            self.restart_the_killed_node()
        super().step(title)

    # ---- the story -----------------------------------------------------------------------
    def run(self) -> list[PortalSignIn]:
        self.onboard_at_institutions()
        self.finance()
        self.restart_the_killed_node()
        self.every_figure_on_every_node()
        return []

    def onboard_at_institutions(self) -> None:
        self.step("1. Five companies are admitted by the committee, each at its institution")
        table = Table("company", "roles", "institution (holds its key)", "member id")
        for company in CAST:
            node = self.node(HOME_OF[company.handle])
            code = make_credit_code(company.code_prefix + self.run_tag)
            with self.console.status(f"admitting {company.name} at {node.name}"):
                member_id = self.consortium.admit(node, company.name, code, company.roles)
                key = self.consortium.api_key(member_id, node)
            client = InstitutionClient(node, self.consortium, key)
            self.actors[company.handle] = Actor(company, client, member_id)
            table.add_row(company.name, ", ".join(company.roles), node.name, str(member_id))
        self.console.print(table)

    def kill_the_minter(self) -> None:
        minter = self.consortium.wait_for_minter(FAILOVER_TIMEOUT)
        self.console.rule(f"[bold red]kill -9 of the minter: the {minter.name} node")
        minter.kill()
        started = time.monotonic()
        others = [n for n in self.consortium.nodes if n is not minter]
        with self.console.status("waiting for another validator to mint"):
            try:
                successor = self.consortium.wait_for_minter(FAILOVER_TIMEOUT, others)
            except LocalClusterError as exc:
                raise DemoMismatch(str(exc)) from None
        self.failover = Failover(minter.name, successor.name, time.monotonic() - started)
        self.console.print(
            f"The {successor.name} node mints after {self.failover.seconds:.1f} s; the story "
            "goes on through the surviving nodes."
        )
        acts_next = {self.node(HOME_OF[handle]) for handle in ("tier1", "tier3", "bank")}
        if minter in acts_next:  # steps 4 and 5 need it: back at once
            self.restart_the_killed_node()

    def restart_the_killed_node(self) -> None:
        if self.failover is None or self.failover.restarted:
            return
        killed = next(n for n in self.consortium.nodes if n.name == self.failover.killed)
        with self.console.status(f"starting the {killed.name} node again (it catches up)"):
            killed.start()
        self.failover.restarted = True
        self.console.print(f"The {killed.name} node is back as {killed.role()}.")

    def every_figure_on_every_node(self) -> None:
        self.step("8. Every node: the same head block, every company's figures the same")
        try:
            height, blocks = self.consortium.same_head()
        except LocalClusterError as exc:
            raise DemoMismatch(str(exc)) from None
        self.expect(f"one (hash, state root) at block {height} on every node", len(blocks), 1)
        ((block_hash, state_root),) = blocks
        # a balance is read from the ledger with the member's key held by its own node:
        # on every other node it is read by account from the ledger at the same block
        own = {handle: self.who(handle).balance() for handle in self.actors}
        with self.console.status("a read key for every company on every node"):
            for node in self._running():
                self.readers[node.name] = {
                    handle: ScfClient(node.api_url, self.consortium.api_key(a.member_id, node))
                    for handle, a in self.actors.items()
                }
        expected = {
            handle: {"balance": own[handle]["balance"], **self._read_model(self.actors[handle])}
            for handle in self.actors
        }
        table = Table("node", "role", "head", "block hash", "state root", "figures")
        for node in self._running():
            figures: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + READ_MODEL_TIMEOUT
            while time.monotonic() < deadline:
                figures = self._figures(node, height, own)
                if figures == expected:
                    break
                time.sleep(0.2)  # its read model is still indexing the last blocks
            self.expect(f"every figure read through {node.name}'s node", figures, expected)
            table.add_row(
                node.name,
                node.role() or "?",
                str(height),
                block_hash[:18] + "…",
                state_root[:18] + "…",
                f"{len(figures)} companies: balances, certificates, invoices match",
            )
        self.console.print(table)

    def _running(self) -> list[LocalNode]:
        return [node for node in self.consortium.nodes if node.running]

    def _figures(
        self, node: LocalNode, height: int, own: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """What ``node`` says of each company: its balance from the node's ledger (at
        its head, ``height``: nothing is written after the story), its certificates and
        invoices from the node's read model."""
        token = self.consortium.contract("SettlementToken")
        figures = {}
        for handle, reader in self.readers[node.name].items():
            account = str(own[handle]["account"])
            data = BALANCE_OF + account.removeprefix("0x").lower().rjust(64, "0")
            raw = node.rpc("eth_call", {"to": token, "data": data}, "latest")
            figures[handle] = {"balance": format_amount(int(raw, 16)), **self._read_model(reader)}
        return figures

    @staticmethod
    def _read_model(reader: Actor | ScfClient) -> dict[str, Any]:
        client = reader.client if isinstance(reader, Actor) else reader
        certificates = client.certificates(limit=100)["items"]
        invoices = client.invoices(limit=100)["items"]
        return {
            "certificates": sorted(
                (c["id"], c["holder_id"], c["value"], c["locked"], c["redeemed_value"])
                for c in certificates
            ),
            "invoices": sorted(
                (i["key"], i["amount"], i["status"], i["buyer_id"]) for i in invoices
            ),
        }


@contextlib.contextmanager
def _directory(home: Path | None) -> Iterator[Path]:
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        yield home
        return
    with tempfile.TemporaryDirectory(prefix="scf-consortium-demo-") as made:
        yield Path(made)


def run_consortium_demo(
    directory: Path | None, console: Console, running: Path | None = None
) -> Failover | None:
    """Bring the three institutions up in ``directory`` (default: a temporary one), tell
    the story across them, stop them; the failover it went through. With ``running``, the
    directory of a local consortium that runs already (``LocalConsortium.attach``): the
    story is told on it, its first three validators in the roles of core, bank and
    suppliers, and it is left running."""
    if running is not None:
        attached = LocalConsortium.attach(running)
        if len(attached.validators) < len(INSTITUTIONS):
            raise LocalClusterError(f"the story needs {len(INSTITUTIONS)} validator institutions")
        return _tell(attached, running, console)
    with _directory(directory) as where, contextlib.ExitStack() as stack:
        with console.status("bringing up the consortium") as status:
            cluster = stack.enter_context(
                LocalConsortium.running(where, INSTITUTIONS, status.update)
            )
        return _tell(cluster, where, console)


def _tell(cluster: LocalConsortium, where: Path, console: Console) -> Failover | None:
    table = Table("institution", "REST API", "JSON-RPC", "role", title="The consortium")
    for node in cluster.nodes:
        table.add_row(node.name, node.api_url, node.rpc_url, node.role() or "?")
    console.print(table)
    console.print(f"etcd: {cluster.etcd.endpoints}; homes and logs in {where}")
    story = ConsortiumStory(
        Endpoints(cluster.founder.api_url, cluster.founder.rpc_url, ""),
        console,
        cluster=cluster,
    )
    story.run()
    return story.failover
