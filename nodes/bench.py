"""``scf-node bench --engine``: how fast the ledger applies the SPEC's workload (SPEC 7).

The workload is split transfers of credit certificates between members: several supplier
members each hold a root certificate (issued by a core enterprise on a bank's line, backed by
a confirmed invoice) and split-transfer small amounts of it to another supplier, each transfer
``splitTransfer(certificateId, toMemberId, amount)`` signed by the holder's account with
explicit gas. One run measures the same transfers along four paths:

(a) engine limit: pre-signed transactions submitted straight into an ``EmbeddedNode`` and
    sealed in blocks (validation, execution and the durable LMDB commit; no RPC, no signing);
(b) the in-process ``EmbeddedLedger`` (web3.py in-process provider): one client thread per
    holder signs, sends raw transactions and waits for receipts, a window of them in flight;
(c) the same clients over the node's JSON-RPC on HTTP (web3.py ``HTTPProvider``);
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from web3 import HTTPProvider, Web3

from chain.accounts import Signer
from chain.artifacts import load_artifact
from chain.backends.embedded import EmbeddedLedger
from chain.backends.tester import TesterLedger
from chain.contract import ContractHandle
from chain.credit_code import make_credit_code
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import EmbeddedNode, NodeConfig
from chain.errors import ScfError
from chain.governance import pass_proposal
from chain.invoice_key import invoice_key
from chain.ledger import Ledger, Web3Ledger
from chain.roles import Role

DAY = 86_400
CHAIN_ID = 8_888
FUNDING_WEI = 10**20
FACE_VALUE = 10**15  # minor units; each holder's root certificate
TRANSFER_AMOUNT = 100  # minor units per split transfer
TRANSFER_GAS = 250_000  # a split transfer uses about 133,000
RECEIPT_TIMEOUT = 120.0

Progress = Callable[[str], None]


class BenchmarkFailed(ScfError):
    """A benchmark run did not confirm every transfer it sent."""

    code = "benchmark_failed"


# ---- options and results -------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    transfers: int = 2_000  # per path (a), (b), (c)
    naive_transfers: int = 100  # path (d) is slow
    holders: int = 8  # sending accounts; one client thread each in (b) and (c)
    window: int = 16  # transactions a client keeps in flight (more only queues: Little's law)
    restart_blocks: tuple[int, ...] = (100, 10_000)
    block_max_transactions: int = 500
    block_time: float = 0.05

    @classmethod
    def quick(cls) -> BenchOptions:
        """A tiny run (seconds of measuring; setting up the consortium takes longer)."""
        return cls(transfers=24, naive_transfers=4, holders=2, window=8, restart_blocks=(30, 150))


@dataclass
class PathResult:
    key: str
    label: str
    transfers: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


@dataclass(frozen=True)
class RestartResult:
    blocks: int
    seconds: float


@dataclass(frozen=True)
class Ratio:
    label: str
    value: float
    target: str
    met: bool | None


@dataclass
class BenchReport:
    options: BenchOptions
    paths: dict[str, PathResult] = field(default_factory=dict)
    restarts: list[RestartResult] = field(default_factory=list)

    def ratios(self) -> list[Ratio]:
        def rate(key: str) -> float:
            return self.paths[key].rate

        found: list[Ratio] = []
        if {"a", "b"} <= self.paths.keys():
            value = rate("b") / rate("a")
            found.append(Ratio("(b) / (a)", value, ">= 0.5", value >= 0.5))
        if {"b", "d"} <= self.paths.keys():
            value = rate("b") / rate("d")
            found.append(Ratio("(b) / (d)", value, ">= 10", value >= 10))
        if {"a", "c"} <= self.paths.keys():
            found.append(Ratio("(c) / (a)", rate("c") / rate("a"), "", None))
        if {"c", "d"} <= self.paths.keys():
            found.append(Ratio("(c) / (d)", rate("c") / rate("d"), "", None))
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "paths": {
                key: {
                    "label": r.label,
                    "transfers": r.transfers,
                    "seconds": r.seconds,
                    "tx_per_s": r.rate,
                    "p50_ms": r.percentile(50),
                    "p95_ms": r.percentile(95),
                }
                for key, r in self.paths.items()
            },
            "ratios": {r.label: r.value for r in self.ratios()},
            "restart_seconds": {str(r.blocks): r.seconds for r in self.restarts},
        }


# ---- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A supplier member that holds a root certificate and splits it to ``recipient_id``."""

    signer: Signer
    member_id: int
    certificate_id: int
    recipient_id: int


@dataclass(frozen=True)
class Workload:
    certificates: ContractHandle
    holders: list[Holder]

    def calldata(self, holder: Holder) -> bytes:
        return self.certificates.encode(
            "splitTransfer", holder.certificate_id, holder.recipient_id, TRANSFER_AMOUNT
        )

    def shares(self, transfers: int) -> list[int]:
        """How many of ``transfers`` each holder sends (as even as possible)."""
        count = len(self.holders)
        return [transfers // count + (1 if i < transfers % count else 0) for i in range(count)]

    def sign(
        self, holder: Holder, nonce: int, chain_id: int, fees: dict[str, int]
    ) -> tuple[bytes, bytes]:
        return holder.signer.sign_transaction(
            {
                "to": self.certificates.address,
                "data": self.calldata(holder),
                "value": 0,
                "gas": TRANSFER_GAS,
                "nonce": nonce,
                "chainId": chain_id,
                **fees,
            }
        )

    def on(self, ledger: Ledger) -> Workload:
        """The same workload seen through another ledger (a copy of the same chain)."""
        handle = ContractHandle(ledger, self.certificates.artifact, self.certificates.address)
        return Workload(handle, self.holders)


_serial = itertools.count(1)


def _company(ledger: Ledger, roles: Sequence[Role]) -> tuple[Signer, MemberSpec]:
    signer = Signer.create()
    ledger.fund(signer.address, FUNDING_WEI)
    code = make_credit_code(f"91440300{next(_serial):09d}")
    return signer, MemberSpec(f"Bench company {code}", code, roles, signer.address)


def _now(ledger: Ledger) -> int:
    return int(ledger.get_block("latest")["timestamp"])


def build_workload(ledger: Ledger, holders: int) -> Workload:
    """Deploy a consortium on ``ledger`` (which can fund accounts) and give ``holders``
    suppliers a certificate each: about 30 + 3 x ``holders`` transactions."""
    if holders < 2:
        raise ValueError("the workload needs at least two holders (they transfer to each other)")
    governor, operator = _company(ledger, [Role.AUDITOR])
    c: Consortium = deploy_consortium(ledger, governor, operator)
    core, core_spec = _company(ledger, [Role.CORE_ENTERPRISE])
    bank, bank_spec = _company(ledger, [Role.FINANCIER])
    suppliers = [_company(ledger, [Role.SUPPLIER]) for _ in range(holders)]
    specs = [core_spec, bank_spec, *(spec for _, spec in suppliers)]
    pass_proposal(
        c.governance,
        governor,
        [(c.members, "admitMember", spec.admit_args()) for spec in specs],
        "Admit the benchmark companies",
    )

    def member_id(signer: Signer) -> int:
        return int(c.members.call("memberOf", signer.address))

    core_id = member_id(core)
    receipt = c.credit_lines.transact(
        bank,
        "grantCreditLine",
        core_id,
        FACE_VALUE * holders,
        _now(ledger) + 365 * DAY,
    )
    line_id = int(c.credit_lines.event_args(receipt, "CreditLineGranted")["lineId"])
    supplier_ids = [member_id(signer) for signer, _ in suppliers]
    result: list[Holder] = []
    for i, (signer, spec) in enumerate(suppliers):
        key = invoice_key(spec.credit_code, "4403231130", f"{next(_serial):08d}")
        issued = _now(ledger)
        c.invoices.transact(
            signer,
            "registerInvoice",
            key,
            core_id,
            FACE_VALUE,
            issued,
            issued + 60 * DAY,
            b"\x11" * 32,
        )
        c.invoices.transact(core, "confirmInvoice", key)
        receipt = c.certificates.transact(
            core,
            "issueCertificate",
            supplier_ids[i],
            FACE_VALUE,
            _now(ledger) + 90 * DAY,
            line_id,
            [key],
        )
        certificate_id = int(c.certificates.event_args(receipt, "CertificateIssued")["id"])
        recipient = supplier_ids[(i + 1) % holders]
        result.append(Holder(signer, supplier_ids[i], certificate_id, recipient))
    return Workload(c.certificates, result)


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
        _block, receipts = node.receipts_of(number)
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


# ---- (b), (c) concurrent clients -------------------------------------------------------------


def _client(
    ledger: Ledger,
    workload: Workload,
    holder: Holder,
    count: int,
    window: int,
    latencies: list[float],
    poll: float,
) -> None:
    """Sign and send ``count`` transfers of ``holder``, ``window`` in flight, wait for all."""
    nonce = ledger.get_transaction_count(holder.signer.address, "latest")
    fees = ledger.fee_params()
    chain_id = ledger.chain_id
    in_flight: deque[tuple[bytes, float]] = deque()

    def settle() -> None:
        tx_hash, sent = in_flight.popleft()
        receipt = ledger.wait_for_transaction_receipt(tx_hash, RECEIPT_TIMEOUT, poll)
        latencies.append((time.perf_counter() - sent) * 1000)
        if receipt["status"] != 1:
            raise BenchmarkFailed(f"transfer 0x{tx_hash.hex()} reverted")

    for i in range(count):
        raw, tx_hash = workload.sign(holder, nonce + i, chain_id, fees)
        sent = time.perf_counter()
        ledger.send_raw_transaction(raw)
        in_flight.append((tx_hash, sent))
        if len(in_flight) >= window:
            settle()
    while in_flight:
        settle()


def run_clients(
    key: str,
    label: str,
    ledger_for_client: Callable[[], Ledger],
    workload: Workload,
    options: BenchOptions,
    poll: float,
) -> PathResult:
    """One thread per holder, each with the ledger ``ledger_for_client`` gives it."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    ledgers = [ledger_for_client() for _ in workload.holders]

    def work(ledger: Ledger, holder: Holder, count: int) -> None:
        try:
            _client(ledger, workload.on(ledger), holder, count, options.window, latencies, poll)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    shares = workload.shares(options.transfers)
    threads = [
        threading.Thread(target=work, args=(ledger, holder, share), name=f"bench-client-{i}")
        for i, (ledger, holder, share) in enumerate(
            zip(ledgers, workload.holders, shares, strict=True)
        )
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise BenchmarkFailed(f"{label}: {errors[0]!r}") from errors[0]
    return PathResult(key, label, sum(shares), seconds, latencies)


def run_in_process(store: Path, workload: Workload, options: BenchOptions) -> PathResult:
    """(b): the in-process EmbeddedLedger, signing included, one client thread per holder."""
    ledger = EmbeddedLedger(
        store,
        chain_id=CHAIN_ID,
        block_time=options.block_time,
        block_max_transactions=options.block_max_transactions,
    )
    try:
        return run_clients(
            "b",
            "in-process EmbeddedLedger",
            lambda: ledger,
            workload,
            options,
            poll=0.01,
        )
    finally:
        ledger.close()


def run_json_rpc(store: Path, workload: Workload, options: BenchOptions) -> PathResult:
    """(c): the same clients through the node's JSON-RPC over HTTP on a free port."""
    ledger = EmbeddedLedger(
        store,
        chain_id=CHAIN_ID,
        block_time=options.block_time,
        block_max_transactions=options.block_max_transactions,
    )
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        return run_clients(
            "c",
            "JSON-RPC over HTTP",
            lambda: Web3Ledger(Web3(HTTPProvider(url))),
            workload,
            options,
            poll=0.01,
        )
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


# ---- output ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render(report: BenchReport) -> list[Table]:
    opts = report.options
    paths = Table(
        title=(
            f"Engine benchmark: split transfers of certificates ({opts.holders} holders, "
            f"explicit gas {TRANSFER_GAS:,}, blocks of <= {opts.block_max_transactions} "
            f"tx / {opts.block_time * 1000:.0f} ms)"
        )
    )
    for name, justify in (
        ("path", "left"),
        ("description", "left"),
        ("transfers", "right"),
        ("seconds", "right"),
        ("tx/s", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
    ):
        paths.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, r in report.paths.items():
        paths.add_row(
            f"({key})",
            r.label,
            f"{r.transfers:,}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.1f}",
            _ms(r.percentile(50)),
            _ms(r.percentile(95)),
        )
    paths.add_row("(e)", "end to end, REST API", "-", "-", "not measured yet", "", "")

    ratios = Table(title="Ratios")
    ratios.add_column("ratio")
    ratios.add_column("value", justify="right")
    ratios.add_column("target")
    for ratio in report.ratios():
        verdict = "" if ratio.met is None else (" (met)" if ratio.met else " (NOT met)")
        ratios.add_row(ratio.label, f"{ratio.value:.2f}", ratio.target + verdict)

    restarts = Table(title="Restart time of the embedded ledger (median of 5 opens)")
    restarts.add_column("blocks", justify="right")
    restarts.add_column("open ms", justify="right")
    for restart in report.restarts:
        restarts.add_row(f"{restart.blocks:,}", f"{restart.seconds * 1000:.2f}")
    return [paths, ratios, restarts]


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
