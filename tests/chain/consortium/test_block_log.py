"""The block log on a real etcd: fenced compare-and-swap appends, reads, following,
retention."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.consortium.block_log import (
    AppendRejected,
    BlockLog,
    BlockNotCommitted,
    BlockPruned,
    BlockTooLarge,
    CommittedBlock,
    Head,
    LogMismatch,
    RejectReason,
)
from chain.consortium.election import Election, Leadership
from chain.consortium.etcd import (
    EtcdClient,
    EtcdCompacted,
    EtcdUnavailable,
    compare_version,
    put_op,
)
from chain.consortium.keys import ChainKeys
from tests.chain.consortium.etcd_cluster import EtcdCluster

GENESIS = hashlib.sha256(b"genesis").digest()
TTL = 2
WAIT = 30.0  # generous bound on anything that waits for etcd


def block(height: int, tag: bytes = b"") -> tuple[bytes, bytes]:
    """Opaque block bytes and a hash for them (the log does not look inside)."""
    data = b"block %d %s" % (height, tag)
    return data, hashlib.sha256(data).digest()


def append_chain(log: BlockLog, head: Head, lease: int, count: int) -> Head:
    for _ in range(count):
        data, digest = block(head.height + 1)
        head = log.append(head.height + 1, head.hash, data, block_hash=digest, lease=lease)
    return head


@pytest.fixture
def log(client: EtcdClient, keys: ChainKeys) -> BlockLog:
    block_log = BlockLog(client, keys)
    block_log.initialize(GENESIS)
    return block_log


@pytest.fixture
def minter(client: EtcdClient, keys: ChainKeys) -> Iterator[Leadership]:
    election = Election(client, keys, "http://minter:8545", ttl=TTL)
    leadership = election.campaign(timeout=WAIT)
    yield leadership
    election.resign()


def test_initialize_is_idempotent_and_refuses_another_genesis(
    client: EtcdClient, keys: ChainKeys
) -> None:
    log = BlockLog(client, keys)
    assert log.head() is None
    assert log.initialize(GENESIS) == log.initialize(GENESIS)
    head = log.head()
    assert head is not None
    assert (head.height, head.hash) == (0, GENESIS)
    with pytest.raises(LogMismatch):
        log.initialize(hashlib.sha256(b"another chain").digest())


def test_appended_blocks_become_the_head_and_read_back(log: BlockLog, minter: Leadership) -> None:
    data, digest = block(1)
    head = log.append(1, GENESIS, data, block_hash=digest, lease=minter.lease)
    assert (head.height, head.hash) == (1, digest)
    assert log.head() == head
    assert log.read(1) == CommittedBlock(1, data, head.revision)
    with pytest.raises(BlockNotCommitted):
        log.read(2)
    with pytest.raises(ValueError, match="height 1"):
        log.read(0)


def test_an_append_on_a_block_that_is_not_the_head_is_rejected(
    log: BlockLog, minter: Leadership
) -> None:
    head = append_chain(log, log.initialize(GENESIS), minter.lease, 2)
    data, digest = block(2, b"fork")
    with pytest.raises(AppendRejected) as caught:  # height 2 again, on block 1
        log.append(2, block(1)[1], data, block_hash=digest, lease=minter.lease)
    assert caught.value.reason is RejectReason.HEAD_MOVED
    assert caught.value.head == head
    with pytest.raises(AppendRejected) as caught:  # a height gap on the right parent hash
        log.append(4, head.hash, block(4)[0], block_hash=block(4)[1], lease=minter.lease)
    assert caught.value.reason is RejectReason.HEAD_MOVED
    assert log.head() == head
    assert log.read(2).data == block(2)[0]


def test_an_append_without_the_election_is_rejected(
    client: EtcdClient, log: BlockLog, keys: ChainKeys
) -> None:
    data, digest = block(1)
    with pytest.raises(AppendRejected) as caught:  # nobody holds the election
        log.append(1, GENESIS, data, block_hash=digest, lease=client.grant_lease(30))
    assert caught.value.reason is RejectReason.NOT_LEADER
    assert log.head().height == 0  # type: ignore[union-attr]


def test_an_append_before_initialize_is_rejected(client: EtcdClient, keys: ChainKeys) -> None:
    log = BlockLog(client, keys)
    data, digest = block(1)
    with pytest.raises(AppendRejected) as caught:
        log.append(1, GENESIS, data, block_hash=digest, lease=client.grant_lease(30))
    assert caught.value.reason is RejectReason.NOT_INITIALIZED


def test_a_deposed_minter_whose_lease_expired_cannot_append(
    client: EtcdClient, log: BlockLog, keys: ChainKeys
) -> None:
    # the old minter won exactly as Election.campaign does, then hung: no keepalives
    old_lease = client.grant_lease(TTL)
    assert client.txn(
        [compare_version(keys.minter, 0)], [put_op(keys.minter, b"http://old", old_lease)]
    ).succeeded
    new = Election(client, keys, "http://new", ttl=TTL)
    leadership = new.campaign(timeout=WAIT)  # wins once the old lease has run out
    try:
        data, digest = block(1, b"from the old minter")
        with pytest.raises(AppendRejected) as caught:
            log.append(1, GENESIS, data, block_hash=digest, lease=old_lease)
        assert caught.value.reason is RejectReason.NOT_LEADER
        new_data, new_digest = block(1, b"from the new minter")
        log.append(1, GENESIS, new_data, block_hash=new_digest, lease=leadership.lease)
        assert log.read(1).data == new_data
    finally:
        new.resign()


def test_a_minter_is_fenced_the_moment_its_lease_is_gone(
    client: EtcdClient, log: BlockLog, minter: Leadership
) -> None:
    client.revoke_lease(minter.lease)  # as an expiry would; the minter has not noticed yet
    data, digest = block(1)
    with pytest.raises(AppendRejected) as caught:
        log.append(1, GENESIS, data, block_hash=digest, lease=minter.lease)
    assert caught.value.reason is RejectReason.NOT_LEADER


def test_concurrent_appends_at_one_height_commit_exactly_one(
    etcd: EtcdCluster, log: BlockLog, keys: ChainKeys, minter: Leadership
) -> None:
    contenders = 6
    barrier = threading.Barrier(contenders)
    outcomes: dict[int, object] = {}

    def contend(index: int) -> None:
        data, digest = block(1, b"contender %d" % index)
        with EtcdClient(etcd.endpoints) as own_client:
            own_log = BlockLog(own_client, keys)
            barrier.wait()
            try:
                outcomes[index] = own_log.append(
                    1, GENESIS, data, block_hash=digest, lease=minter.lease
                )
            except AppendRejected as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    winners = [i for i, outcome in outcomes.items() if isinstance(outcome, Head)]
    assert len(outcomes) == contenders
    assert len(winners) == 1
    losers = [o for o in outcomes.values() if isinstance(o, AppendRejected)]
    assert all(o.reason is RejectReason.HEAD_MOVED for o in losers)
    assert log.read(1).data == block(1, b"contender %d" % winners[0])[0]


def test_resending_a_committed_block_is_answered_as_committed(
    log: BlockLog, minter: Leadership
) -> None:
    data, digest = block(1)
    first = log.append(1, GENESIS, data, block_hash=digest, lease=minter.lease)
    # the answer was lost: the minter sends the same block again
    assert log.append(1, GENESIS, data, block_hash=digest, lease=minter.lease) == first
    other, other_digest = block(1, b"other")
    with pytest.raises(AppendRejected):
        log.append(1, GENESIS, other, block_hash=other_digest, lease=minter.lease)


def test_a_block_over_the_size_bound_is_refused_before_etcd(
    client: EtcdClient, keys: ChainKeys, minter: Leadership
) -> None:
    log = BlockLog(client, keys, max_block_bytes=1000)
    log.initialize(GENESIS)
    with pytest.raises(BlockTooLarge):
        log.append(1, GENESIS, b"x" * 1001, block_hash=GENESIS, lease=minter.lease)
    assert log.head().height == 0  # type: ignore[union-attr]


def test_bad_hashes_and_heights_are_refused(log: BlockLog, minter: Leadership) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        log.append(1, GENESIS, b"b", block_hash=b"short", lease=minter.lease)
    with pytest.raises(ValueError, match="height 1"):
        log.append(0, GENESIS, b"b", block_hash=GENESIS, lease=minter.lease)


def test_retention_keeps_the_last_blocks_and_names_the_pruned_ones(
    client: EtcdClient, log: BlockLog, minter: Leadership, keys: ChainKeys
) -> None:
    head = append_chain(log, log.initialize(GENESIS), minter.lease, 10)
    first_revision = log.read(1).revision
    assert log.retain(3) == 7
    assert log.oldest() == 8
    for height in range(1, 8):
        with pytest.raises(BlockPruned) as caught:
            log.read(height)
        assert caught.value.oldest == 8
    assert [log.read(h).data for h in (8, 9, 10)] == [block(h)[0] for h in (8, 9, 10)]
    with pytest.raises(BlockNotCommitted):
        log.read(11)
    with pytest.raises(EtcdCompacted):  # the history before the deletion is compacted too
        client.range(keys.block(1), revision=first_revision)
    with pytest.raises(BlockPruned):
        next(log.follow(2))
    assert log.retain(3) == 0  # nothing more to delete
    head = append_chain(log, head, minter.lease, 1)  # appending goes on
    assert log.retain(3) == 1
    assert log.oldest() == 9


def _collect(log: BlockLog, from_height: int, stop: threading.Event) -> list[CommittedBlock]:
    seen: list[CommittedBlock] = []

    def run() -> None:
        for committed in log.follow(from_height, stop=stop, idle_timeout=1):
            seen.append(committed)

    threading.Thread(target=run, daemon=True).start()
    return seen


def wait_for_len(seen: list[CommittedBlock], count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval, bounded by the deadline
    assert len(seen) >= count, f"followed {len(seen)} of {count} blocks"


def test_follow_sees_every_block_once_in_order_across_an_etcd_restart(tmp_path: Path) -> None:
    cluster = EtcdCluster(1, tmp_path / "etcd")
    keys = ChainKeys(7)
    stop = threading.Event()
    try:
        with EtcdClient(cluster.endpoints) as client, EtcdClient(cluster.endpoints) as reader:
            log = BlockLog(client, keys)
            head = log.initialize(GENESIS)
            election = Election(client, keys, "http://minter", ttl=10)
            leadership = election.campaign(timeout=WAIT)
            head = append_chain(log, head, leadership.lease, 3)  # before following starts
            seen = _collect(BlockLog(reader, keys), 2, stop)
            head = append_chain(log, head, leadership.lease, 3)
            wait_for_len(seen, 5)

            member = cluster.members[0]
            cluster.kill(member)  # the follower's watch breaks mid-stream
            cluster.restart(member)
            cluster.wait_healthy([member])
            deadline = time.monotonic() + WAIT
            while True:  # the lease survives the restart (etcd renews leases on a new leader)
                try:
                    head = append_chain(log, head, leadership.lease, 5)
                    break
                except EtcdUnavailable:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            wait_for_len(seen, 10)  # blocks 2 to 11: a duplicate would come before 11
            assert [b.height for b in seen] == list(range(2, 12))
            assert [b.data for b in seen] == [block(h)[0] for h in range(2, 12)]
            stop.set()
            election.resign()
    finally:
        stop.set()
        cluster.stop()
