"""``scf-node status``: how the node and the consortium stand, at a glance or as JSON."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from chain.errors import LedgerError
from nodes.commands.common import HomeOption, JsonOption, console, home_of, print_json, reading
from nodes.connect import Connection, database_url, read_runtime
from nodes.home import NodeHome

if TYPE_CHECKING:
    from chain.backends.rpc import RpcLedger
    from chain.ledger import Ledger


def status(
    home_dir: HomeOption = None,
    blocks: Annotated[int, typer.Option(min=1, help="blocks to measure the block rate over")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Head block, block rate, pending transactions, nodes, members, proposals, index lag,
    disk use."""
    home = home_of(home_dir)
    with reading(home) as connection:
        report = collect(connection, blocks)
    if as_json:
        print_json(report)
    else:
        console.print(render(report))


def collect(connection: Connection, window: int) -> dict[str, Any]:
    from nodes.commands import views

    home, ledger, consortium = connection.home, connection.ledger, connection.consortium
    head = ledger.get_block("latest")
    number, timestamp = int(head["number"]), int(head["timestamp"])
    found_members = views.members(consortium)
    found_nodes = views.nodes(consortium)
    indexed = _indexed_block(home)
    return {
        "home": str(home.path),
        "node": {
            "running": connection.node_running,
            # started with --dev: a public faucet key, evm_snapshot/evm_revert open to all
            "dev_mode": bool((read_runtime(home) or {}).get("dev", False))
            if connection.node_running
            else False,
            "rpc_url": connection.rpc_url,
            "api_url": connection.api_url,
            "read_url": connection.read_url,
            # the ledger and read replica as the node supervises them (restarts, exit codes)
            "processes": (read_runtime(home) or {}).get("processes", [])
            if connection.node_running
            else [],
        },
        "chain_id": ledger.chain_id,
        "head": {
            "block": number,
            "hash": "0x" + bytes(head["hash"]).hex(),
            "time": views.utc(timestamp),
            "age_seconds": max(0, int(time.time()) - timestamp),
        },
        "block_rate": _block_rate(ledger, number, timestamp, window),
        "pending_transactions": {
            "unconfirmed_in_store": _unconfirmed(home),
            "in_node_pool": _node_pool(ledger),
        },
        "nodes": {
            "allowed": sum(1 for n in found_nodes if n["allowed"]),
            "removed": sum(1 for n in found_nodes if not n["allowed"]),
        },
        "members": {
            "total": len(found_members),
            "by_status": dict(Counter(m["status"] for m in found_members)),
            "by_role": dict(Counter(r for m in found_members for r in m["roles"])),
        },
        "governors": views.governors(consortium),
        "pending_proposals": views.pending_proposal_ids(consortium),
        "read_model": {
            "indexed_block": indexed,
            "lag_blocks": None if indexed is None else max(0, number - indexed),
        },
        "disk_bytes": _disk_use(home.path),
        **_consortium(connection, found_nodes),
    }


def _consortium(connection: Connection, found_nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A consortium home's cluster (``nodes.consortium.cluster``); nothing for a single node."""
    from nodes.consortium.descriptor import is_consortium

    if not is_consortium(connection.home):
        return {}
    from nodes.consortium.cluster import view

    return {"consortium": view(connection, found_nodes)}


def _block_rate(ledger: Ledger, head: int, head_time: int, window: int) -> dict[str, Any]:
    """Blocks and transactions per minute. The home's running node counts what it sealed
    over the last minute of its machine's monotonic clock: block timestamps jump with time
    travel, and stand still while a restarted ledger catches up with them. An external
    network's blocks carry its validators' clocks: there the last ``window`` blocks' own
    timestamps measure it. A stopped node seals nothing."""
    from chain.backends.rpc import RpcLedger

    if not isinstance(ledger, RpcLedger):  # the home's own ledger, opened by this command
        return _rate("stopped", 0, 0, 0)
    produced = _node_production(ledger)
    if produced is not None:
        seconds = round(float(produced["seconds"]), 1)
        return _rate("node", seconds, int(produced["blocks"]), int(produced["transactions"]))
    first = max(0, head - window)
    span = head_time - int(ledger.get_block(first)["timestamp"])
    transactions = sum(
        len(ledger.get_block(n).get("transactions", [])) for n in range(first + 1, head + 1)
    )
    return _rate("block timestamps", span, head - first, transactions)


def _rate(measured_by: str, seconds: float, blocks: int, transactions: int) -> dict[str, Any]:
    def per_minute(count: int) -> float | None:
        return None if seconds <= 0 else round(count * 60 / seconds, 2)

    return {
        "measured_by": measured_by,
        "blocks": blocks,
        "seconds": seconds,
        "blocks_per_minute": per_minute(blocks),
        "transactions": transactions,
        "transactions_per_minute": per_minute(transactions),
    }


def _node_production(ledger: RpcLedger) -> dict[str, Any] | None:
    """What the node sealed lately, as it counts it (``scf_blockProduction``); None from a
    node that does not (an external network)."""
    from web3.types import RPCEndpoint

    try:
        response = ledger.w3.provider.make_request(RPCEndpoint("scf_blockProduction"), [])
    except LedgerError:
        return None
    answer = response.get("result")
    return answer if isinstance(answer, dict) else None


def _unconfirmed(home: NodeHome) -> int:
    """Signed transactions the store holds without a receipt (re-sent when the node starts)."""
    from chain.txstore import TxStatus

    path = home.path / "transactions.db"
    if not path.exists():
        return 0
    # Plain SQL, not TxStore: status must never create or change the node's store.
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT count(*) FROM transactions WHERE status = ?", (TxStatus.PENDING.value,)
        ).fetchone()
    except sqlite3.OperationalError:
        return 0  # created but empty: no transactions table yet
    finally:
        db.close()
    return int(row[0])


def _node_pool(ledger: Ledger) -> int | None:
    """Transactions waiting in the running node's pool, where the node reports it
    (``txpool_status``); None when it does not. A stopped node's pool is empty."""
    from web3.types import RPCEndpoint

    from chain.backends.rpc import RpcLedger

    if not isinstance(ledger, RpcLedger):
        return 0
    try:
        response = ledger.w3.provider.make_request(RPCEndpoint("txpool_status"), [])
    except LedgerError:
        return None
    answer = response.get("result")
    if not isinstance(answer, dict):
        return None  # "method not found": the node keeps its pool to itself
    return int(str(answer["pending"]), 0) + int(str(answer["queued"]), 0)


def _indexed_block(home: NodeHome) -> int | None:
    """The read model's indexer cursor; None when the node has not created the read model."""
    from sqlalchemy import create_engine, inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from api.readmodel.indexer import CURSOR_ID
    from api.readmodel.models import IndexerCursor

    url = database_url(home)
    if url == f"sqlite:///{home.path / 'scf.db'}" and not (home.path / "scf.db").exists():
        return None
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(IndexerCursor.__tablename__):
            return None
        with engine.connect() as db:
            row = db.execute(
                select(IndexerCursor.block_number).where(IndexerCursor.id == CURSOR_ID)
            ).first()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return None if row is None else int(row[0])


def _disk_use(path: Path) -> dict[str, int]:
    """Bytes by top-level part of the home, and the total."""
    use: dict[str, int] = {}
    for entry in sorted(path.iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        use[entry.name] = sum(_size_of(p) for p in files)
    use["total"] = sum(use.values())
    return use


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # a WAL file checkpointed away meanwhile
        return 0


def render(report: dict[str, Any]) -> Table:
    head, rate = report["head"], report["block_rate"]
    pending, model = report["pending_transactions"], report["read_model"]
    node = report["node"]
    out = Table(title=f"SCF Chain — {report['home']}", show_header=False)
    out.add_column("what", style="bold")
    out.add_column("value")
    running = f"running, JSON-RPC {node['rpc_url']}" if node["running"] else "stopped"
    out.add_row("node", running)
    if node["dev_mode"]:
        out.add_row(
            "mode",
            "[bold red]DEVELOPMENT (--dev)[/bold red]: public faucet key, evm_snapshot/"
            "evm_revert open on the JSON-RPC; not for real money",
        )
    if node["running"] and node["api_url"]:
        replica = f", read replica {node['read_url']}" if node["read_url"] else ", no read replica"
        out.add_row("REST API", f"{node['api_url']}{replica}")
    if node["processes"]:
        out.add_row("processes", "; ".join(_process_line(p) for p in node["processes"]))
    out.add_row("chain", str(report["chain_id"]))
    out.add_row("head", f"block {head['block']} at {head['time']} ({head['age_seconds']} s ago)")
    out.add_row("block rate", _render_rate(rate))
    pool = "unknown" if pending["in_node_pool"] is None else pending["in_node_pool"]
    out.add_row(
        "pending transactions",
        f"{pending['unconfirmed_in_store']} unconfirmed in the store, {pool} in the node's pool",
    )
    out.add_row(
        "nodes", f"{report['nodes']['allowed']} allowed, {report['nodes']['removed']} removed"
    )
    members = report["members"]
    by = ", ".join(f"{k} {v}" for k, v in {**members["by_status"], **members["by_role"]}.items())
    out.add_row("members", f"{members['total']} ({by})")
    weights = (f"{g['address']} ({g['weight']})" for g in report["governors"])
    out.add_row("governors", ", ".join(weights))
    out.add_row("pending proposals", ", ".join(map(str, report["pending_proposals"])) or "none")
    lag = (
        "no read model yet (the node has not run)"
        if model["indexed_block"] is None
        else f"indexed to block {model['indexed_block']}, {model['lag_blocks']} behind"
    )
    out.add_row("read model", lag)
    if "consortium" in report:
        _render_cluster(out, report["consortium"])
    disk = report["disk_bytes"]
    parts = ", ".join(f"{k} {_size(v)}" for k, v in disk.items() if k != "total")
    out.add_row("disk", f"{_size(disk['total'])} ({parts})")
    return out


def _render_cluster(out: Table, cluster: dict[str, Any]) -> None:
    role = cluster["role"]
    if cluster["halted"]:
        role = f"[bold red]HALTED[/bold red]: {cluster['halted']}"
    out.add_row("consortium role", str(role))
    out.add_row("minter", cluster["minter"] or "none elected")
    out.add_row("log head", "unknown" if cluster["log_head"] is None else str(cluster["log_head"]))
    etcd = ", ".join(
        f"{e['endpoint']} {'healthy' if e['healthy'] else '[red]unhealthy[/red]'}"
        for e in cluster["etcd"]
    )
    out.add_row("etcd", etcd or "unknown (the node is stopped)")
    for node in cluster["nodes"] + cluster["other_nodes"]:
        listed = "" if node["allowed"] else " (not on the allow-list)"
        out.add_row(f"node {node['id'][:12]}…", f"{node['endpoint']}{listed}: {live_state(node)}")
    if cluster["heartbeats_error"]:
        out.add_row("heartbeats", f"[yellow]not read[/yellow]: {cluster['heartbeats_error']}")
    if cluster["refused_heartbeats"]:
        refused = "; ".join(cluster["refused_heartbeats"])
        out.add_row(
            "heartbeats", f"[red]refused[/red] {len(cluster['refused_heartbeats'])}: {refused}"
        )


def live_state(node: dict[str, Any]) -> str:
    """A node as its heartbeat in etcd shows it (``nodes.consortium.cluster``)."""
    if node["state"] == "gone":
        return "[yellow]gone[/yellow] (no heartbeat in etcd)"
    if node["state"] != "live":
        return "unknown"
    role = node["role"]
    if node["halted"]:
        role = f"[bold red]HALTED[/bold red] ({node['halted']})"
    lag = "unknown" if node["lag"] is None else node["lag"]
    return f"{role}, head {node['head']}, lag {lag}"


def _process_line(process: dict[str, Any]) -> str:
    line = f"{process['name']} {process['state']}"
    if process["pid"] is not None:
        line += f" (pid {process['pid']})"
    if process["restarts"] or process["last_exit_code"] is not None:
        line += f", restarted {process['restarts']}x, last exit code {process['last_exit_code']}"
    return line


def _render_rate(rate: dict[str, Any]) -> str:
    if rate["measured_by"] == "stopped":
        return "none: the node is stopped"
    measured = (
        f"sealed in the last {rate['seconds']:.0f} s"
        if rate["measured_by"] == "node"
        else f"last {rate['blocks']} blocks, {rate['seconds']} s of block time"
    )
    return (
        f"{rate['blocks_per_minute']} blocks/min, {rate['transactions_per_minute']} tx/min "
        f"({measured})"
    )


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
