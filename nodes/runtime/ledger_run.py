"""The ledger a running node serves its API over: its own embedded ledger in a child
process (``nodes.runtime.ledger_process``), or an external JSON-RPC network it follows
(``nodes.runtime.external``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodes.connect import local_url
from nodes.home import NodeHome
from nodes.runtime.placement import ProcessPlacement

if TYPE_CHECKING:
    from chain.deploy import Consortium
    from chain.ledger import Ledger
    from nodes.runtime.ledger_process import LedgerProcess
    from nodes.runtime.supervisor import Supervisor

Report = Callable[[str], None]


@dataclass
class LedgerRun:
    """The ledger a node serves the API over, and how it is reached and stopped."""

    ledger: Ledger
    consortium: Consortium
    rpc_url: str  # where commands reach the ledger (published in node.run.json)
    title: str
    rpc_line: str
    stopping: str
    notes: list[str] = field(default_factory=list)
    shutdown: Callable[[], None] = lambda: None
    supervisor: Supervisor[LedgerProcess] | None = None  # restarts the embedded ledger


def run_embedded(
    home: NodeHome,
    dev: bool,
    host: str,
    rpc_port: int,
    placement: ProcessPlacement,
    report: Report,
    consortium_passphrase: str | None = None,
) -> LedgerRun:
    """Run the embedded ledger and its JSON-RPC in a child process; reach it over JSON-RPC
    (the block producer and the REST API then each have a core). ``report``: what the
    supervisor says of the child later (it ended, it was started again)."""
    from chain.backends.scf_node import ScfNodeLedger
    from chain.deploy import Consortium
    from nodes.rpc_token import ensure_token, needs_token, token_file
    from nodes.runtime.ledger_process import ledger_supervisor, spawn_ledger

    token = ensure_token(home)  # the node's clients send it whatever the bind address
    passphrase = consortium_passphrase
    child = spawn_ledger(
        home, dev=dev, host=host, port=rpc_port, placement=placement, passphrase=passphrase
    )
    try:
        ledger = ScfNodeLedger(child.url, token=token)
        consortium = Consortium.load(ledger, home.deployment)
        head = ledger.block_number()
    except BaseException:
        child.stop()
        raise
    port = child.port
    auth = f"; requests need the bearer token in {token_file(home)}" if needs_token(host) else ""
    supervisor = ledger_supervisor(
        child, home, dev=dev, placement=placement, report=report, passphrase=passphrase
    )
    return LedgerRun(
        ledger,
        consortium,
        local_url("http", host, port),
        title=f"SCF Chain node — chain {ledger.chain_id}, head block {head}",
        rpc_line=f"JSON-RPC: http://{host}:{port} (ledger process {child.process.pid})" + auth,
        stopping="Stopping: REST API, then sealing queued transactions and closing the ledger ...",
        shutdown=supervisor.stop,
        supervisor=supervisor,
    )


def follow_external(home: NodeHome) -> LedgerRun:
    """Reach the home's external network and check it holds the home's consortium."""
    from nodes.runtime.external import fee_warning, open_consortium, open_network

    url = str(home.ledger_url())
    ledger = open_network(url)
    try:
        consortium = open_consortium(home, ledger)
        head = ledger.block_number()
        warning = fee_warning(ledger)
    except BaseException:
        ledger.close()
        raise
    notes = [
        f"Ledger: following the external JSON-RPC network at {url} (chain {ledger.chain_id}); "
        "this node runs no ledger and no JSON-RPC server of its own."
    ]
    if warning:
        notes.append(f"[yellow]Warning:[/yellow] {warning}")
    return LedgerRun(
        ledger,
        consortium,
        url,
        title=f"SCF Chain API node — ledger {url}, chain {ledger.chain_id}, head block {head}",
        rpc_line=f"Ledger JSON-RPC (external network): {url}",
        stopping="Stopping: REST API and indexer (the network's ledger keeps running) ...",
        notes=notes,
    )
