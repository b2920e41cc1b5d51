"""The benchmark's median of runs taken in turn (``scripts.bench.results.median_run``)."""

from __future__ import annotations

import pytest

from scripts.bench.results import PathResult, median_run


def _run(rate: float) -> PathResult:
    return PathResult("a", "engine", 100, 100 / rate, latencies_ms=[rate])


def test_the_median_run_keeps_its_own_latencies_and_every_rate_in_order() -> None:
    median = median_run([_run(250.0), _run(200.0), _run(270.0)])
    assert median.rate == pytest.approx(250.0)
    assert median.latencies_ms == [250.0]  # the figures of one run, not a mix
    assert median.runs == pytest.approx((250.0, 200.0, 270.0))
    assert median.as_json()["runs_tx_per_s"] == pytest.approx([250.0, 200.0, 270.0])


def test_of_an_even_number_of_runs_the_lower_middle_one_is_kept() -> None:
    assert median_run([_run(300.0), _run(100.0)]).rate == pytest.approx(100.0)
    assert median_run([_run(4.0), _run(1.0), _run(3.0), _run(2.0)]).rate == pytest.approx(2.0)


def test_a_single_run_is_its_own_median_and_no_runs_is_an_error() -> None:
    assert median_run([_run(120.0)]).runs == pytest.approx((120.0,))
    with pytest.raises(ValueError, match="no runs"):
        median_run([])


def test_a_path_run_once_reports_its_rate_as_its_only_run() -> None:
    assert _run(80.0).as_json()["runs_tx_per_s"] == pytest.approx([80.0])
