"""The benchmark's options, results, targets and tables (``scripts.bench.benchmark``
measures them)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rich.table import Table

from chain.errors import ScfError


class BenchmarkFailed(ScfError):
    """A benchmark run did not confirm every transfer it sent, or its node failed."""

    code = "benchmark_failed"


# ---- options and results -------------------------------------------------------------------


@dataclass(frozen=True)
class ConsortiumOptions:
    """``scf-node bench --consortium`` (scripts.bench.consortium); here, with the other
    options, because the command line builds its help from them without loading the
    benchmark's libraries."""

    transfers: int = 300  # confirmed transfers, through each of the two set-ups
    clients: int = 6  # HTTP clients, one holder each, one request in flight
    kills: int = 3  # kills of the minter for the failover figures

    @classmethod
    def quick(cls) -> ConsortiumOptions:
        return cls(transfers=6, clients=3, kills=1)


@dataclass(frozen=True)
class BenchOptions:
    transfers: int = 2_000  # per path (a), (b), (c), (e)
    naive_transfers: int = 300  # path (d) is slow; fewer made the ratio to it noisy
    holders: int = 8  # sending accounts; one client thread each in (b) and (c)
    # transactions a client keeps in flight: enough that the next block's transactions wait
    # in the queue while one is built (with 16 per client the producer sat idle while the
    # clients took the last block's receipts and signed the next ones: 0.74 of (a), not 0.85)
    window: int = 32
    restart_blocks: tuple[int, ...] = (100, 10_000)
    block_max_transactions: int = 500
    block_time: float = 0.05
    # (e): HTTP clients, each with its own members (one API key each) and one request in
    # flight; readers run beside the writers in a second phase
    rest_clients: int = 16
    holders_per_client: int = 2
    readers: int = 4
    # scale: certificates on the ledger before measuring (a) again
    scale_certificates: tuple[int, int] = (1_000, 100_000)
    scale_rounds: int = 3  # runs of (a) on each size, taking turns (see bench_scale)
    # runs of (a), (d) and (e), taking turns, each path's median kept: (e) / (a) and
    # (e) / (d) compare paths measured minutes apart on a machine whose speed drifts
    rounds: int = 3

    @classmethod
    def quick(cls) -> BenchOptions:
        """A tiny run (seconds of measuring; setting up the consortium takes longer)."""
        return cls(
            transfers=24,
            naive_transfers=4,
            holders=2,
            window=8,
            restart_blocks=(30, 150),
            rest_clients=2,
            holders_per_client=2,
            readers=2,
            scale_certificates=(20, 120),
            scale_rounds=2,
            rounds=2,
        )


def percentile(latencies_ms: list[float], p: int) -> float | None:
    if len(latencies_ms) < 2:
        return latencies_ms[0] if latencies_ms else None
    return statistics.quantiles(latencies_ms, n=100, method="inclusive")[p - 1]


@dataclass
class PathResult:
    key: str
    label: str
    transfers: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    runs: tuple[float, ...] = ()  # tx/s of each round, in order, when this is their median

    @property
    def rate(self) -> float:
        return self.transfers / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: int) -> float | None:
        return percentile(self.latencies_ms, p)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "transfers": self.transfers,
            "seconds": self.seconds,
            "tx_per_s": self.rate,
            "runs_tx_per_s": list(self.runs or (self.rate,)),
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
        }


def median_run(runs: list[PathResult]) -> PathResult:
    """The run of median rate (the lower middle one of an even number), with every run's
    rate in ``runs``."""
    if not runs:
        raise ValueError("no runs to take the median of")
    median = sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2]
    return replace(median, runs=tuple(run.rate for run in runs))


@dataclass
class ReadResult:
    """Latencies of one read route, measured while writers ran. ``held_to_target``: the
    reads p95 target applies (reads under load belong on the read replica; the primary
    port's are measured for comparison)."""

    route: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    held_to_target: bool = True

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies_ms),
            "requests_per_s": self.rate,
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "p99_ms": percentile(self.latencies_ms, 99),
        }


@dataclass(frozen=True)
class RestartResult:
    blocks: int
    seconds: float


@dataclass(frozen=True)
class ScaleResult:
    """Path (a) and the restart time on a ledger already holding ``certificates``."""

    certificates: int
    blocks: int
    engine: PathResult  # the median run, every run's tx/s in ``engine.runs``
    restart_seconds: float


@dataclass(frozen=True)
class Ratio:
    label: str
    value: float
    target: str
    met: bool | None


READ_P95_TARGET_MS = 25.0


@dataclass
class BenchReport:
    options: BenchOptions
    paths: dict[str, PathResult] = field(default_factory=dict)
    restarts: list[RestartResult] = field(default_factory=list)
    reads: dict[str, ReadResult] = field(default_factory=dict)
    reads_write_rate: float | None = None  # (e)'s writes/s while the readers ran
    scale: list[ScaleResult] = field(default_factory=list)

    def ratios(self) -> list[Ratio]:
        found: list[Ratio] = []

        def ratio(top: str, bottom: str, target: float | None) -> None:
            if {top, bottom} <= self.paths.keys():
                value = self.paths[top].rate / self.paths[bottom].rate
                met = None if target is None else value >= target
                found.append(Ratio(f"({top}) / ({bottom})", value, _at_least(target), met))

        ratio("b", "a", 0.5)
        ratio("b", "d", 10)
        ratio("c", "a", None)
        ratio("c", "d", None)
        ratio("e", "a", 0.5)
        ratio("e", "d", 10)
        if len(self.scale) == 2:
            small, large = self.scale
            sizes = f"{large.certificates:,} / {small.certificates:,} certificates"
            value = large.engine.rate / small.engine.rate
            found.append(Ratio(f"(a) tx/s at {sizes}", value, ">= 0.8", value >= 0.8))
            value = large.restart_seconds / small.restart_seconds
            found.append(Ratio(f"restart time at {sizes}", value, "<= 1.5 (flat)", value <= 1.5))
        for read in self.reads.values():
            p95 = percentile(read.latencies_ms, 95) or 0.0
            label = f"p95 ms {read.route}"
            if read.held_to_target:
                target = f"< {READ_P95_TARGET_MS:.0f} ms"
                found.append(Ratio(label, p95, target, p95 < READ_P95_TARGET_MS))
            else:
                found.append(Ratio(label, p95, "for comparison", None))
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "paths": {key: r.as_json() for key, r in self.paths.items()},
            "reads": {route: r.as_json() for route, r in self.reads.items()},
            "reads_write_tx_per_s": self.reads_write_rate,
            "scale": {
                str(s.certificates): {
                    "blocks": s.blocks,
                    "transfers": s.engine.transfers,
                    "tx_per_s": s.engine.rate,
                    "runs_tx_per_s": list(s.engine.runs),
                    "restart_seconds": s.restart_seconds,
                }
                for s in self.scale
            },
            "ratios": {r.label: r.value for r in self.ratios()},
            "targets_met": {r.label: r.met for r in self.ratios() if r.met is not None},
            "restart_seconds": {str(r.blocks): r.seconds for r in self.restarts},
        }


def _at_least(target: float | None) -> str:
    return "" if target is None else f">= {target:g}"


# ---- output ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _table(title: str, *columns: str) -> Table:
    """Columns named with a leading '>' are right-aligned (figures)."""
    table = Table(title=title)
    for name in columns:
        if name.startswith(">"):
            table.add_column(name[1:], justify="right")
        else:
            table.add_column(name)
    return table


def _paths_table(report: BenchReport) -> Table:
    from scripts.bench.workload import TRANSFER_GAS  # here: scf-node's options read this module

    opts = report.options
    table = _table(
        f"Split transfers of certificates (explicit gas {TRANSFER_GAS:,}, blocks of <= "
        f"{opts.block_max_transactions} tx / {opts.block_time * 1000:.0f} ms); paths with "
        "rounds: the median of runs taken in turn",
        "path",
        "description",
        ">transfers",
        ">seconds",
        ">tx/s",
        "rounds tx/s",
        ">p50 ms",
        ">p95 ms",
        ">p99 ms",
    )
    for key, r in report.paths.items():
        table.add_row(
            f"({key})",
            r.label,
            f"{r.transfers:,}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.1f}",
            " ".join(f"{rate:,.1f}" for rate in r.runs) or "-",
            _ms(r.percentile(50)),
            _ms(r.percentile(95)),
            _ms(r.percentile(99)),
        )
    return table


def _reads_table(report: BenchReport) -> Table:
    rate = report.reads_write_rate
    during = "" if rate is None else f" (writes meanwhile: {rate:,.1f} tx/s)"
    table = _table(
        f"Reads under concurrent load: {report.options.readers} readers beside "
        f"(e)'s writers{during}",
        "route",
        ">requests",
        ">req/s",
        ">p50 ms",
        ">p95 ms",
        ">p99 ms",
    )
    for read in report.reads.values():
        table.add_row(
            read.route,
            f"{len(read.latencies_ms):,}",
            f"{read.rate:,.1f}",
            _ms(percentile(read.latencies_ms, 50)),
            _ms(percentile(read.latencies_ms, 95)),
            _ms(percentile(read.latencies_ms, 99)),
        )
    return table


def _scale_table(report: BenchReport) -> Table:
    table = _table(
        "Scale: path (a) and restart with certificates already on the ledger",
        ">certificates",
        ">blocks",
        ">transfers",
        ">tx/s (median)",
        "runs tx/s",
        ">restart ms",
    )
    for s in report.scale:
        table.add_row(
            f"{s.certificates:,}",
            f"{s.blocks:,}",
            f"{s.engine.transfers:,}",
            f"{s.engine.rate:,.1f}",
            " ".join(f"{rate:,.1f}" for rate in s.engine.runs),
            f"{s.restart_seconds * 1000:.2f}",
        )
    return table


def render(report: BenchReport) -> list[Table]:
    tables = [_paths_table(report)]
    if report.reads:
        tables.append(_reads_table(report))
    if report.scale:
        tables.append(_scale_table(report))
    ratios = _table("Ratios and targets", "ratio", ">value", "target")
    for ratio in report.ratios():
        verdict = "" if ratio.met is None else (" (met)" if ratio.met else " (NOT met)")
        ratios.add_row(ratio.label, f"{ratio.value:.2f}", ratio.target + verdict)
    tables.append(ratios)
    restarts = _table("Restart time of the embedded ledger (median of 5 opens)", ">blocks", ">ms")
    for restart in report.restarts:
        restarts.add_row(f"{restart.blocks:,}", f"{restart.seconds * 1000:.2f}")
    tables.append(restarts)
    return tables
