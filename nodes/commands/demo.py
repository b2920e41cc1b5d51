"""``scf-node demo``: the whole story on a node (``nodes.demo`` tells it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def demo_command(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="an empty directory for the demo node (default: a temporary one)"
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", help="tell the story on this running node instead (needs --home)"
        ),
    ] = None,
    rpc_url: Annotated[
        str | None, typer.Option("--rpc-url", help="the running node's JSON-RPC (dev mode)")
    ] = None,
    consortium: Annotated[
        bool,
        typer.Option(
            "--consortium",
            help="three institutions on loopback (etcd + a node each; --home: the directory "
            "for their homes); the minter is killed mid-story; every node is checked",
        ),
    ] = False,
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            help="with --consortium: tell the story on the local consortium already running "
            "from this directory (its local-consortium.json) instead of bringing one up; "
            "it is left running",
        ),
    ] = None,
) -> None:
    """The whole story — join, invoices, certificate down three tiers, discount, fraud
    attempt, maturity, repayment, redemption — checked figure by figure; then a member
    portal user for each company, with the portal's address and their first sign-in."""
    import httpx

    from api.client import ApiError
    from nodes.demo import DemoMismatch, run_demo
    from nodes.runtime.dev_node import ChildNodeFailed

    console = Console()
    if consortium:
        _consortium_demo(home, api_url, cluster, console)
        return
    if cluster is not None:
        console.print("[red]--cluster goes with --consortium[/red]")
        raise typer.Exit(2)
    try:
        run_demo(home, api_url, rpc_url, console)
    except (DemoMismatch, ApiError, ChildNodeFailed, httpx.HTTPError) as exc:
        console.print(f"[red]Demo FAILED:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print("[green]Demo complete:[/green] every figure matched.")


def _consortium_demo(
    directory: Path | None, api_url: str | None, cluster: Path | None, console: Console
) -> None:
    import httpx

    from api.client import ApiError
    from nodes.consortium.local_cluster import LocalClusterError
    from nodes.consortium_demo import run_consortium_demo
    from nodes.demo import DemoMismatch

    if api_url is not None:
        console.print("[red]--consortium brings up its own nodes: no --api-url[/red]")
        raise typer.Exit(2)
    if cluster is not None and directory is not None:
        console.print("[red]--cluster names a running consortium: no --home[/red]")
        raise typer.Exit(2)
    try:
        failover = run_consortium_demo(directory, console, running=cluster)
    except (DemoMismatch, ApiError, LocalClusterError, httpx.HTTPError) as exc:
        console.print(f"[red]Demo FAILED:[/red] {exc}")
        raise typer.Exit(1) from None
    assert failover is not None  # the story always kills the minter
    console.print(
        f"[green]Consortium demo complete:[/green] every figure matched on every node; "
        f"after kill -9 of the minter (the {failover.killed} node), the "
        f"{failover.new_minter} node minted within {failover.seconds:.1f} s."
    )
