"""``scf-node bench``: how fast the platform runs its workload (docs/benchmarks.md).

The workload (``scripts.bench.workload``) is split transfers of credit certificates between
members, signed by the holders' accounts with explicit gas. One run measures:

- the engine paths (``scripts.bench.engine``): (a) the engine limit, (b) the transaction
  manager in-process, (c) over JSON-RPC, (d) the naive web3.py + eth-tester baseline, and
  the restart time at two chain lengths;
- end to end (``scripts.bench.rest``): (e) confirmed transfers/s through the REST API of
  ``scf-node start`` with concurrent HTTP clients, and read-route latency under load;
- scale (``scripts.bench.scale``): (a) and the restart time with few vs many certificates.

(a), (d) and (e), whose ratios are the targets, run in rounds, taking turns, and each
keeps its median run (``BenchOptions.rounds``).

This module runs the parts; ``nodes.commands.bench`` (``scf-node bench``, and
``python -m scripts.bench``) takes the options and prints the tables. ``scf-node bench
--overload`` runs ``scripts.bench.overload`` instead: a flood beside other members.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from chain.backends.embedded import EmbeddedLedger
from nodes.runtime.heap import frozen_heap
from nodes.runtime.placement import pinned_thread
from scripts.bench.engine import (
    CHAIN_ID,
    measure_restarts,
    run_engine,
    run_in_process,
    run_json_rpc,
    run_naive,
)
from scripts.bench.rest import rest_node
from scripts.bench.results import (
    BenchOptions,
    BenchReport,
    PathResult,
    median_run,
)
from scripts.bench.scale import measure_scale
from scripts.bench.workload import Workload, build_workload

Progress = Callable[[str], None]


def run_benchmark(
    options: BenchOptions, progress: Progress = lambda _: None, engine_only: bool = False
) -> BenchReport:
    """Set up the workload once on an embedded ledger, copy its store for each engine path,
    measure; then (unless ``engine_only``) end to end, reads and scale."""
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
            return _copy_setup(root, name)

        # The in-process paths run on one CPU, as the node's ledger process does
        # (nodes.runtime.placement); (e) runs the node itself, which places its own processes.
        one_cpu = frozenset(sorted(os.sched_getaffinity(0))[:1])
        # and with what was built before out of the collector's walks, as the node's
        # processes once they serve (nodes.runtime.heap); (d) gains from it too
        with pinned_thread(one_cpu), frozen_heap():
            progress(f"(b) in-process ledger: {options.transfers} transfers")
            b = run_in_process(copy("b"), workload, options)
            progress(f"(c) JSON-RPC over HTTP: {options.transfers} transfers")
            c = run_json_rpc(copy("c"), workload, options)
        runs = _in_turns(report, options, progress, workload, root, one_cpu, engine_only)
        report.paths = {"a": median_run(runs["a"]), "b": b, "c": c, "d": median_run(runs["d"])}
        if runs["e"]:
            report.paths["e"] = median_run(runs["e"])
        with pinned_thread(one_cpu):
            report.restarts = measure_restarts(copy("restart"), options, progress)
            if not engine_only:
                report.scale = measure_scale(copy("scale"), workload, options, progress)
    return report


def _in_turns(
    report: BenchReport,
    options: BenchOptions,
    progress: Progress,
    workload: Workload,
    root: Path,
    one_cpu: frozenset[int],
    engine_only: bool,
) -> dict[str, list[PathResult]]:
    """(a), (d) and (e) in ``options.rounds`` rounds, taking turns; then the reads under
    load (into ``report``). A ratio of two paths measured once, minutes apart, compared
    the machine's speed as much as the paths, which drifts within minutes.
    Each path's figure is then its median run (``median_run``)."""
    runs: dict[str, list[PathResult]] = {"a": [], "d": [], "e": []}

    def note(round_: int) -> str:
        return f" (round {round_} of {options.rounds})"

    def engine_and_naive(round_: int) -> None:  # as (b) and (c), one CPU, the heap frozen
        with pinned_thread(one_cpu), frozen_heap():
            progress(f"(a) engine limit: {options.transfers} pre-signed transfers{note(round_)}")
            store = _copy_setup(root, f"a{round_}")
            try:
                runs["a"].append(run_engine(store, workload, options))
            finally:
                shutil.rmtree(store, ignore_errors=True)
            runs["d"].append(run_naive(options, lambda message: progress(message + note(round_))))

    rounds = range(1, options.rounds + 1)
    if engine_only:
        for round_ in rounds:
            engine_and_naive(round_)
        return runs

    with rest_node(root, options, progress) as rest:
        for round_ in rounds:
            engine_and_naive(round_)
            runs["e"].append(rest.writes(note(round_)))
        report.reads, report.reads_write_rate = rest.reads()
    return runs


def _copy_setup(root: Path, name: str) -> Path:
    """A copy of the set-up ledger (the consortium and the workload) for one path's run."""
    target = root / name
    shutil.copytree(root / "setup", target)
    return target
