"""The etcd client against a real etcd: encoding, transactions, leases, watches, and the
named errors for every way a call can fail."""

from __future__ import annotations

import time

import pytest

from chain.consortium.etcd import (
    EtcdClient,
    EtcdCompacted,
    EtcdLeaseNotFound,
    EtcdRequestRejected,
    EtcdResponseTooLarge,
    EtcdUnavailable,
    EventType,
    compare_version,
    prefix_end,
    put_op,
    range_op,
)
from chain.consortium.keys import ChainKeys
from tests.chain.consortium.etcd_cluster import EtcdCluster, _free_port


def test_put_get_and_range_keep_binary_keys_and_values(client: EtcdClient, keys: ChainKeys) -> None:
    raw = bytes(range(256))  # every byte value survives the base64 of the gateway
    first = client.put(keys.prefix + b"a", raw)
    client.put(keys.prefix + b"b", b"")
    client.put(keys.prefix + b"c", b"3")

    kv = client.get(keys.prefix + b"a")
    assert kv is not None
    assert kv.value == raw
    assert kv.mod_revision == first
    assert kv.version == 1
    assert client.get(keys.prefix + b"missing") is None
    page = client.range(keys.prefix, prefix_end(keys.prefix), limit=2)
    assert [kv.key for kv in page.kvs] == [keys.prefix + b"a", keys.prefix + b"b"]
    assert page.more
    assert page.revision >= first
    assert page.kvs[1].value == b""


def test_txn_runs_one_branch_atomically(client: EtcdClient, keys: ChainKeys) -> None:
    key = keys.prefix + b"once"
    create = ([compare_version(key, 0)], [put_op(key, b"first")], [range_op(key)])
    assert client.txn(*create).succeeded
    again = client.txn([compare_version(key, 0)], [put_op(key, b"second")], [range_op(key)])
    assert not again.succeeded
    assert [kv.value for kv in again.range_kvs(0)] == [b"first"]


def test_delete_range_counts_what_it_deleted(client: EtcdClient, keys: ChainKeys) -> None:
    for name in (b"x1", b"x2", b"y"):
        client.put(keys.prefix + name, b"v")
    deleted, _ = client.delete_range(keys.prefix + b"x", prefix_end(keys.prefix + b"x"))
    assert deleted == 2
    assert client.get(keys.prefix + b"y") is not None


def test_a_lease_lives_while_kept_alive_and_its_keys_go_with_it(
    client: EtcdClient, keys: ChainKeys
) -> None:
    lease = client.grant_lease(30)
    client.put(keys.prefix + b"leased", b"v", lease=lease)
    assert client.keep_alive(lease) > 0
    assert client.get(keys.prefix + b"leased").lease == lease  # type: ignore[union-attr]

    client.revoke_lease(lease)
    assert client.get(keys.prefix + b"leased") is None
    with pytest.raises(EtcdLeaseNotFound):
        client.keep_alive(lease)
    with pytest.raises(EtcdLeaseNotFound):
        client.revoke_lease(lease)
    with pytest.raises(EtcdLeaseNotFound):  # a put on a dead lease is refused by name
        client.put(keys.prefix + b"late", b"v", lease=lease)


def test_watch_streams_changes_from_a_revision(client: EtcdClient, keys: ChainKeys) -> None:
    key = keys.prefix + b"watched"
    start = client.put(key, b"1")
    client.put(key, b"2")
    client.delete_range(key)
    seen = []
    for response in client.watch(key, start_revision=start, idle_timeout=5):
        seen += [(event.type, event.kv.value) for event in response.events]
        if len(seen) >= 3:
            break
    assert seen == [(EventType.PUT, b"1"), (EventType.PUT, b"2"), (EventType.DELETE, b"")]


def test_a_watch_from_a_compacted_revision_is_a_named_error(
    client: EtcdClient, keys: ChainKeys
) -> None:
    key = keys.prefix + b"history"
    old = client.put(key, b"1")
    latest = client.put(key, b"2")
    client.compact(latest)
    with pytest.raises(EtcdCompacted):
        for _ in client.watch(key, start_revision=old, idle_timeout=5):
            pass
    with pytest.raises(EtcdCompacted):
        client.range(key, revision=old)
    with pytest.raises(EtcdCompacted):  # compacting again below the compacted revision
        client.compact(old)


def test_an_idle_watch_ends_as_unavailable_after_its_idle_timeout(
    client: EtcdClient, keys: ChainKeys
) -> None:
    with pytest.raises(EtcdUnavailable) as caught:
        for _ in client.watch(keys.prefix + b"quiet", idle_timeout=0.5):
            pass
    assert caught.value.sent


def test_responses_larger_than_the_bound_are_refused(etcd: EtcdCluster, keys: ChainKeys) -> None:
    with EtcdClient(etcd.endpoints, max_response_bytes=4096) as small:
        small.put(keys.prefix + b"big", b"x" * 8192)  # the put's answer is small
        with pytest.raises(EtcdResponseTooLarge):
            small.get(keys.prefix + b"big")


def test_a_request_etcd_refuses_is_a_named_error(client: EtcdClient, keys: ChainKeys) -> None:
    with pytest.raises(EtcdRequestRejected):  # larger than etcd's --max-request-bytes
        client.put(keys.prefix + b"huge", b"x" * (2 * 1024 * 1024))


def test_no_endpoint_listening_is_unavailable_and_not_sent() -> None:
    dead = [f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"]
    with EtcdClient(dead, timeout=2) as client:
        started = time.monotonic()
        with pytest.raises(EtcdUnavailable) as caught:
            client.get(b"/anything")
        assert not caught.value.sent  # nothing reached etcd: safe to send again
        assert time.monotonic() - started < 30  # bounded, not hanging


def test_a_dead_endpoint_is_skipped_for_a_live_one(etcd: EtcdCluster, keys: ChainKeys) -> None:
    endpoints = [f"http://127.0.0.1:{_free_port()}", *etcd.endpoints]
    with EtcdClient(endpoints) as client:
        client.put(keys.prefix + b"k", b"v")
        assert client.get(keys.prefix + b"k") is not None


def test_client_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EtcdClient([])
