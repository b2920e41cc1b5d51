"""``scf-node start``: run a home's node until Ctrl-C or SIGTERM.

The embedded ledger and its JSON-RPC in a child process (``nodes.runtime.ledger_process``), the
indexer and the REST API in this one, the read replica in another child
(``nodes.runtime.read_replica``); a home made on a first start. Before it writes or starts
anything, ``start`` checks the home, the three ports and where the passphrase comes
from, so that a refusal is one line and leaves nothing behind; whatever it started is
stopped in reverse order however it ends. On a home made with ``init --ledger-url`` it
runs no ledger and no JSON-RPC server of its own: the indexer, the transaction manager
and the REST API over that network.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from chain.errors import ScfError
from nodes.commands.common import HomeOption, console, errors
from nodes.commands.common import passphrase as read_passphrase
from nodes.commands.init import OPERATOR_CREDIT_CODE, initialize
from nodes.connect import is_claimed, local_url, try_claim
from nodes.home import RPC_LEDGER, NodeHome, default_home
from nodes.runtime import ports
from nodes.runtime.placement import (
    AUTO,
    UNPLACED,
    NodePlacement,
    ProcessPlacement,
    apply,
    cpus_for,
    plan,
)

if TYPE_CHECKING:
    import uvicorn

    from chain.accounts import Signer
    from chain.deploy import Consortium
    from chain.ledger import Ledger
    from chain.txmanager import TransactionManager
    from nodes.runtime.ledger_process import LedgerProcess
    from nodes.runtime.read_replica import ReplicaSupervisor
    from nodes.runtime.service import ApiService
    from nodes.runtime.supervisor import Supervisor

REPLICA_CHECK_SECONDS = 1.0  # how often start looks whether the read replica still runs


def start(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: evm_* methods, fixed passphrase")
    ] = False,
    host: Annotated[
        str, typer.Option(help="listen address of the REST API and the read replica")
    ] = "127.0.0.1",
    rpc_host: Annotated[
        str,
        typer.Option(
            help="listen address of the ledger's JSON-RPC; beyond loopback every request "
            "needs the bearer token in the home's rpc-token"
        ),
    ] = "127.0.0.1",
    rpc_port: Annotated[int, typer.Option(help="JSON-RPC port (embedded ledger)")] = 8545,
    api_port: Annotated[int, typer.Option(help="REST API port")] = 8000,
    chain_id: Annotated[int, typer.Option(help="chain id of a new consortium")] = 8_888,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls", help="serve the REST API over HTTPS; consortium client certificates log in"
        ),
    ] = False,
    read_port: Annotated[
        int, typer.Option(help="port of the read replica: the API's GET routes, apart")
    ] = 8001,
    read_replica: Annotated[
        bool, typer.Option(help="serve the read replica on --read-port beside the API")
    ] = True,
    cpus: Annotated[
        str,
        typer.Option(
            help="CPUs for the ledger, the API and the read replica, in that order: "
            "'auto' (those this process may use), a list such as 2,3,6-7, or 'off' "
            "(the OS decides)"
        ),
    ] = AUTO,
) -> None:
    """Run the embedded ledger, its JSON-RPC, the indexer and the REST API; initialize the
    home on first run. On a home made with ``init --ledger-url``: the indexer and the REST
    API over that external network, and no ledger or JSON-RPC of its own."""
    home = NodeHome(home_dir or default_home())
    try:
        node_cpus = cpus_for(cpus)
    except ScfError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    # What can be checked before anything is written or started, is.
    new_home = _check_startable(home, dev)
    embedded = new_home or home.ledger_kind() != RPC_LEDGER
    listeners = [ports.rest_api(host, api_port)]
    listeners += [ports.json_rpc(rpc_host, rpc_port)] if embedded else []
    listeners += [ports.read_replica(host, read_port)] if read_replica else []
    _check_ports(listeners)
    passphrase = read_passphrase(dev or home.is_dev(), new=new_home)
    placement = (
        UNPLACED if node_cpus is None else plan(node_cpus, replica=read_replica, ledger=embedded)
    )
    options = _StartOptions(
        dev, host, rpc_host, rpc_port, api_port, read_port, read_replica, tls, chain_id
    )
    try:
        with contextlib.ExitStack() as running:  # stops what started, in reverse, however it ends
            _run_node(home, passphrase, options, placement, new_home, running)
    except ScfError as exc:
        console.print(f"[red]The node cannot start:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print("Stopped.")


@dataclass(frozen=True)
class _StartOptions:
    dev: bool
    host: str
    rpc_host: str
    rpc_port: int
    api_port: int
    read_port: int
    read_replica: bool
    tls: bool
    chain_id: int


def _check_ports(listeners: list[ports.Listener]) -> None:
    try:
        ports.check_free(listeners)
    except ports.PortUnavailable as exc:
        console.print(f"[red]The node cannot start:[/red] {exc.message}")
        raise typer.Exit(1) from None


def _check_startable(home: NodeHome, dev: bool) -> bool:
    """Refuse a home that cannot start (in use, half made, ``--dev`` on a production home);
    whether it is new."""
    if is_claimed(home):
        console.print(f"[red]{home.path} is in use by another scf-node process; stop it first.")
        raise typer.Exit(1)
    if not home.is_initialized():
        if home.existing_parts():
            console.print(
                f"[red]{home.path} holds an interrupted initialization "
                f"({', '.join(p.name for p in home.existing_parts())}); remove it and start "
                "again."
            )
            raise typer.Exit(1)
        return True
    if dev and not home.is_dev():
        # time travel (evm_increaseTime) on a production ledger would move every maturity
        console.print(
            f"[red]{home.path} is not a development home; --dev (time travel, fixed "
            "passphrase) is refused on it.[/red] Start it without --dev."
        )
        raise typer.Exit(2)
    return False


def _run_node(
    home: NodeHome,
    passphrase: str,
    options: _StartOptions,
    placement: NodePlacement,
    new_home: bool,
    running: contextlib.ExitStack,
) -> None:
    """Start the node's parts, each registering in ``running`` how it stops; serve until
    Ctrl-C or SIGTERM."""
    ledger_claim = try_claim(home)  # the ledger has one owner; commands reach it over JSON-RPC
    if ledger_claim is None:  # another start took it since the check
        console.print(f"[red]{home.path} is in use by another scf-node process; stop it first.")
        raise typer.Exit(1)
    running.callback(ledger_claim.release)
    if new_home:
        initialize(home, options.dev, options.chain_id, passphrase, _rpc_url(options))
    home.keep_private()
    governor = _open_governor(home, passphrase)
    # Ctrl-C / SIGTERM from here on stop the node in order (after it finished starting):
    # JSON-RPC answers before the API is up, and a client may stop the node that early.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run = _start_ledger(home, options, placement.ledger, running)
    ledger_claim.publish(run.rpc_url, dev=options.dev)
    _show_ledger(run)
    api_url, service = _start_api(home, run.consortium, governor, passphrase, options,
                                  placement, stop, running)  # fmt: skip
    service.app.state.dev_mode = options.dev  # /healthz shows it
    ledger_claim.publish(run.rpc_url, api_url, dev=options.dev)  # commands may use the API now
    replicas = None
    if options.read_replica:
        replicas = _start_read_replica(home, options, passphrase, api_url, placement.replica)
        running.callback(replicas.stop)
        if replicas.replica is not None:
            ledger_claim.publish(run.rpc_url, api_url, replicas.replica.url, dev=options.dev)
    console.print(
        f"Next: scf-node status --home {home.path} | scf-node member list --home {home.path}"
        " | scf-node demo"
    )
    if options.dev:  # last before serving, where an operator cannot miss it
        from nodes.dev_mode import announce

        announce(errors)
    console.print("Ctrl-C stops the node.")

    from nodes.runtime.supervisor import watch_children

    children = [c for c in (run.supervisor, replicas) if c is not None]
    service.app.state.child_processes.attach(lambda: [c.status() for c in children])
    if run.supervisor is not None:
        run.supervisor.on_restart = lambda _: _resend_after_ledger_restart(service.txm)

    def publish(processes: list[dict[str, Any]]) -> None:  # for scf-node status
        read_url = replicas.replica.url if replicas is not None and replicas.replica else None
        ledger_claim.publish(run.rpc_url, api_url, read_url, processes=processes, dev=options.dev)

    watch_children(stop, children, REPLICA_CHECK_SECONDS, publish)  # until Ctrl-C
    console.print(run.stopping)


def _rpc_url(options: _StartOptions) -> str:
    """Where this machine reaches the node's JSON-RPC."""
    return local_url("http", options.rpc_host, options.rpc_port)


def _open_governor(home: NodeHome, passphrase: str) -> Signer:
    try:
        return home.read_keystore(passphrase)
    except ValueError:  # eth-account: "MAC mismatch"
        console.print(
            f"[red]Wrong passphrase for {home.keystore}.[/red] Set SCF_PASSPHRASE to the "
            "passphrase the home was made with."
        )
        raise typer.Exit(2) from None


def _start_ledger(
    home: NodeHome,
    options: _StartOptions,
    placement: ProcessPlacement,
    running: contextlib.ExitStack,
) -> _LedgerRun:
    """The home's ledger: the embedded one started in its child process, or the external
    network reached; stopped (or let go) when ``running`` ends."""
    run = (
        _follow_external(home)
        if home.ledger_kind() == RPC_LEDGER
        else _run_embedded(home, options.dev, options.rpc_host, options.rpc_port, placement)
    )
    running.callback(run.ledger.close)
    running.callback(run.shutdown)
    return run


def _show_ledger(run: _LedgerRun) -> None:
    table = Table(title=run.title)
    table.add_column("contract")
    table.add_column("address")
    for name, address in run.consortium.addresses().items():
        table.add_row(name, address)
    console.print(table)
    for note in run.notes:
        console.print(note)
    console.print(run.rpc_line)


def _start_api(
    home: NodeHome,
    consortium: Consortium,
    governor: Signer,
    passphrase: str,
    options: _StartOptions,
    placement: NodePlacement,
    stop: threading.Event,
    running: contextlib.ExitStack,
) -> tuple[str, ApiService]:
    """The indexer, the webhooks and the REST API, serving until ``stop``; their URL."""
    from nodes.connect import database_url
    from nodes.pki.home import ensure_home_pki
    from nodes.runtime.heap import freeze_startup
    from nodes.runtime.service import build_api

    host = options.host
    chain_id = int(home.read_settings()["chain_id"])
    _, pki_note = ensure_home_pki(
        home, passphrase, chain_id, consortium, governor, OPERATOR_CREDIT_CODE, host
    )
    if pki_note:
        console.print(f"PKI: {pki_note}")
    with console.status("Catching up the read model ..."):
        service = build_api(home, consortium, governor, passphrase, database_url(home))
    running.callback(service.txm.store.close)
    service.run_indexer(stop)
    running.callback(stop.set)  # the indexer's and the webhooks' threads end
    # this process and the children it starts from now on run on the API's CPUs; the
    # niceness applies to the API server's threads only (the replica is started from here)
    apply(ProcessPlacement(placement.api.cpus))
    freeze_startup()
    api_socket = ports.bind(ports.rest_api(host, options.api_port))
    api_port = api_socket.getsockname()[1]
    api_server, api_thread = service.serve(
        api_socket, tls=options.tls, niceness=placement.api.niceness
    )
    running.callback(_stop_api, api_server, api_thread)
    scheme = "https" if options.tls else "http"
    cacert = f"--cacert {home.pki_dir / 'ca.pem'} " if options.tls else ""
    console.print(
        f"REST API: {scheme}://{host}:{api_port}/v1  (docs: {scheme}://{host}:{api_port}/docs)"
    )
    console.print(f"Operator API key: {service.operator_key_file}")
    console.print(
        f'Try: curl {cacert}-H "Authorization: Bearer $(cat {service.operator_key_file})" '
        f"{scheme}://{host}:{api_port}/v1/members/me"
    )
    return local_url(scheme, host, api_port), service


def _stop_api(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)


def _start_read_replica(
    home: NodeHome,
    options: _StartOptions,
    passphrase: str,
    api_url: str,
    placement: ProcessPlacement,
) -> ReplicaSupervisor:
    """The read replica beside the API at ``api_url``, kept running
    (``nodes.runtime.read_replica``)."""
    from nodes.runtime.read_replica import ReplicaSupervisor, spawn_replica

    supervisor = ReplicaSupervisor(
        lambda: spawn_replica(
            home,
            host=options.host,
            port=options.read_port,
            tls=options.tls,
            passphrase=passphrase,
            primary_url=api_url,
            placement=placement,
        ),
        lambda message: console.print(f"[yellow]Read replica: {message}[/yellow]"),
    )
    if supervisor.replica is not None:
        console.print(f"Read replica (GET routes): {supervisor.replica.url}/v1")
    return supervisor


@dataclass
class _LedgerRun:
    """The ledger ``start`` serves the API over, and how it is reached and stopped."""

    ledger: Ledger
    consortium: Consortium
    rpc_url: str  # where commands reach the ledger (published in node.run.json)
    title: str
    rpc_line: str
    stopping: str
    notes: list[str] = field(default_factory=list)
    shutdown: Callable[[], None] = lambda: None
    supervisor: Supervisor[LedgerProcess] | None = None  # restarts the embedded ledger


def _run_embedded(
    home: NodeHome, dev: bool, host: str, rpc_port: int, placement: ProcessPlacement
) -> _LedgerRun:
    """Run the embedded ledger and its JSON-RPC in a child process; reach it over JSON-RPC
    (the block producer and the REST API then each have a core)."""
    from chain.backends.scf_node import ScfNodeLedger
    from chain.deploy import Consortium
    from nodes.rpc_token import ensure_token, needs_token, token_file
    from nodes.runtime.ledger_process import ledger_supervisor, spawn_ledger

    token = ensure_token(home)  # the node's clients send it whatever the bind address
    child = spawn_ledger(home, dev=dev, host=host, port=rpc_port, placement=placement)
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
        child,
        home,
        dev=dev,
        placement=placement,
        report=lambda message: console.print(f"[yellow]Ledger process: {message}[/yellow]"),
    )
    return _LedgerRun(
        ledger,
        consortium,
        local_url("http", host, port),
        title=f"SCF Chain node — chain {ledger.chain_id}, head block {head}",
        rpc_line=f"JSON-RPC: http://{host}:{port} (ledger process {child.process.pid})" + auth,
        stopping="Stopping: REST API, then sealing queued transactions and closing the ledger ...",
        shutdown=supervisor.stop,
        supervisor=supervisor,
    )


def _resend_after_ledger_restart(txm: TransactionManager) -> None:
    """A ledger that ended lost the transactions it had not sealed: send them again (the
    transaction store holds every one, so none is lost and none is sent twice)."""
    try:
        sent = txm.resend_unconfirmed()
    except ScfError as exc:
        console.print(f"[yellow]Ledger process: could not re-send transactions: {exc.message}")
        return
    if sent:
        console.print(f"Ledger process: re-sent {len(sent)} transactions it had not sealed")


def _follow_external(home: NodeHome) -> _LedgerRun:
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
    return _LedgerRun(
        ledger,
        consortium,
        url,
        title=f"SCF Chain API node — ledger {url}, chain {ledger.chain_id}, head block {head}",
        rpc_line=f"Ledger JSON-RPC (external network): {url}",
        stopping="Stopping: REST API and indexer (the network's ledger keeps running) ...",
        notes=notes,
    )
