"""``scf-node verify``: re-execute the stored ledger from genesis (also while the node
runs) and reconcile the read model with chain state."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chain.errors import ScfError
from nodes.commands.common import HomeOption, console
from nodes.connect import connected, database_url
from nodes.home import RPC_LEDGER, NodeHome, default_home


def verify(home_dir: HomeOption = None) -> None:
    """Re-execute every block from genesis and compare state roots, receipts and gas used;
    check the read model against chain state. (An external network verifies its own blocks.)"""
    from chain.embedded.node import store_dir
    from chain.embedded.verify import StoreUnreadable, verify_ledger

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
    from api.readmodel.database import make_engine, session_factory
    from api.readmodel.reconcile import indexed_block, reconcile

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
