"""``scf-node start``: run a home's node until Ctrl-C or SIGTERM.

The embedded ledger and its JSON-RPC in a child process, the indexer and the REST API in
this one, the read replica in another child; a home made on a first start. Before it
writes or starts anything, ``start`` checks the home, the three ports and where the
passphrase comes from, so that a refusal is one line and leaves nothing behind. The node
itself, and how whatever it started is stopped in reverse order however it ends, is
``nodes.runtime.node.NodeRuntime``. On a home made with ``init --ledger-url`` it runs no
ledger and no JSON-RPC server of its own: the indexer, the transaction manager and the
REST API over that network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from chain.errors import ScfError
from nodes.commands.common import HomeOption, console, errors
from nodes.commands.common import passphrase as read_passphrase
from nodes.commands.init import initialize
from nodes.connect import is_claimed
from nodes.home import RPC_LEDGER, NodeHome, default_home
from nodes.runtime import ports
from nodes.runtime.node import HomeTaken, NodeOptions, NodeRuntime, WrongPassphrase
from nodes.runtime.placement import AUTO, UNPLACED, cpus_for, plan


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
    options = NodeOptions(
        dev, host, rpc_host, rpc_port, api_port, read_port, read_replica, tls, chain_id
    )
    make_home = _first_start(home, options, passphrase) if new_home else None
    node = NodeRuntime(
        home, passphrase, options, placement, out=console, err=errors, make_home=make_home
    )
    try:
        with node:  # stops what started, in reverse, however it ends
            node.serve()  # until Ctrl-C or SIGTERM
    except HomeTaken as exc:
        console.print(f"[red]{exc.message}")
        raise typer.Exit(1) from None
    except WrongPassphrase as exc:
        console.print(
            f"[red]{exc.message}[/red] Set SCF_PASSPHRASE to the passphrase the home was made with."
        )
        raise typer.Exit(2) from None
    except ScfError as exc:
        console.print(f"[red]The node cannot start:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print("Stopped.")


def _first_start(home: NodeHome, options: NodeOptions, passphrase: str) -> Callable[[], None]:
    """How a first start makes the home, once it holds the home's claim (``scf-node init``)."""
    return lambda: initialize(home, options.dev, options.chain_id, passphrase, options.rpc_url)


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
