"""The ``scf-node`` command line.

``start`` runs the embedded ledger with its JSON-RPC on a home directory,
initializing the home (governor keystore, genesis, contracts) on first run.
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
from rich.table import Table

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.credit_code import make_credit_code
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.http import make_server, serve_in_background
from chain.roles import Role
from nodes.home import DEV_PASSPHRASE, NodeHome, default_home

app = typer.Typer(help="Run and administer an SCF Chain consortium node.", no_args_is_help=True)
console = Console()


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


@app.command()
def start(
    home_dir: Annotated[
        Path | None, typer.Option("--home", help="node home (default $SCF_HOME or ./.scf)")
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: evm_* methods, fixed passphrase")
    ] = False,
    host: Annotated[str, typer.Option(help="JSON-RPC listen address")] = "127.0.0.1",
    rpc_port: Annotated[int, typer.Option(help="JSON-RPC port")] = 8545,
    chain_id: Annotated[int, typer.Option(help="chain id of a new consortium")] = 8_888,
) -> None:
    """Run the embedded ledger and its JSON-RPC; initialize the home on first run."""
    home = NodeHome(home_dir or default_home())
    if not home.is_initialized():
        _initialize(home, dev, chain_id)
    settings = home.read_settings()
    ledger = EmbeddedLedger(home.chain_dir, chain_id=settings["chain_id"], dev=dev)
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
    console.print(f"JSON-RPC: http://{host}:{server.server_address[1]}  (Ctrl-C stops the node)")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    console.print("Stopping: sealing queued transactions and closing the ledger ...")
    server.shutdown()
    ledger.close()
    console.print("Stopped.")
