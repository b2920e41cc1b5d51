"""``scf-node bench --engine``: how fast the ledger applies the SPEC's workload (SPEC 7).

The workload (``nodes.bench_workload``) is split transfers of credit certificates between
members, signed by the holders' accounts with explicit gas. One run measures the same
transfers along four paths:

(a) engine limit: pre-signed transactions submitted straight into an ``EmbeddedNode`` and
    sealed in blocks (validation, execution and the durable LMDB commit; no RPC, no signing);
(b) the transaction manager (as every writer uses it: local nonces, signing, the signed
    transaction stored durably before it is sent, receipt waiting) over the in-process
    ``EmbeddedLedger``: one client thread per holder, a window of transfers in flight;
(c) the same clients with the transaction manager over the node's JSON-RPC on HTTP
    (web3.py ``HTTPProvider``);
(d) the naive baseline: web3.py + eth-tester with auto-mine, contract ``.transact()`` and no
    explicit gas (web3.py estimates it), one transaction after the other;

and the restart time of the embedded ledger at two chain lengths. ``scripts/bench.py`` runs
the same code.
"""

from __future__ import annotations

import itertools
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from web3 import HTTPProvider, Web3

from chain.artifacts import load_artifact
from chain.backends.embedded import EmbeddedLedger
from chain.backends.tester import TesterLedger
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import EmbeddedNode, NodeConfig
from chain.errors import ScfError
from chain.ledger import Ledger, Web3Ledger
from chain.txmanager import PendingTx, TransactionManager
from chain.txstore import TxStore
from nodes.bench_results import BenchOptions, BenchReport, PathResult, RestartResult, render
from nodes.bench_workload import (
    TRANSFER_AMOUNT,
    TRANSFER_GAS,
    Holder,
    Workload,
    build_workload,
)

CHAIN_ID = 8_888
RECEIPT_TIMEOUT = 120.0

Progress = Callable[[str], None]


class BenchmarkFailed(ScfError):
    """A benchmark run did not confirm every transfer it sent."""

    code = "benchmark_failed"


# ---- (a) the engine --------------------------------------------------------------------------


def _node_config(store: Path, options: BenchOptions) -> NodeConfig:
    return NodeConfig(
        data_dir=store,
        chain_id=CHAIN_ID,
        block_max_transactions=options.block_max_transactions,
        block_time=options.block_time,
    )


def _count_successes(node: EmbeddedNode, first_block: int) -> int:
    ok = 0
    for number in range(first_block, node.head.block_number + 1):
        receipts = node.sealed_block(number).receipts
        ok += sum(1 for r in receipts if r.state_root == b"\x01")
    return ok


def run_engine(store: Path, workload: Workload, options: BenchOptions) -> PathResult:
    """(a): pre-signed transfers into the node's queue, sealed in blocks, committed."""
    node = EmbeddedNode(_node_config(store, options))
    try:
        fees = {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        streams = []
        for holder, share in zip(workload.holders, workload.shares(options.transfers), strict=True):
            nonce = node.nonce_of(bytes.fromhex(holder.signer.address[2:]), pending=False)
            streams.append(
                [workload.sign(holder, nonce + i, CHAIN_ID, fees)[0] for i in range(share)]
            )
        # round robin over the senders, as concurrent clients would interleave
        raws = [raw for group in itertools.zip_longest(*streams) for raw in group if raw]
        first_block = node.head.block_number + 1
        node.start()
        start = time.perf_counter()
        hashes = [node.submit(raw) for raw in raws]
        for tx_hash in hashes:
            if not node.wait_for_block_after(tx_hash, RECEIPT_TIMEOUT):
                raise BenchmarkFailed("the engine did not seal the benchmark transfers in time")
        seconds = time.perf_counter() - start
        ok = _count_successes(node, first_block)
        if ok != len(raws):
            raise BenchmarkFailed(f"engine: {ok} of {len(raws)} transfers succeeded")
        return PathResult("a", "engine limit: node.submit, sealed", len(raws), seconds)
    finally:
        node.stop()


# ---- (b), (c) concurrent clients through the transaction manager ---------------------------


def _client(
    txm: TransactionManager,
    workload: Workload,
    holder: Holder,
    count: int,
    window: int,
    latencies: list[float],
) -> None:
    """Send ``count`` transfers of ``holder`` through ``txm`` (signed, stored durably, sent),
    ``window`` in flight, and wait for every receipt."""
    in_flight: deque[tuple[PendingTx, float]] = deque()
    to, data = workload.certificates.address, workload.calldata(holder)

    def settle() -> None:
        pending, sent = in_flight.popleft()
        txm.wait(pending)  # a revert raises ContractRevert
        latencies.append((time.perf_counter() - sent) * 1000)

    for _ in range(count):
        sent = time.perf_counter()
        in_flight.append((txm.submit(holder.signer, to, data, gas=TRANSFER_GAS), sent))
        if len(in_flight) >= window:
            settle()
    while in_flight:
        settle()


def run_clients(
    key: str,
    label: str,
    ledger: Ledger,
    store: Path,
    workload: Workload,
    options: BenchOptions,
) -> PathResult:
    """One client thread per holder, all through one transaction manager over ``ledger``
    with a durable transaction store in ``store`` (as the API uses it)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    txs = TxStore(store / "transactions.sqlite")
    txm = TransactionManager(ledger, txs, receipt_timeout=RECEIPT_TIMEOUT)

    def work(holder: Holder, count: int) -> None:
        try:
            _client(txm, workload, holder, count, options.window, latencies)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    shares = workload.shares(options.transfers)
    threads = [
        threading.Thread(target=work, args=(holder, share), name=f"bench-client-{i}")
        for i, (holder, share) in enumerate(zip(workload.holders, shares, strict=True))
    ]
    try:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        txs.close()
    if errors:
        raise BenchmarkFailed(f"{label}: {errors[0]!r}") from errors[0]
    return PathResult(key, label, sum(shares), seconds, latencies)


def _embedded(store: Path, options: BenchOptions) -> EmbeddedLedger:
    return EmbeddedLedger(
        store,
        chain_id=CHAIN_ID,
        block_time=options.block_time,
        block_max_transactions=options.block_max_transactions,
    )


def run_in_process(store: Path, workload: Workload, options: BenchOptions) -> PathResult:
    """(b): the transaction manager over the in-process EmbeddedLedger."""
    ledger = _embedded(store, options)
    try:
        label = "tx manager, in-process ledger"
        return run_clients("b", label, ledger, store, workload, options)
    finally:
        ledger.close()


def run_json_rpc(store: Path, workload: Workload, options: BenchOptions) -> PathResult:
    """(c): the transaction manager over the node's JSON-RPC on HTTP, on a free port."""
    ledger = _embedded(store, options)
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    client = Web3Ledger(Web3(HTTPProvider(f"http://127.0.0.1:{server.server_address[1]}")))
    try:
        label = "tx manager, JSON-RPC over HTTP"
        return run_clients("c", label, client, store, workload, options)
    finally:
        server.shutdown()
        server.server_close()
        ledger.close()


# ---- (d) the naive baseline ------------------------------------------------------------------


def run_naive(options: BenchOptions, progress: Progress) -> PathResult:
    """(d): web3.py + eth-tester, auto-mine, ``.transact()`` with gas estimated by web3.py."""
    ledger = TesterLedger()
    try:
        progress("setting up the consortium on eth-tester for the naive baseline")
        workload = build_workload(ledger, min(options.holders, 2))
        w3 = ledger.w3
        for holder in workload.holders:
            ledger.tester.add_account("0x" + holder.signer.key.hex())
        contract = w3.eth.contract(
            address=workload.certificates.address,
            abi=load_artifact("CreditCertificates").abi,
        )
        progress(f"(d) naive baseline: {options.naive_transfers} transfers")
        latencies: list[float] = []
        holders = itertools.cycle(workload.holders)
        start = time.perf_counter()
        for _ in range(options.naive_transfers):
            holder = next(holders)
            sent = time.perf_counter()
            tx_hash = contract.functions.splitTransfer(
                holder.certificate_id, holder.recipient_id, TRANSFER_AMOUNT
            ).transact({"from": holder.signer.address})
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
            latencies.append((time.perf_counter() - sent) * 1000)
            if receipt["status"] != 1:
                raise BenchmarkFailed(f"naive transfer 0x{bytes(tx_hash).hex()} reverted")
        seconds = time.perf_counter() - start
        return PathResult(
            "d",
            "naive: web3.py + eth-tester",
            options.naive_transfers,
            seconds,
            latencies,
        )
    finally:
        ledger.close()


# ---- restart time ----------------------------------------------------------------------------


def measure_restarts(
    store: Path, options: BenchOptions, progress: Progress, repeats: int = 5
) -> list[RestartResult]:
    """Open time of an EmbeddedNode over ``store`` grown (with empty blocks) to each length."""
    results: list[RestartResult] = []
    for target in sorted(options.restart_blocks):
        node = EmbeddedNode(_node_config(store, options))
        try:
            head = node.head.block_number
            if head < target:
                progress(f"restart: sealing {target - head} empty blocks to reach {target}")
            while head < target:
                head = node.mine().block_number
        finally:
            node.stop()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            node = EmbeddedNode(_node_config(store, options))
            opened = node.head.block_number
            times.append(time.perf_counter() - start)
            node.stop()
            if opened != head:
                raise BenchmarkFailed(f"reopened at block {opened}, expected {head}")
        results.append(RestartResult(head, statistics.median(times)))
    return results


# ---- the whole run ---------------------------------------------------------------------------


def run_benchmark(options: BenchOptions, progress: Progress = lambda _: None) -> BenchReport:
    """Set up the workload once on an embedded ledger, copy its store for each path, measure."""
    report = BenchReport(options)
    with tempfile.TemporaryDirectory(prefix="scf-bench-") as tmp:
        root = Path(tmp)
        progress(f"setting up the consortium and {options.holders} certificate holders")
        setup = EmbeddedLedger(root / "setup", chain_id=CHAIN_ID, dev=True, block_time=0.002)
        try:
            workload = build_workload(setup, options.holders)
        finally:
            setup.close()

        def copy(name: str) -> Path:
            target = root / name
            shutil.copytree(root / "setup", target)
            return target

        progress(f"(a) engine limit: {options.transfers} pre-signed transfers")
        report.paths["a"] = run_engine(copy("a"), workload, options)
        progress(f"(b) in-process ledger: {options.transfers} transfers")
        report.paths["b"] = run_in_process(copy("b"), workload, options)
        progress(f"(c) JSON-RPC over HTTP: {options.transfers} transfers")
        report.paths["c"] = run_json_rpc(copy("c"), workload, options)
        report.paths["d"] = run_naive(options, progress)
        report.restarts = measure_restarts(copy("restart"), options, progress)
    return report


def bench(
    engine: Annotated[
        bool,
        typer.Option(
            "--engine", help="the engine part (a)-(d) only; the REST part is not measured yet"
        ),
    ] = False,
    transfers: Annotated[int, typer.Option(help="transfers for paths (a), (b), (c)")] = (
        BenchOptions.transfers
    ),
    naive_transfers: Annotated[int, typer.Option(help="transfers for the slow path (d)")] = (
        BenchOptions.naive_transfers
    ),
    holders: Annotated[int, typer.Option(help="sending accounts / client threads")] = (
        BenchOptions.holders
    ),
    quick: Annotated[bool, typer.Option("--quick", help="a tiny run, for tests")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """Measure the ledger on split transfers of certificates (SPEC 7) and print a table."""
    options = (
        BenchOptions.quick()
        if quick
        else BenchOptions(transfers=transfers, naive_transfers=naive_transfers, holders=holders)
    )
    console = Console()
    with console.status("benchmark") as status:
        report = run_benchmark(options, progress=lambda msg: status.update(msg))
    for table in render(report):
        console.print(table)
    if not engine:
        console.print("End to end through the REST API: not measured yet (arrives with the API).")
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", "utf-8")
