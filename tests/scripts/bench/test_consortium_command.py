"""``scf-node bench --consortium --quick``: one tiny run through the CLI (not timed): the
single node and the three-institution cluster on the same transfers, then a kill -9 of
the minter and the seconds until another node answers a transfer 201."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nodes.cli import app
from scripts.bench.results import ConsortiumOptions
from tests.chain.consortium.etcd_cluster import etcd_binary


def test_quick_consortium_benchmark_reports_rates_ratio_and_failover(tmp_path: Path) -> None:
    etcd_binary()  # skips without etcd (fails under CI, which installs it)
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "--consortium", "--quick", "--json", str(figures)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(figures.read_text("utf-8"))
    quick = ConsortiumOptions.quick()
    assert report["options"] == {
        "transfers": quick.transfers,
        "clients": quick.clients,
        "kills": quick.kills,
    }
    assert report["single_tx_per_s"] > 0
    assert report["cluster_tx_per_s"] > 0
    assert report["ratio"] == report["cluster_tx_per_s"] / report["single_tx_per_s"]
    assert len(report["failover_seconds"]) == quick.kills
    assert all(seconds > 0 for seconds in report["failover_seconds"])
    assert report["failover_max_s"] == max(report["failover_seconds"])
    assert set(report["targets_met"]) == {"cluster / single node >= 40%", "failover median <= 5 s"}
    for row in ("single node", "three institutions", "cluster / single node", "median", "max"):
        assert row in result.output, row
