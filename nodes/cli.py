"""The ``scf-node`` command line.

``init`` creates a home (governor keystore, genesis, contracts) without
starting and never overwrites one; ``start`` runs the embedded ledger with its
JSON-RPC on a home, initializing it on first run, and admits transactions only
from active members and governors once the consortium is deployed; ``verify``
re-executes the stored ledger from genesis (also while the node runs).

With ``init --ledger-url`` the home's ledger is an external JSON-RPC network
(Besu or GoQuorum; anvil in tests, see ``nodes.external``): ``start`` then runs
no ledger and no JSON-RPC server of its own, only the indexer, the transaction
manager and the REST API over that network.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.readmodel.database import make_engine, session_factory
from api.readmodel.reconcile import indexed_block, reconcile
from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.backends.scf_node import ScfNodeLedger
from chain.credit_code import make_credit_code
from chain.deploy import Consortium, MemberSpec, NodeSpec, deploy_consortium
from chain.embedded.node import store_dir
from chain.embedded.verify import StoreUnreadable, verify_ledger
from chain.errors import ScfError
from chain.ledger import Ledger
from chain.roles import Role
from nodes import ports
from nodes.bench import bench
from nodes.commands import member, node, proposal
from nodes.commands.backup import backup, restore
from nodes.commands.common import load_signer
from nodes.commands.common import passphrase as read_passphrase
from nodes.commands.status import status
from nodes.connect import connected, database_url, is_claimed, local_url, try_claim
from nodes.demo import demo_command
from nodes.external import (
    check_chain_id,
    fee_warning,
    open_consortium,
    open_network,
    prepare_governor,
)
from nodes.heap import freeze_startup
from nodes.home import RPC_LEDGER, NodeHome, default_home
from nodes.ledger_process import spawn_ledger
from nodes.pki_home import create_home_pki, ensure_home_pki
from nodes.placement import (
    AUTO,
    UNPLACED,
    NodePlacement,
    ProcessPlacement,
    apply,
    cpus_for,
    plan,
)
from nodes.read_replica import ReplicaSupervisor, spawn_replica
from nodes.service import build_api

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    help="Run and administer an SCF Chain consortium node.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # reflow docstrings: their line breaks are for the source
)
console = Console()
REPLICA_CHECK_SECONDS = 1.0  # how often start looks whether the read replica still runs
app.command("bench")(bench)
app.command("demo")(demo_command)
app.add_typer(member.app, name="member")
app.add_typer(proposal.app, name="proposal")
app.add_typer(node.app, name="node")
app.command("status")(status)
app.command("backup")(backup)
app.command("restore")(restore)


@app.callback()
def main() -> None:
    """SCF Chain node scripts."""


OPERATOR_CREDIT_CODE = make_credit_code("91110000000000001")


DEFAULT_RPC_URL = "http://127.0.0.1:8545"  # where init's node answers unless start moves it


def _initialize(
    home: NodeHome, dev: bool, chain_id: int, passphrase: str, rpc_url: str = DEFAULT_RPC_URL
) -> None:
    """Create the consortium in ``home``, its keys encrypted with ``passphrase``; its ledger
    node, reached at ``rpc_url``, goes on the NodeRegistry allow-list."""
    console.print(f"Initializing a new consortium in {home.path} ...")
    governor, node_key = Signer.create(), Signer.create()
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_keystore(node_key, passphrase, home.node_keystore)
    home.write_settings({"chain_id": chain_id, "dev": dev})
    ledger = EmbeddedLedger(home.chain_dir, chain_id=chain_id, dev=dev)
    try:
        operator = MemberSpec(
            name="SCF Consortium Operator",
            credit_code=OPERATOR_CREDIT_CODE,
            roles=[Role.AUDITOR],
            account=governor.address,
        )
        # The CA and the operator's certificate first: its fingerprint is admitted on chain.
        operator = create_home_pki(home, passphrase, chain_id, operator)
        with console.status("Deploying the consortium contracts..."):
            node = NodeSpec(node_key.public_key, rpc_url)
            consortium = deploy_consortium(ledger, governor, operator, node=node)
        consortium.save(home.deployment)
    finally:
        ledger.close()
    console.print(f"Governor {governor.address}, keystore {home.keystore}")
    console.print(f"Consortium CA, node and operator certificates in {home.pki_dir}")


def _operator_spec(governor: Signer) -> MemberSpec:
    return MemberSpec(
        name="SCF Consortium Operator",
        credit_code=OPERATOR_CREDIT_CODE,
        roles=[Role.AUDITOR],
        account=governor.address,
    )


def _initialize_external(
    home: NodeHome, url: str, dev: bool, chain_id: int | None, keystore: Path | None
) -> None:
    """A home over the external network at ``url``: the network is checked before anything
    is written, and a failed deployment leaves no half-made home behind."""
    console.print(f"Initializing a new consortium in {home.path} on the ledger at {url} ...")
    ledger = open_network(url)
    try:
        if chain_id is not None:
            check_chain_id(ledger, chain_id)
        passphrase = read_passphrase(dev, new=keystore is None)
        governor = Signer.create() if keystore is None else load_signer(home, keystore, passphrase)
        note = prepare_governor(ledger, governor, dev)
        if note:
            console.print(f"[yellow]{note}[/yellow]")
        home.path.mkdir(parents=True, exist_ok=True)
        created = [home.keystore, home.settings, home.pki_dir]
        try:
            home.write_keystore(governor, passphrase)
            home.write_settings(
                {"ledger": RPC_LEDGER, "ledger_url": url, "chain_id": ledger.chain_id, "dev": dev}
            )
            operator = create_home_pki(home, passphrase, ledger.chain_id, _operator_spec(governor))
            with console.status(f"Deploying the consortium contracts to {url} ..."):
                consortium = deploy_consortium(ledger, governor, operator)
            consortium.save(home.deployment)
        except BaseException:
            _remove(created)
            raise
    finally:
        ledger.close()
    console.print(f"Governor {governor.address}, keystore {home.keystore}")
    console.print(f"Consortium CA, node and operator certificates in {home.pki_dir}")
    console.print(
        f"Ledger: the JSON-RPC network at {url} (chain {ledger.chain_id}); this home keeps "
        "no ledger of its own"
    )


def _remove(paths: list[Path]) -> None:
    """Undo a failed initialization: the files and directories it created."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # keys/ stays if it holds anything else
        paths[0].parent.rmdir()


HomeOption = Annotated[
    Path | None, typer.Option("--home", help="node home (default $SCF_HOME or ./.scf)")
]


@app.command()
def init(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: fixed passphrase, funded faucet")
    ] = False,
    chain_id: Annotated[
        int | None,
        typer.Option(
            help="chain id of the new consortium (default 8888; with --ledger-url, the "
            "network's, checked if given)"
        ),
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            "--ledger-url",
            help="deploy to this external JSON-RPC network (Besu, GoQuorum, anvil) instead "
            "of an embedded ledger",
        ),
    ] = None,
    governor_keystore: Annotated[
        Path | None,
        typer.Option(
            "--governor-keystore",
            help="with --ledger-url: the encrypted keystore of an existing (funded) account "
            "to govern with, instead of a new key",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Create a new consortium in the home without starting the node; never overwrites."""
    home = NodeHome(home_dir or default_home())
    if governor_keystore is not None and ledger_url is None:
        console.print(
            "[red]--governor-keystore needs --ledger-url[/red] (the governor of an "
            "embedded ledger is always a new key)"
        )
        raise typer.Exit(2)
    existing = home.existing_parts()
    if existing:
        state = "is already initialized" if home.is_initialized() else "is not empty"
        names = ", ".join(str(p) for p in existing)
        console.print(
            f"[red]{home.path} {state} (found {names}); refusing to overwrite it.[/red] "
            "Choose another --home, or remove it to start a new consortium."
        )
        raise typer.Exit(1)
    if ledger_url is None:
        passphrase = read_passphrase(dev, new=True)
        _initialize(home, dev, 8_888 if chain_id is None else chain_id, passphrase)
    else:
        try:
            _initialize_external(home, ledger_url, dev, chain_id, governor_keystore)
        except ScfError as exc:
            console.print(f"[red]Initialization failed:[/red] {exc.message}")
            raise typer.Exit(1) from None
    console.print(
        f"Initialized {home.path}. Start the node with: scf-node start --home {home.path}"
    )


@app.command()
def verify(home_dir: HomeOption = None) -> None:
    """Re-execute every block from genesis and compare state roots, receipts and gas used;
    check the read model against chain state. (An external network verifies its own blocks.)"""
    home = NodeHome(home_dir or default_home())
    if not home.settings.exists():
        console.print(
            f"[red]{home.path} is not an initialized node home[/red] (no {home.settings})"
        )
        raise typer.Exit(2)
    if home.ledger_kind() == RPC_LEDGER:
        _verify_external(home)
        return
    chain_id = int(home.read_settings()["chain_id"])
    with Progress(
        TextColumn("Re-executing blocks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("verify", total=None)

        def on_block(number: int, head: int) -> None:
            progress.update(task, completed=number, total=head)

        try:
            result = verify_ledger(store_dir(home.chain_dir), chain_id, on_block)
        except StoreUnreadable as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if result.mismatch is not None:
        console.print(f"[red]Verification FAILED at {result.mismatch}[/red]")
        raise typer.Exit(1)
    console.print(
        f"[green]Verified[/green] {result.head} blocks and {result.transactions} transactions: "
        "state roots, receipts and gas used match the stored chain."
    )
    _report_reconciliation(home)


def _verify_external(home: NodeHome) -> None:
    """An external network's blocks are the network's to verify; the read model is ours."""
    console.print(
        f"The ledger of {home.path} is the external JSON-RPC network at {home.ledger_url()}: "
        "re-executing its blocks from genesis is that network's job (its validators "
        "re-execute every block they import; a Besu node checks state roots and receipts "
        "as it syncs), so this node does not repeat it."
    )
    try:
        _report_reconciliation(home)
    except ScfError as exc:
        console.print(f"[red]Cannot reconcile the read model:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _report_reconciliation(home: NodeHome) -> None:
    problems = _reconcile_read_model(home)
    if problems:
        console.print(f"[red]The read model differs from the chain[/red] ({len(problems)}):")
        for problem in problems[:50]:
            console.print(f"  {problem}")
        raise typer.Exit(1)


def _reconcile_read_model(home: NodeHome) -> list[str]:
    """Compare the read model with chain state at the block it has indexed."""
    url = database_url(home)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        console.print("No read model yet (the node has not served the API): nothing to reconcile.")
        return []
    engine = make_engine(url)
    try:
        with (
            console.status("Reconciling the read model with chain state ..."),
            connected(home) as connection,
            session_factory(engine)() as session,
        ):
            block = indexed_block(session)
            if block is None:
                console.print("The read model has indexed nothing yet.")
                return []
            problems = reconcile(session, connection.consortium, block)
    finally:
        engine.dispose()
    if not problems:
        console.print(
            f"[green]Reconciled[/green] the read model with chain state at block {block}."
        )
    return problems


@app.command()
def start(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: evm_* methods, fixed passphrase")
    ] = False,
    host: Annotated[str, typer.Option(help="listen address of JSON-RPC and REST")] = "127.0.0.1",
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
    listeners += [ports.json_rpc(host, rpc_port)] if embedded else []
    listeners += [ports.read_replica(host, read_port)] if read_replica else []
    try:
        ports.check_free(listeners)
    except ports.PortUnavailable as exc:
        console.print(f"[red]The node cannot start:[/red] {exc.message}")
        raise typer.Exit(1) from None
    passphrase = read_passphrase(dev or home.is_dev(), new=new_home)
    placement = (
        UNPLACED if node_cpus is None else plan(node_cpus, replica=read_replica, ledger=embedded)
    )
    options = _StartOptions(dev, host, rpc_port, api_port, read_port, read_replica, tls, chain_id)
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
    rpc_port: int
    api_port: int
    read_port: int
    read_replica: bool
    tls: bool
    chain_id: int


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
        rpc_url = local_url("http", options.host, options.rpc_port)
        _initialize(home, options.dev, options.chain_id, passphrase, rpc_url)
    settings = home.read_settings()
    try:
        governor = home.read_keystore(passphrase)
    except ValueError:  # eth-account: "MAC mismatch"
        console.print(
            f"[red]Wrong passphrase for {home.keystore}.[/red] Set SCF_PASSPHRASE to the "
            "passphrase the home was made with."
        )
        raise typer.Exit(2) from None
    # Ctrl-C / SIGTERM from here on stop the node in order (after it finished starting):
    # JSON-RPC answers before the API is up, and a client may stop the node that early.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    host = options.host
    run = (
        _follow_external(home)
        if home.ledger_kind() == RPC_LEDGER
        else _run_embedded(home, settings, options.dev, host, options.rpc_port, placement.ledger)
    )
    running.callback(run.ledger.close)
    running.callback(run.shutdown)
    consortium = run.consortium
    ledger_claim.publish(run.rpc_url)

    table = Table(title=run.title)
    table.add_column("contract")
    table.add_column("address")
    for name, address in consortium.addresses().items():
        table.add_row(name, address)
    console.print(table)
    for note in run.notes:
        console.print(note)
    _, pki_note = ensure_home_pki(
        home, passphrase, settings["chain_id"], consortium, governor, OPERATOR_CREDIT_CODE, host
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
    console.print(run.rpc_line)
    console.print(
        f"REST API: {scheme}://{host}:{api_port}/v1  (docs: {scheme}://{host}:{api_port}/docs)"
    )
    console.print(f"Operator API key: {service.operator_key_file}")
    console.print(
        f'Try: curl {cacert}-H "Authorization: Bearer $(cat {service.operator_key_file})" '
        f"{scheme}://{host}:{api_port}/v1/members/me"
    )
    api_url = local_url(scheme, host, api_port)
    ledger_claim.publish(run.rpc_url, api_url)  # commands may use the API from now on
    replicas = None
    if options.read_replica:
        replicas = _start_read_replica(
            home, host, options.read_port, options.tls, passphrase, api_url, placement.replica
        )
        running.callback(replicas.stop)
        if replicas.replica is not None:
            ledger_claim.publish(run.rpc_url, api_url, replicas.replica.url)
    console.print(
        f"Next: scf-node status --home {home.path} | scf-node member list --home {home.path}"
        " | scf-node demo"
    )
    console.print("Ctrl-C stops the node.")

    while not stop.wait(REPLICA_CHECK_SECONDS):
        if replicas is not None:
            replicas.check()
    console.print(run.stopping)


def _stop_api(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)


def _start_read_replica(
    home: NodeHome,
    host: str,
    port: int,
    tls: bool,
    passphrase: str,
    api_url: str,
    placement: ProcessPlacement,
) -> ReplicaSupervisor:
    """The read replica beside the API at ``api_url``, kept running (``nodes.read_replica``)."""
    supervisor = ReplicaSupervisor(
        lambda: spawn_replica(
            home,
            host=host,
            port=port,
            tls=tls,
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


def _run_embedded(
    home: NodeHome,
    settings: dict[str, Any],
    dev: bool,
    host: str,
    rpc_port: int,
    placement: ProcessPlacement,
) -> _LedgerRun:
    """Run the embedded ledger and its JSON-RPC in a child process; reach it over JSON-RPC
    (the block producer and the REST API then each have a core)."""
    child = spawn_ledger(home, dev=dev, host=host, port=rpc_port, placement=placement)
    try:
        ledger = ScfNodeLedger(child.url)
        consortium = Consortium.load(ledger, home.deployment)
        head = ledger.block_number()
    except BaseException:
        child.stop()
        raise
    port = child.port
    return _LedgerRun(
        ledger,
        consortium,
        local_url("http", host, port),
        title=f"SCF Chain node — chain {ledger.chain_id}, head block {head}",
        rpc_line=f"JSON-RPC: http://{host}:{port} (ledger process {child.process.pid})",
        stopping="Stopping: REST API, then sealing queued transactions and closing the ledger ...",
        shutdown=child.stop,
    )


def _follow_external(home: NodeHome) -> _LedgerRun:
    """Reach the home's external network and check it holds the home's consortium."""
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
