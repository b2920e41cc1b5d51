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
) -> None:
    """The whole story — join, invoices, certificate down three tiers, discount, fraud
    attempt, maturity, repayment, redemption — checked figure by figure; then a member
    portal user for each company, with the portal's address and their first sign-in."""
    import httpx

    from api.client import ApiError
    from nodes.demo import DemoMismatch, run_demo
    from nodes.runtime.dev_node import ChildNodeFailed

    console = Console()
    try:
        run_demo(home, api_url, rpc_url, console)
    except (DemoMismatch, ApiError, ChildNodeFailed, httpx.HTTPError) as exc:
        console.print(f"[red]Demo FAILED:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print("[green]Demo complete:[/green] every figure matched.")
