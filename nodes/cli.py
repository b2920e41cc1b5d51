"""The ``scf-node`` command line.

Today ``start`` deploys a consortium on an in-memory ledger and shows it; the
persistent embedded ledger with JSON-RPC, ``init``, the REST API and the
operator commands arrive with the node, API and node-script issues.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.credit_code import make_credit_code
from chain.deploy import MemberSpec, deploy_consortium
from chain.roles import Role

app = typer.Typer(help="Run and administer an SCF Chain consortium node.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """SCF Chain node scripts."""


@app.command()
def start(
    backend: str = typer.Option("tester", help="ledger backend (today: tester, in memory)"),
) -> None:
    """Deploy the consortium's contracts on a fresh ledger and show the deployment."""
    ledger = open_ledger(backend)
    deployer = Signer.create()
    ledger.fund(deployer.address, 10**21)
    operator = MemberSpec(
        name="SCF Consortium Operator",
        credit_code=make_credit_code("91110000000000001"),
        roles=[Role.AUDITOR],
        account=deployer.address,
    )
    with console.status("Deploying the consortium contracts..."):
        consortium = deploy_consortium(ledger, deployer, operator)
    table = Table(title=f"SCF Chain consortium on the {backend} ledger (chain id {ledger.chain_id})")
    table.add_column("contract")
    table.add_column("address")
    for name, address in consortium.addresses().items():
        table.add_row(name, address)
    console.print(table)
    console.print(
        f"Operator member #{consortium.members.call('memberOf', deployer.address)} "
        f"({operator.name}); governor {deployer.address} in admin mode; "
        f"head block {ledger.block_number()}."
    )
    console.print(
        "[yellow]This ledger lives in memory and ends with this command: the persistent "
        "embedded node, JSON-RPC and the REST API are not built yet.[/yellow]"
    )
