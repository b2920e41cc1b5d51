"""``scf-node bench --overload``: its options, what it counts and its tables
(``scripts.bench.overload`` measures)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from scripts.bench.results import percentile

PHASES = ("baseline", "flood", "after")
# what the other members do, measured in each phase
WRITE = "write: POST /v1/certificates/{id}/transfers (primary)"
READ_PRIMARY = "read: GET /v1/certificates… (primary)"
READ_REPLICA = "read: GET /v1/certificates… (read replica)"
MEMBER_KINDS = (WRITE, READ_PRIMARY, READ_REPLICA)


@dataclass(frozen=True)
class OverloadOptions:
    """The members who carry on (``steady_members``, each one writer and two readers, one
    request in flight each) and the flood (``flood_members`` of other members)."""

    steady_members: int = 4
    flood_members: int = 16
    # per flood member: connections each sending writes back to back, never waiting for
    # Retry-After (400 writes in flight by default, several times the node's bound)
    write_connections: int = 25
    streams_per_member: int = 12  # GET /v1/events held open per flood member (bound: 8)
    body_attackers: int = 4  # connections sending deep / huge / chunked bodies back to back
    slow_bodies: int = 32  # connections sending a body a byte a second
    baseline_seconds: float = 15.0
    flood_seconds: float = 20.0
    after_seconds: float = 10.0
    kdf_iterations: int | None = None  # the members' keystores (None: Custody's default)

    @classmethod
    def quick(cls) -> OverloadOptions:
        """A tiny run, for tests: every attack, seconds of each phase."""
        return cls(
            steady_members=2,
            flood_members=2,
            write_connections=20,  # above the per-caller bound (16): some are refused
            streams_per_member=10,  # above the per-member bound (8)
            body_attackers=1,
            slow_bodies=2,
            baseline_seconds=2.0,
            flood_seconds=4.0,
            after_seconds=1.0,
            kdf_iterations=2**10,
        )


@dataclass
class Series:
    """Latencies of one kind of request in one phase; ``refused``: answers 429/503 that a
    steady member waited out (``Retry-After``) before its request went through."""

    latencies_ms: list[float] = field(default_factory=list)
    refused: int = 0
    failed: int = 0  # no answer, or an answer neither success nor refusal

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies_ms),
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms, default=None),
            "refused_then_retried": self.refused,
            "failed": self.failed,
        }


@dataclass
class AttackTally:
    """One kind of flood request: its answers by status, and how fast the refusals came.

    ``refusals``: the statuses this attack is meant to get (429/503 for capacity, 413/422
    for bodies); a refusal ``with_retry_after`` carries that header."""

    label: str
    refusals: frozenset[int]
    statuses: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0  # the connection ended, or timed out, without an answer
    with_retry_after: int = 0
    refusal_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered(self, status: int, ms: float, retry_after: bool) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.answer_ms.append(ms)
            if status in self.refusals:
                self.refusal_ms.append(ms)
                self.with_retry_after += retry_after

    def lost(self) -> None:
        with self._lock:
            self.no_answer += 1

    @property
    def requests(self) -> int:
        return self.statuses.total() + self.no_answer

    @property
    def refused(self) -> int:
        return len(self.refusal_ms)

    def as_json(self) -> dict[str, Any]:
        requests = self.requests
        return {
            "requests": requests,
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "no_answer": self.no_answer,
            "refused": self.refused,
            "refused_share": self.refused / requests if requests else None,
            "refused_with_retry_after": self.with_retry_after,
            "refusal_p50_ms": percentile(self.refusal_ms, 50),
            "refusal_p99_ms": percentile(self.refusal_ms, 99),
            "refusal_max_ms": max(self.refusal_ms, default=None),
            "answer_max_ms": max(self.answer_ms, default=None),
        }


@dataclass
class Integrity:
    """Every acknowledged write (201) checked after the flood, on the ledger and in the
    read model; every write whose answer was lost sent again under its key first."""

    acknowledged: int = 0  # distinct Idempotency-Keys answered 201
    resent_unanswered: int = 0  # keys without an answer, sent again until answered
    unresolved: int = 0  # ... and still without a 201 (counted as lost)
    replayed_same: int = 0  # acknowledged keys sent once more: the same transfer answered
    on_ledger: int = 0  # acknowledged transfers found on the ledger as answered
    in_read_model: int = 0  # ... and in the read model
    lost: int = 0  # acknowledged, but not on the ledger or not in the read model
    duplicated: int = 0  # transfers on the ledger beyond the acknowledged ones, or replays
    # that answered another transfer
    value_conserved: bool = False  # each source certificate: face value = kept + split off

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Health:
    """``GET /healthz`` asked over and over during the flood."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0  # not 200, or no answer

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies_ms) + self.failures,
            "failures": self.failures,
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms, default=None),
        }


@dataclass
class OverloadReport:
    options: OverloadOptions
    members: dict[str, dict[str, Series]] = field(
        default_factory=lambda: {kind: {p: Series() for p in PHASES} for kind in MEMBER_KINDS}
    )
    attacks: dict[str, AttackTally] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    integrity: Integrity = field(default_factory=Integrity)
    machine_load: tuple[float, float, float] | None = None  # os.getloadavg() at the start
    failures: list[str] = field(default_factory=list)  # the steady members' failed requests

    @property
    def intact(self) -> bool:
        i = self.integrity
        return i.lost == 0 and i.duplicated == 0 and i.value_conserved

    def p99_ratios(self) -> dict[str, float | None]:
        """Each kind's p99 during the flood over its baseline p99."""
        found: dict[str, float | None] = {}
        for kind, phases in self.members.items():
            base = percentile(phases["baseline"].latencies_ms, 99)
            flood = percentile(phases["flood"].latencies_ms, 99)
            found[kind] = flood / base if base and flood is not None else None
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "machine_load": self.machine_load,
            "members": {
                kind: {phase: s.as_json() for phase, s in phases.items()}
                for kind, phases in self.members.items()
            },
            "flood_over_baseline_p99": self.p99_ratios(),
            "attacks": {key: a.as_json() | {"label": a.label} for key, a in self.attacks.items()},
            "health": self.health.as_json(),
            "steady_failures": self.failures[:20],
            "integrity": self.integrity.as_json(),
            "intact": self.intact,
        }


# ---- output ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _members_table(report: OverloadReport) -> Table:
    o = report.options
    table = Table(
        title=f"Other members during the flood: {o.steady_members} members, each one writer "
        "and two readers, one request in flight each (a write's time includes waiting out "
        "any Retry-After)"
    )
    for name in ("request", "phase"):
        table.add_column(name)
    columns = ("requests", "p50 ms", "p99 ms", "max ms", "refused, retried", "failed")
    for name in (*columns, "p99 / baseline"):
        table.add_column(name, justify="right")
    ratios = report.p99_ratios()
    for kind, phases in report.members.items():
        for phase, series in phases.items():
            figures = series.as_json()
            ratio = ratios[kind] if phase == "flood" else None
            table.add_row(
                kind if phase == PHASES[0] else "",
                phase,
                f"{figures['requests']:,}",
                _ms(figures["p50_ms"]),
                _ms(figures["p99_ms"]),
                _ms(figures["max_ms"]),
                f"{series.refused:,}",
                f"{series.failed:,}",
                "" if ratio is None else f"{ratio:.2f}",
            )
    return table


def _attacks_table(report: OverloadReport) -> Table:
    o = report.options
    table = Table(
        title=f"The flood, {o.flood_seconds:g} s: {o.flood_members} members x "
        f"{o.write_connections} write connections, {o.streams_per_member} event streams "
        f"each, {o.body_attackers} body attackers, {o.slow_bodies} slow bodies"
    )
    table.add_column("attack")
    table.add_column("requests", justify="right")
    table.add_column("answers (status: count)")
    for name in ("refused", "with Retry-After", "refusal p50 ms", "p99 ms", "max ms"):
        table.add_column(name, justify="right")
    for attack in report.attacks.values():
        figures = attack.as_json()
        answers = ", ".join(f"{s}: {n:,}" for s, n in figures["statuses"].items())
        if attack.no_answer:
            answers += f", none: {attack.no_answer:,}"
        share = figures["refused_share"]
        table.add_row(
            attack.label,
            f"{attack.requests:,}",
            answers or "-",
            "-" if share is None else f"{share:.1%}",
            f"{attack.with_retry_after:,}",
            _ms(figures["refusal_p50_ms"]),
            _ms(figures["refusal_p99_ms"]),
            _ms(figures["refusal_max_ms"]),
        )
    return table


def _integrity_table(report: OverloadReport) -> Table:
    i = report.integrity
    table = Table(title="After the flood: every acknowledged write, checked")
    table.add_column("check")
    table.add_column("count", justify="right")
    rows = [
        ("acknowledged writes (201, distinct keys)", f"{i.acknowledged:,}"),
        ("unanswered writes sent again under their key", f"{i.resent_unanswered:,}"),
        ("... still unanswered", f"{i.unresolved:,}"),
        ("acknowledged keys sent again: the same transfer", f"{i.replayed_same:,}"),
        ("acknowledged transfers on the ledger", f"{i.on_ledger:,}"),
        ("... and in the read model", f"{i.in_read_model:,}"),
        ("lost", f"{i.lost:,}"),
        ("duplicated", f"{i.duplicated:,}"),
        ("value conserved on every source certificate", "yes" if i.value_conserved else "NO"),
    ]
    health = report.health.as_json()
    rows.append(
        (
            "/healthz during the flood: requests, failures, max ms",
            f"{health['requests']:,}, {health['failures']:,}, {_ms(health['max_ms'])}",
        )
    )
    for check, count in rows:
        table.add_row(check, count)
    return table


def render_overload(report: OverloadReport) -> list[Table]:
    return [_members_table(report), _attacks_table(report), _integrity_table(report)]
