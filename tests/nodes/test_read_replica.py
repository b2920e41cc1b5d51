"""The read replica's supervisor: restarts a replica that ended, backs off while it fails.

The replica process itself runs in ``test_start`` (a real ``scf-node start``)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from nodes.runtime import read_replica
from nodes.runtime.read_replica import ReplicaFailed, ReplicaProcess, ReplicaSupervisor


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


def _process(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_replica_that_ended_is_started_again(clock: _Clock) -> None:
    started: list[ReplicaProcess] = []
    reports: list[str] = []

    def start() -> ReplicaProcess:
        replica = ReplicaProcess(_process("import time; time.sleep(60)"), "http://r")
        started.append(replica)
        return replica

    supervisor = ReplicaSupervisor(start, reports.append, clock)
    try:
        assert supervisor.replica is started[0]
        assert reports == []
        supervisor.check()
        assert len(started) == 1  # running: left alone
        started[0].process.kill()
        started[0].process.wait()
        clock.now += read_replica.RESTART_DELAY
        supervisor.check()
        assert len(started) == 2
        assert supervisor.replica is started[1]
        assert reports == [f"ended (exit code {-9}); starting it again"]
    finally:
        supervisor.stop()
    assert started[1].process.poll() is not None


def test_restarts_wait_for_the_delay_after_the_last_start(clock: _Clock) -> None:
    started: list[ReplicaProcess] = []

    def start() -> ReplicaProcess:
        started.append(ReplicaProcess(_process("pass"), "http://r"))
        started[-1].process.wait()  # ends at once
        return started[-1]

    supervisor = ReplicaSupervisor(start, lambda _: None, clock)
    clock.now += read_replica.RESTART_DELAY - 1
    supervisor.check()
    assert len(started) == 1  # a replica that keeps crashing is not started in a loop
    clock.now += 1
    supervisor.check()
    assert len(started) == 2


def test_failures_are_reported_and_back_off(clock: _Clock) -> None:
    reports: list[str] = []
    attempts: list[float] = []

    def start() -> ReplicaProcess:
        attempts.append(clock.now)
        raise ReplicaFailed("the read replica exited before it listened")

    supervisor = ReplicaSupervisor(start, reports.append, clock)
    assert supervisor.replica is None
    for _ in range(600):  # ten minutes, checked every second as `start` does
        clock.now += 1
        supervisor.check()
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[:4] == [5, 10, 20, 40]
    assert set(gaps[4:]) == {read_replica.RESTART_DELAY_MAX}
    failed = "did not start: the read replica exited before it listened; next attempt in 5s"
    assert reports[0] == failed
    assert len(reports) == len(attempts)
