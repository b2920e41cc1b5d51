"""The engine paths of ``scf-node bench``, on the split-transfer workload:

(a) engine limit: pre-signed transactions submitted straight into an ``EmbeddedNode`` and
    sealed in blocks (validation, execution and the durable LMDB commit; no RPC, no signing);
(b) the transaction manager (as every writer uses it: local nonces, signing, the signed
    transaction stored durably before it is sent, receipt waiting) over the in-process
    ``EmbeddedLedger``: one client thread per holder, a window of transfers in flight;
(c) the same clients with the transaction manager over the node's JSON-RPC on HTTP
    (web3.py ``HTTPProvider``);
(d) the naive baseline: web3.py + eth-tester with auto-mine, contract ``.transact()`` and no
    explicit gas (web3.py estimates it), one transaction after the other;

and the restart time of the embedded ledger at two chain lengths.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from web3 import HTTPProvider, Web3

from chain.artifacts import load_artifact
from chain.backends.embedded import EmbeddedLedger
from chain.backends.tester import TesterLedger
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import EmbeddedNode, NodeConfig
from chain.ledger import Ledger, Web3Ledger
from chain.txmanager import PendingTx, TransactionManager
from chain.txstore import TxStore
from scripts.bench.results import BenchmarkFailed, BenchOptions, PathResult, RestartResult
from scripts.bench.workload import (
    TRANSFER_AMOUNT,
    TRANSFER_GAS,
    Holder,
    Workload,
    build_workload,
)

CHAIN_ID = 8_888
RECEIPT_TIMEOUT = 120.0

Progress = Callable[[str], None]


# ---- (a) the engine --------------------------------------------------------------------------


def node_config(store: Path, options: BenchOptions) -> NodeConfig:
    return NodeConfig(
        data_dir=store,
        chain_id=CHAIN_ID,
        block_max_transactions=options.block_max_transactions,
        block_time=options.block_time,
    )


def count_successes(node: EmbeddedNode, first_block: int) -> int:
    ok = 0
    for number in range(first_block, node.head.block_number + 1):
        receipts = node.sealed_block(number).receipts
        ok += sum(1 for r in receipts if r.state_root == b"\x01")
    return ok


def run_engine(
    store: Path,
    workload: Workload,
    options: BenchOptions,
    key: str = "a",
    label: str = "engine limit: node.submit, sealed",
) -> PathResult:
    """(a): pre-signed transfers into the node's queue, sealed in blocks, committed."""
    node = EmbeddedNode(node_config(store, options))
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
        ok = count_successes(node, first_block)
        if ok != len(raws):
            raise BenchmarkFailed(f"engine: {ok} of {len(raws)} transfers succeeded")
        return PathResult(key, label, len(raws), seconds)
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
    """(d): web3.py + eth-tester, auto-mine, ``.transact()`` with gas estimated by web3.py
    (through py-evm's own estimator: the test backend's faster one is this project's)."""
    ledger = TesterLedger(stock_gas_estimates=True)
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


def open_seconds(store: Path, options: BenchOptions, head: int, repeats: int = 15) -> float:
    """Median time to open an ``EmbeddedNode`` over ``store`` (whose head is ``head``).
    An open is quick, so a hiccup of the machine's moved a median of five opens; fifteen
    cost little more."""
    return open_seconds_in_turns([(store, head)], options, repeats)[0]


def open_seconds_in_turns(
    stores: Sequence[tuple[Path, int]], options: BenchOptions, repeats: int = 15
) -> list[float]:
    """``open_seconds`` of each (store, head), the stores opened in turn: an open is quick,
    and timed store after store the opens moved with the machine's moment as much as with
    the store."""
    times: list[list[float]] = [[] for _ in stores]
    for _ in range(repeats):
        for (store, head), found in zip(stores, times, strict=True):
            found.append(_open_once(store, options, head))
    return [statistics.median(found) for found in times]


def _open_once(store: Path, options: BenchOptions, head: int) -> float:
    start = time.perf_counter()
    node = EmbeddedNode(node_config(store, options))
    opened = node.head.block_number
    seconds = time.perf_counter() - start
    node.stop()
    if opened != head:
        raise BenchmarkFailed(f"reopened at block {opened}, expected {head}")
    return seconds


def measure_restarts(store: Path, options: BenchOptions, progress: Progress) -> list[RestartResult]:
    """Open time of an EmbeddedNode over ``store`` grown (with empty blocks) to each length."""
    results: list[RestartResult] = []
    for target in sorted(options.restart_blocks):
        node = EmbeddedNode(node_config(store, options))
        try:
            head = node.head.block_number
            if head < target:
                progress(f"restart: sealing {target - head} empty blocks to reach {target}")
            while head < target:
                head = node.mine().block_number
        finally:
            node.stop()
        results.append(RestartResult(head, open_seconds(store, options, head)))
    return results
