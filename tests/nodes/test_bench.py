"""``scf-node bench --engine --quick`` measures every path and prints the table (not timed)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nodes.cli import app


def test_quick_engine_benchmark_reports_every_path(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--engine", "--quick", "--json", str(figures)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output

    report = json.loads(figures.read_text("utf-8"))
    assert sorted(report["paths"]) == ["a", "b", "c", "d"]
    for key, path in report["paths"].items():
        assert path["transfers"] > 0, key
        assert path["tx_per_s"] > 0, key
    for key in ("b", "c", "d"):  # confirmed through receipts, so they have latencies
        assert 0 < report["paths"][key]["p50_ms"] <= report["paths"][key]["p95_ms"], key
    assert set(report["ratios"]) == {"(b) / (a)", "(b) / (d)", "(c) / (a)", "(c) / (d)"}
    assert all(value > 0 for value in report["ratios"].values())
    restarts = report["restart_seconds"]
    assert len(restarts) == 2
    assert all(seconds > 0 for seconds in restarts.values())

    for row in ("(a)", "(b)", "(c)", "(d)", "(e)", "(b) / (a)", "(b) / (d)", "not measured yet"):
        assert row in result.output, row
