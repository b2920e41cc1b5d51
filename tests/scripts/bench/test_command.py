"""``scf-node bench --quick`` measures every part and prints its tables (not timed).

One tiny run through the CLI: the engine paths, (e) through the REST API of a real
``scf-node start --dev`` process, reads beside it, scale and restarts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nodes.cli import app
from scripts.bench.rest import (
    READ_BY_HOLDER,
    READ_BY_ID,
    READ_ENDPOINT,
    READ_TARGETS,
    client_cpus,
    read_key,
)


def _ordered(figures: dict[str, Any], name: str) -> None:
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], name


def _taken_in_turns(report: dict[str, Any]) -> None:
    """(a), (d) and (e) ran once a round, each figure their median; (b) and (c) once."""
    rounds = report["options"]["rounds"]
    for key, path in report["paths"].items():
        runs = path["runs_tx_per_s"]
        if key in ("a", "d", "e"):
            assert len(runs) == rounds, key
            assert path["tx_per_s"] == sorted(runs)[(rounds - 1) // 2], key
        else:
            assert runs == [path["tx_per_s"]], key


def test_quick_benchmark_reports_every_part(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "--quick", "--json", str(figures)], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output

    report = json.loads(figures.read_text("utf-8"))
    assert sorted(report["paths"]) == ["a", "b", "c", "d", "e"]
    for key, path in report["paths"].items():
        assert path["transfers"] > 0, key
        assert path["tx_per_s"] > 0, key
    for key in ("b", "c", "d", "e"):  # confirmed one by one, so they have latencies
        _ordered(report["paths"][key], key)
    assert report["paths"]["e"]["transfers"] == report["options"]["transfers"]
    _taken_in_turns(report)

    reads = report["reads"]
    # the quick run's two readers: one on the read replica, one on the primary
    assert set(reads) == {
        read_key(route, target) for route in (READ_BY_ID, READ_BY_HOLDER) for target in READ_TARGETS
    }
    for route, figures_of_route in reads.items():
        assert figures_of_route["requests"] >= 5, route
        _ordered(figures_of_route, route)
    assert report["reads_write_tx_per_s"] > 0

    small, large = report["options"]["scale_certificates"]
    assert set(report["scale"]) == {str(small), str(large)}
    rounds = report["options"]["scale_rounds"]
    for size, scale in report["scale"].items():
        assert scale["tx_per_s"] > 0, size
        assert scale["restart_seconds"] > 0, size
        # every round ran on each size, and the figure is their median
        assert len(scale["runs_tx_per_s"]) == rounds, size
        assert scale["tx_per_s"] == sorted(scale["runs_tx_per_s"])[(rounds - 1) // 2], size
    assert report["scale"][str(large)]["blocks"] > report["scale"][str(small)]["blocks"]

    ratios = report["ratios"]
    for label in ("(b) / (a)", "(b) / (d)", "(e) / (a)", "(e) / (d)"):
        assert ratios[label] > 0, label
    assert any(label.startswith("(a) tx/s at") for label in ratios)
    assert any(label.startswith("restart time at") for label in ratios)
    # the reads target applies to the read replica; the primary's are for comparison
    held = {label for label in report["targets_met"] if label.startswith("p95 ms GET")}
    assert held == {f"p95 ms {key}" for key in reads if key.endswith(f"({READ_ENDPOINT})")}
    assert len(held) == 2
    assert sum(label.startswith("p95 ms GET") for label in ratios) == len(reads)
    assert all(seconds > 0 for seconds in report["restart_seconds"].values())

    for row in ("(a)", "(b)", "(c)", "(d)", "(e)", "(e) / (a)", "(e) / (d)", "Scale", "Reads"):
        assert row in result.output, row
    assert "not measured" not in result.output


def test_engine_only_benchmark_skips_the_rest_api(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "--engine", "--quick", "--json", str(figures)], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(figures.read_text("utf-8"))
    assert sorted(report["paths"]) == ["a", "b", "c", "d"]
    _taken_in_turns(report)
    assert report["reads"] == {}
    assert report["scale"] == {}
    assert "(e) / (a)" not in result.output


@pytest.mark.parametrize(("allowed", "expected"), [({0, 1}, {1}), ({2, 5, 7}, {5, 7}), ({3}, {3})])
def test_the_http_clients_stay_off_the_ledgers_cpu(
    monkeypatch: pytest.MonkeyPatch, allowed: set[int], expected: set[int]
) -> None:
    # the node started with --cpus auto gives its ledger the first CPU it may use
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: allowed)
    assert client_cpus() == expected
