"""The engine benchmark's options, results and tables (``nodes.bench`` measures them)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from nodes.bench_workload import TRANSFER_GAS

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
