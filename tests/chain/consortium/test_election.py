"""The minter election on a real etcd: one leader at a time, takeover after a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.consortium.election import CampaignStopped, CampaignTimeout, Election, Leader
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from tests.chain.consortium.etcd_cluster import EtcdCluster

TTL = 2  # seconds; the shortest lease etcd grants on a one-second election timeout
TAKEOVER_TIMEOUT = 30.0  # generous: a few TTLs plus a busy machine
ROOT = Path(__file__).resolve().parents[3]


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)  # poll interval, bounded by the deadline
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def campaigners(etcd: EtcdCluster, keys: ChainKeys) -> Iterator[dict[str, subprocess.Popen[str]]]:
    processes = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.chain.consortium.campaigner",
                etcd.endpoints[0],
                str(keys.chain_id),
                name,
                str(TTL),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for name in ("http://node-a:8545", "http://node-b:8545", "http://node-c:8545")
    }
    yield processes
    for process in processes.values():
        process.kill()
        process.wait()


def test_one_leader_among_three_and_another_takes_over_after_kill_9(
    client: EtcdClient, keys: ChainKeys, campaigners: dict[str, subprocess.Popen[str]]
) -> None:
    observer = Election(client, keys, "observer", ttl=TTL)
    wait_for(lambda: observer.leader() is not None, TAKEOVER_TIMEOUT, "a first leader")
    first = observer.leader()
    assert first is not None
    assert first.value in campaigners
    leader_process = campaigners[first.value]
    assert leader_process.stdout is not None
    assert leader_process.stdout.readline().strip() == "elected"

    leader_process.send_signal(signal.SIGKILL)  # no resign: the lease must run out
    leader_process.wait()

    def taken_over() -> bool:
        current = observer.leader()
        return current is not None and current.value != first.value

    wait_for(taken_over, TAKEOVER_TIMEOUT, "another campaigner to win")
    second = observer.leader()
    assert second is not None
    assert second.value in campaigners
    assert second.lease != first.lease
    stdout = campaigners[second.value].stdout
    assert stdout is not None
    assert stdout.readline().strip() == "elected"
    # and the third one is still waiting: exactly one leader
    still_waiting = [
        name for name, p in campaigners.items() if name not in (first.value, second.value)
    ]
    assert len(still_waiting) == 1
    assert campaigners[still_waiting[0]].poll() is None


def test_campaign_waits_while_another_holds_the_election(
    client: EtcdClient, keys: ChainKeys
) -> None:
    holder = Election(client, keys, "http://a", ttl=TTL)
    leadership = holder.campaign(timeout=10)
    try:
        with pytest.raises(CampaignTimeout):
            Election(client, keys, "http://b", ttl=TTL).campaign(timeout=0.5)
        assert holder.leader() == Leader("http://a", leadership.lease, holder.leader().revision)  # type: ignore[union-attr]
        assert leadership.held()
    finally:
        holder.resign()


def test_resigning_hands_the_election_to_a_waiting_campaigner_at_once(
    client: EtcdClient, keys: ChainKeys
) -> None:
    first = Election(client, keys, "http://a", ttl=30)  # a long TTL: only resign can free it
    leadership = first.campaign(timeout=10)
    second = Election(client, keys, "http://b", ttl=30)
    won = threading.Event()

    def campaign() -> None:
        second.campaign(timeout=TAKEOVER_TIMEOUT)
        won.set()

    thread = threading.Thread(target=campaign)
    thread.start()
    leadership.resign()
    thread.join(TAKEOVER_TIMEOUT)
    try:
        assert won.is_set()
        assert not leadership.held()
        leader = first.leader()
        assert leader is not None
        assert leader.value == "http://b"
    finally:
        second.resign()


def test_a_revoked_lease_is_noticed_as_lost(client: EtcdClient, keys: ChainKeys) -> None:
    election = Election(client, keys, "http://a", ttl=TTL)
    leadership = election.campaign(timeout=10)
    client.revoke_lease(leadership.lease)  # what an expiry does, without waiting for it
    assert leadership.lost.wait(TAKEOVER_TIMEOUT)
    assert election.leader() is None
    # campaigning again takes a new lease
    again = election.campaign(timeout=10)
    try:
        assert again.lease != leadership.lease
        assert again.held()
    finally:
        election.resign()


def test_observe_reports_each_change_of_leader(client: EtcdClient, keys: ChainKeys) -> None:
    watcher = Election(client, keys, "watcher", ttl=TTL)
    seen: list[str | None] = []
    done = threading.Event()

    def observe() -> None:
        for leader in watcher.observe(idle_timeout=2):
            seen.append(leader.value if leader else None)
            if len(seen) == 4:
                done.set()
                return

    thread = threading.Thread(target=observe, daemon=True)
    thread.start()
    wait_for(lambda: seen == [None], 10, "the first observation")
    a = Election(client, keys, "http://a", ttl=TTL)
    a.campaign(timeout=10)
    wait_for(lambda: len(seen) >= 2, 10, "a's election")
    b = Election(client, keys, "http://b", ttl=TTL)
    a.resign()
    b.campaign(timeout=10)
    assert done.wait(TAKEOVER_TIMEOUT)
    b.resign()
    assert seen == [None, "http://a", None, "http://b"]


def test_bad_settings_are_refused(client: EtcdClient, keys: ChainKeys) -> None:
    with pytest.raises(ValueError, match="TTL"):
        Election(client, keys, "http://a", ttl=1)
    with pytest.raises(ValueError, match="bytes"):
        Election(client, keys, "x" * 2000)


def test_a_campaign_ends_when_asked_to_stop(client: EtcdClient, keys: ChainKeys) -> None:
    holder = Election(client, keys, "http://holder:8545", ttl=TTL)
    holder.campaign(timeout=TAKEOVER_TIMEOUT)
    waiting = Election(client, keys, "http://waiting:8545", ttl=TTL)
    stop = threading.Event()
    outcome: list[BaseException] = []

    def campaign() -> None:
        try:
            waiting.campaign(stop=stop)
        except CampaignStopped as exc:
            outcome.append(exc)

    thread = threading.Thread(target=campaign)
    thread.start()
    wait_for(lambda: waiting._keeper is not None, TAKEOVER_TIMEOUT, "the campaign to start")
    stop.set()
    thread.join(TAKEOVER_TIMEOUT)
    assert not thread.is_alive()
    assert [type(exc) for exc in outcome] == [CampaignStopped]
    leader = waiting.leader()
    assert leader is not None
    assert leader.value == "http://holder:8545"
    holder.resign()
