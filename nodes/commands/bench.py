"""``scf-node bench``: the benchmark's options and its tables; ``scripts.bench`` measures
(docs/decisions/0014: the command line may call the developer scripts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scripts.bench.overload_results import OverloadOptions, render_overload
from scripts.bench.results import BenchOptions, ConsortiumOptions, render


def bench(
    engine: Annotated[
        bool,
        typer.Option(
            "--engine",
            help="only the engine paths (a)-(d) and restarts; skip (e) through the REST API, "
            "reads under load and scale",
        ),
    ] = False,
    transfers: Annotated[
        int | None,
        typer.Option(
            help=f"transfers for paths (a), (b), (c), (e) [default: {BenchOptions.transfers}]; "
            f"with --consortium, through each set-up [default: {ConsortiumOptions.transfers}]"
        ),
    ] = None,
    naive_transfers: Annotated[int, typer.Option(help="transfers for the slow path (d)")] = (
        BenchOptions.naive_transfers
    ),
    holders: Annotated[int, typer.Option(help="sending accounts / client threads of (b), (c)")] = (
        BenchOptions.holders
    ),
    clients: Annotated[
        int | None,
        typer.Option(
            help=f"concurrent HTTP clients of (e) [default: {BenchOptions.rest_clients}]; "
            f"with --consortium, holders and clients [default: {ConsortiumOptions.clients}]"
        ),
    ] = None,
    readers: Annotated[int, typer.Option(help="concurrent readers beside (e)'s writers")] = (
        BenchOptions.readers
    ),
    scale: Annotated[
        tuple[int, int],
        typer.Option(help="certificates on the ledger for the scale comparison (small large)"),
    ] = BenchOptions.scale_certificates,
    rounds: Annotated[
        int,
        typer.Option(min=1, help="runs of (a), (d) and (e), taking turns (median kept)"),
    ] = BenchOptions.rounds,
    scale_rounds: Annotated[
        int,
        typer.Option(min=1, help="runs of (a) on each scale size, taking turns (median kept)"),
    ] = BenchOptions.scale_rounds,
    overload: Annotated[
        bool,
        typer.Option(
            "--overload",
            help="instead: flood a node (write bursts, event streams, hostile and slow bodies) "
            "and measure the other members' reads and writes, the refusals, and that no write "
            "was lost or doubled",
        ),
    ] = False,
    steady_members: Annotated[
        int, typer.Option(min=1, help="--overload: members reading and writing throughout")
    ] = OverloadOptions.steady_members,
    flood_members: Annotated[
        int, typer.Option(min=1, help="--overload: members flooding the node")
    ] = OverloadOptions.flood_members,
    flood_seconds: Annotated[
        float, typer.Option(min=1, help="--overload: how long the flood lasts")
    ] = OverloadOptions.flood_seconds,
    consortium: Annotated[
        bool,
        typer.Option(
            "--consortium",
            help="instead: end-to-end transfers through three institutions (etcd + a node "
            "each) beside the single node, and failover times (kill -9 of the minter)",
        ),
    ] = False,
    kills: Annotated[
        int, typer.Option(min=1, help="--consortium: kills of the minter for failover")
    ] = ConsortiumOptions.kills,
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            help="--consortium: measure the local consortium already running from this "
            "directory (its local-consortium.json) instead of bringing one up",
        ),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="a tiny run, for tests")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """Measure the platform on split transfers of certificates and print the tables."""
    if cluster is not None and not consortium:
        Console().print("[red]--cluster goes with --consortium[/red]")
        raise typer.Exit(2)
    if consortium:
        sizes = (
            ConsortiumOptions.quick()
            if quick
            else ConsortiumOptions(
                transfers=transfers or ConsortiumOptions.transfers,
                clients=clients or ConsortiumOptions.clients,
                kills=kills,
            )
        )
        _consortium(sizes, json_out, cluster)
        return
    if overload:
        flooded = (
            OverloadOptions.quick()
            if quick
            else OverloadOptions(
                steady_members=steady_members,
                flood_members=flood_members,
                flood_seconds=flood_seconds,
            )
        )
        _overload(flooded, json_out)
        return
    options = (
        BenchOptions.quick()
        if quick
        else BenchOptions(
            transfers=transfers or BenchOptions.transfers,
            naive_transfers=naive_transfers,
            holders=holders,
            rest_clients=clients or BenchOptions.rest_clients,
            readers=readers,
            scale_certificates=scale,
            scale_rounds=scale_rounds,
            rounds=rounds,
        )
    )
    from scripts.bench.benchmark import run_benchmark

    console = Console()
    with console.status("benchmark") as status:
        report = run_benchmark(options, lambda msg: status.update(msg), engine_only=engine)
    for table in render(report):
        console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", "utf-8")


def _overload(options: OverloadOptions, json_out: Path | None) -> None:
    from scripts.bench.overload import run_overload

    console = Console()
    with console.status("overload benchmark") as status:
        report = run_overload(options, lambda msg: status.update(msg))
    for table in render_overload(report):
        console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", "utf-8")
    if not report.intact:
        console.print("[red]a write was lost or applied twice, or value was not conserved[/red]")
        raise typer.Exit(1)


def _consortium(options: ConsortiumOptions, json_out: Path | None, cluster: Path | None) -> None:
    import tempfile

    from scripts.bench.consortium import render_consortium, run_consortium_bench

    console = Console()
    with (
        tempfile.TemporaryDirectory(prefix="scf-bench-consortium-") as root,
        console.status("consortium benchmark") as status,
    ):
        report = run_consortium_bench(
            Path(root), options, lambda msg: status.update(msg), running=cluster
        )
    for table in render_consortium(report):
        console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", "utf-8")
