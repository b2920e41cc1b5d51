"""The ``scf-node`` command line.

``init`` creates a home (governor keystore, genesis, contracts) without
starting and never overwrites one; ``start`` runs the embedded ledger with its
JSON-RPC on a home, initializing it on first run, and admits transactions only
from active members and governors once the consortium is deployed; ``verify``
re-executes the stored ledger from genesis (also while the node runs).
The REST API and the operator commands arrive with the API and node-script
issues.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.credit_code import make_credit_code
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import store_dir
from chain.embedded.verify import StoreUnreadable, verify_ledger
from chain.roles import Role
from nodes.bench import bench
from nodes.home import DEV_PASSPHRASE, NodeHome, default_home
from nodes.service import build_api

app = typer.Typer(help="Run and administer an SCF Chain consortium node.", no_args_is_help=True)
console = Console()
app.command("bench")(bench)


@app.callback()
def main() -> None:
    """SCF Chain node scripts."""


def _passphrase(dev: bool, confirm: bool) -> str:
    if os.environ.get("SCF_PASSPHRASE"):
        return os.environ["SCF_PASSPHRASE"]
    if dev:
        console.print("[yellow]--dev: using the fixed development passphrase[/yellow]")
        return DEV_PASSPHRASE
    return str(typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm))


def _initialize(home: NodeHome, dev: bool, chain_id: int) -> None:
    console.print(f"Initializing a new consortium in {home.path} ...")
    passphrase = _passphrase(dev, confirm=True)
    governor = Signer.create()
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_settings({"chain_id": chain_id, "dev": dev})
    ledger = EmbeddedLedger(home.chain_dir, chain_id=chain_id, dev=dev)
    try:
        operator = MemberSpec(
            name="SCF Consortium Operator",
            credit_code=make_credit_code("91110000000000001"),
            roles=[Role.AUDITOR],
            account=governor.address,
        )
        with console.status("Deploying the consortium contracts..."):
            consortium = deploy_consortium(ledger, governor, operator)
        consortium.save(home.deployment)
    finally:
        ledger.close()
    console.print(f"Governor {governor.address}, keystore {home.keystore}")


HomeOption = Annotated[
    Path | None, typer.Option("--home", help="node home (default $SCF_HOME or ./.scf)")
]


@app.command()
def init(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: fixed passphrase, funded faucet")
    ] = False,
    chain_id: Annotated[int, typer.Option(help="chain id of the new consortium")] = 8_888,
) -> None:
    """Create a new consortium in the home without starting the node; never overwrites."""
    home = NodeHome(home_dir or default_home())
    existing = home.existing_parts()
    if existing:
        state = "is already initialized" if home.is_initialized() else "is not empty"
        names = ", ".join(str(p) for p in existing)
        console.print(
            f"[red]{home.path} {state} (found {names}); refusing to overwrite it.[/red] "
            "Choose another --home, or remove it to start a new consortium."
        )
        raise typer.Exit(1)
    _initialize(home, dev, chain_id)
    console.print(
        f"Initialized {home.path}. Start the node with: scf-node start --home {home.path}"
    )


@app.command()
def verify(home_dir: HomeOption = None) -> None:
    """Re-execute every block from genesis and compare state roots, receipts and gas used."""
    home = NodeHome(home_dir or default_home())
    if not home.settings.exists():
        console.print(
            f"[red]{home.path} is not an initialized node home[/red] (no {home.settings})"
        )
        raise typer.Exit(2)
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


@app.command()
def start(
    home_dir: HomeOption = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: evm_* methods, fixed passphrase")
    ] = False,
    host: Annotated[str, typer.Option(help="listen address of JSON-RPC and REST")] = "127.0.0.1",
    rpc_port: Annotated[int, typer.Option(help="JSON-RPC port")] = 8545,
    api_port: Annotated[int, typer.Option(help="REST API port")] = 8000,
    chain_id: Annotated[int, typer.Option(help="chain id of a new consortium")] = 8_888,
) -> None:
    """Run the embedded ledger, its JSON-RPC, the indexer and the REST API; initialize the
    home on first run."""
    home = NodeHome(home_dir or default_home())
    if not home.is_initialized():
        _initialize(home, dev, chain_id)
    passphrase = _passphrase(dev, confirm=False)
    governor = home.read_keystore(passphrase)
    settings = home.read_settings()
    # With the deployment known, the node admits only active members and governors.
    ledger = EmbeddedLedger(
        home.chain_dir, chain_id=settings["chain_id"], dev=dev, deployment=home.deployment
    )
    consortium = Consortium.load(ledger, home.deployment)
    server = make_server(ledger.handler, host, rpc_port)
    serve_in_background(server)

    table = Table(
        title=f"SCF Chain node — chain {ledger.chain_id}, head block {ledger.block_number()}"
    )
    table.add_column("contract")
    table.add_column("address")
    for name, address in consortium.addresses().items():
        table.add_row(name, address)
    console.print(table)
    with console.status("Catching up the read model ..."):
        service = build_api(
            home, consortium, governor, passphrase, os.environ.get("SCF_DATABASE_URL")
        )
    stop = threading.Event()
    service.run_indexer(stop)
    api_server, api_thread = service.serve(host, api_port)
    console.print(f"JSON-RPC: http://{host}:{server.server_address[1]}")
    console.print(f"REST API: http://{host}:{api_port}/v1  (docs: http://{host}:{api_port}/docs)")
    console.print(f"Operator API key: {service.operator_key_file}")
    console.print(
        f'Try: curl -H "Authorization: Bearer $(cat {service.operator_key_file})" '
        f"http://{host}:{api_port}/v1/members/me"
    )
    console.print("Ctrl-C stops the node.")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    console.print("Stopping: REST API, then sealing queued transactions and closing the ledger ...")
    api_server.should_exit = True
    api_thread.join(timeout=10)
    server.shutdown()
    service.txm.store.close()
    ledger.close()
    console.print("Stopped.")
