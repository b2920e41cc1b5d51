"""Where the processes of `scf-node start` run (nodes.runtime.placement)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.errors import ConfigurationError
from nodes.cli import app
from nodes.connect import try_claim
from nodes.home import NodeHome
from nodes.runtime.placement import (
    WRITER_NICENESS,
    NodePlacement,
    ProcessPlacement,
    apply,
    cpus_for,
    from_arguments,
    lower_this_thread,
    parse_cpus,
    pinned_thread,
    plan,
)


def _placed(ledger: set[int], api: set[int], replica: set[int], niceness: int) -> NodePlacement:
    return NodePlacement(
        ProcessPlacement(frozenset(ledger), niceness),
        ProcessPlacement(frozenset(api), niceness),
        ProcessPlacement(frozenset(replica)),
    )


def test_two_cpus_give_the_ledger_and_the_api_one_each_and_the_replica_either() -> None:
    assert plan([0, 1], replica=True) == _placed({0}, {1}, {0, 1}, WRITER_NICENESS)


def test_with_three_cpus_or_more_the_replica_has_its_own_and_no_priority_changes() -> None:
    assert plan([4, 2, 7], replica=True) == _placed({4}, {2}, {7}, 0)
    assert plan([0, 1, 2, 3, 5], replica=True) == _placed({0}, {1}, {2, 3, 5}, 0)


def test_one_cpu_holds_everything_and_reads_still_go_first() -> None:
    assert plan([3], replica=True) == _placed({3}, {3}, {3}, WRITER_NICENESS)


def test_without_a_replica_no_priority_is_lowered() -> None:
    assert plan([0, 1], replica=False) == _placed({0}, {1}, {0, 1}, 0)
    assert plan([0], replica=False) == _placed({0}, {0}, {0}, 0)


def test_cpu_lists_keep_their_order_and_each_cpu_once() -> None:
    assert parse_cpus("2,3,6-7") == [2, 3, 6, 7]
    assert parse_cpus(" 5 , 1-2 ,1") == [5, 1, 2]


@pytest.mark.parametrize("text", ["", "x", "1,", "-1", "3-1", "1-x", "0-", "0.5"])
def test_a_bad_cpu_list_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_cpus(text)
    assert refused.value.details == {"cpus": text}


def test_auto_gives_the_cpus_this_process_may_use_and_off_none() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert cpus_for("auto") == allowed
    assert cpus_for(" OFF ") is None
    assert cpus_for(",".join(str(cpu) for cpu in reversed(allowed))) == allowed[::-1]


def test_cpus_this_process_may_not_use_are_refused() -> None:
    outside = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigurationError, match=f"may not use: {outside} "):
        cpus_for(str(outside))


def test_a_node_on_an_external_network_gives_the_api_the_first_cpu() -> None:
    anywhere = ProcessPlacement()
    assert plan([0, 1], replica=True, ledger=False) == NodePlacement(
        anywhere, ProcessPlacement(frozenset({0})), ProcessPlacement(frozenset({1}))
    )
    assert plan([5], replica=True, ledger=False) == NodePlacement(
        anywhere,
        ProcessPlacement(frozenset({5}), WRITER_NICENESS),
        ProcessPlacement(frozenset({5})),
    )


def test_a_placement_travels_to_a_child_on_its_command_line() -> None:
    placed = ProcessPlacement(frozenset({3, 1}), 2)
    assert placed.arguments() == ["--cpus", "1,3", "--niceness", "2"]
    assert from_arguments("1,3", 2) == placed
    assert ProcessPlacement().arguments() == []
    assert from_arguments(None, 0) == ProcessPlacement()


def _in_a_thread(job: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``job`` in a new thread (whose placement dies with it); what it saw."""
    seen: dict[str, object] = {}

    def run() -> None:
        seen.update(job())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen


def test_pinned_thread_pins_the_threads_started_inside_and_restores_after() -> None:
    before = os.sched_getaffinity(0)
    one = frozenset(sorted(before)[:1])

    def job() -> dict[str, object]:
        with pinned_thread(one):
            inner = _in_a_thread(lambda: {"cpus": os.sched_getaffinity(0)})
            return {"inside": os.sched_getaffinity(0), "started": inner["cpus"]}

    seen = _in_a_thread(job)
    assert seen == {"inside": one, "started": one}
    assert os.sched_getaffinity(0) == before


def test_lowering_a_thread_leaves_the_rest_of_the_process_alone() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)

    def job() -> dict[str, object]:
        lower_this_thread(2)
        child = _in_a_thread(lambda: {"nice": os.getpriority(os.PRIO_PROCESS, 0)})
        return {"nice": os.getpriority(os.PRIO_PROCESS, 0), "child": child["nice"]}

    assert _in_a_thread(job) == {"nice": base + 2, "child": base + 2}
    assert os.getpriority(os.PRIO_PROCESS, 0) == base


def test_apply_places_every_thread_of_the_process() -> None:
    # in a forked child, so this test process keeps its own placement
    allowed = sorted(os.sched_getaffinity(0))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            idle = threading.Event()
            waiting = threading.Thread(target=idle.wait)
            waiting.start()
            base = os.getpriority(os.PRIO_PROCESS, 0)
            apply(ProcessPlacement(frozenset(allowed[-1:]), 1))
            other = waiting.native_id or 0
            report = (
                os.sched_getaffinity(other) == {allowed[-1]}
                and os.getpriority(os.PRIO_PROCESS, other) == base + 1
                and os.getpriority(os.PRIO_PROCESS, 0) == base + 1
            )
            idle.set()
            os.write(write_end, b"1" if report else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.waitpid(pid, 0)
    os.close(read_end)
    assert answer == b"1"


@pytest.mark.parametrize("cpus", ["x", "0-", str(max(os.sched_getaffinity(0)) + 1)])
def test_start_refuses_a_bad_cpus_option_before_touching_the_home(
    cpus: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["start", "--home", str(home), "--dev", "--cpus", cpus])
    assert result.exit_code == 2
    assert "--cpus" in result.output
    assert not home.exists()


@pytest.fixture
def no_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OS without CPU affinity calls, as macOS."""
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.delattr(os, "sched_setaffinity")


@pytest.mark.usefixtures("no_affinity")
def test_without_cpu_affinity_cpus_are_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="nodes.runtime.placement"):
        assert cpus_for("auto") is None
    assert [r.getMessage() for r in caplog.records] == [
        "--cpus auto is ignored: this OS cannot pin processes to CPUs (Linux can); "
        "the OS places the node's processes"
    ]
    assert cpus_for("0,1") is None
    with pytest.raises(ConfigurationError):
        cpus_for("x")  # still a mistake the user should hear about


@pytest.mark.usefixtures("no_affinity")
def test_without_cpu_affinity_an_unplaced_process_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_proc(path: str) -> list[str]:
        raise FileNotFoundError(path)

    monkeypatch.setattr(os, "listdir", no_proc)  # no /proc either
    with caplog.at_level("WARNING", logger="nodes.runtime.placement"):
        apply(ProcessPlacement())
    assert caplog.records == []


@pytest.mark.usefixtures("no_affinity")
def test_start_gets_past_cpu_placement_without_cpu_affinity(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    held = try_claim(home)  # another node runs on the home: start stops right after --cpus
    assert held is not None
    try:
        result = CliRunner().invoke(app, ["start", "--home", str(home.path), "--dev"])
    finally:
        held.release()
    assert not isinstance(result.exception, AttributeError), result.exception
    assert result.exit_code == 1
    assert "in use by another scf-node process" in " ".join(result.output.split())
