"""``scf-node bench --overload --quick``: a tiny flood of a real ``scf-node start --dev``
node, every part reported, nothing lost and nothing doubled (figures not timed)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from nodes.cli import app
from scripts.bench.flood import Writes
from scripts.bench.http_client import Reply
from scripts.bench.overload_results import MEMBER_KINDS, PHASES, OverloadOptions
from scripts.bench.rest import RestMember

MEMBER = RestMember(member_id=5, api_key="k", certificate_id=7, recipient_id=6)


def _refusals_say_when_to_retry(attack: dict[str, Any]) -> None:
    assert attack["refused_with_retry_after"] == attack["refused"], attack


def test_quick_overload_benchmark_reports_every_part_and_loses_nothing(tmp_path: Path) -> None:
    figures = tmp_path / "overload.json"
    result = CliRunner().invoke(
        app, ["bench", "--overload", "--quick", "--json", str(figures)], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    for title in ("Other members during the flood", "The flood", "After the flood"):
        assert title in result.output

    report = json.loads(figures.read_text("utf-8"))
    assert report["options"] == json.loads(json.dumps(asdict(OverloadOptions.quick())))

    # the other members: every kind measured, in every phase's table, none failed
    assert set(report["members"]) == set(MEMBER_KINDS)
    for kind, phases in report["members"].items():
        assert list(phases) == list(PHASES), kind
        assert sum(phase["requests"] for phase in phases.values()) > 0, kind
        assert all(phase["failed"] == 0 for phase in phases.values()), report["steady_failures"]
    assert set(report["flood_over_baseline_p99"]) == set(MEMBER_KINDS)

    attacks = report["attacks"]
    assert set(attacks) == {"writes", "streams", "deep", "declared", "chunked", "slow"}
    writes, streams = attacks["writes"], attacks["streams"]
    # 20 connections of each flood member against its bound of 16 writes at once
    assert writes["refused"] > 0
    assert set(writes["statuses"]) <= {"201", "429", "503"}
    assert writes["no_answer"] == 0
    # 10 streams of each flood member against its bound of 8
    assert streams["statuses"]["200"] == 2 * 8, streams
    assert streams["refused"] == 2 * 2, streams
    for attack in (writes, streams):
        _refusals_say_when_to_retry(attack)
    assert set(attacks["deep"]["statuses"]) == {"422"}
    assert set(attacks["declared"]["statuses"]) == {"413"}
    assert set(attacks["chunked"]["statuses"]) <= {"413"}
    assert attacks["slow"]["refused"] == attacks["slow"]["requests"] == 2

    assert report["health"]["requests"] > 0
    assert report["health"]["failures"] == 0

    integrity = report["integrity"]
    acknowledged = integrity["acknowledged"]
    assert acknowledged > 0
    assert integrity["lost"] == 0
    assert integrity["duplicated"] == 0
    assert integrity["unresolved"] == 0
    assert integrity["value_conserved"] is True
    assert integrity["replayed_same"] == acknowledged
    assert integrity["on_ledger"] == integrity["in_read_model"] == acknowledged
    assert report["intact"] is True


def _reply(status: int, body: dict[str, Any] | None = None) -> Reply:
    return Reply(status, json.dumps(body or {}).encode())


def test_a_refused_write_is_not_counted_and_an_unclear_one_is_sent_again() -> None:
    writes = Writes()
    writes.answered("refused", MEMBER, _reply(503))
    writes.answered("limited", MEMBER, _reply(429))
    assert (writes.acknowledged, writes.unanswered) == ({}, {})  # nothing of them ran

    writes.answered("failed", MEMBER, _reply(500))
    writes.no_answer("lost", MEMBER)
    assert set(writes.unanswered) == {"failed", "lost"}  # either may have run

    writes.answered("lost", MEMBER, _reply(201, {"id": 42}))  # sent again: answered
    assert writes.acknowledged == {"lost": (MEMBER, 42)}
    assert set(writes.unanswered) == {"failed"}
