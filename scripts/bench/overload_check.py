"""After the flood: nothing acknowledged was lost, nothing was applied twice.

As a client does after a lost answer, every write without one is sent again under its
Idempotency-Key until answered. Then every acknowledged key is sent once more (the
node must answer the same transfer), each acknowledged transfer is looked up on the
ledger (through the node's JSON-RPC) and in the read model (through the API), and each
source certificate must have split off exactly as many transfers as were acknowledged
for it, its value reduced by exactly their amounts (conservation).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from chain.backends.rpc import RpcLedger
from chain.deploy import Consortium
from chain.errors import ScfError
from chain.scf import get_certificate
from nodes.home import NodeHome
from nodes.runtime.dev_node import ChildNode
from scripts.bench.flood import REFUSED, REQUEST_TIMEOUT, Writes, retry_after, transfer
from scripts.bench.http_client import KeptAliveClient
from scripts.bench.overload_results import Integrity
from scripts.bench.rest import RestMember
from scripts.bench.workload import FACE_VALUE, TRANSFER_AMOUNT

RESEND_FOR = 120.0  # seconds a write without an answer is sent again before it counts
INDEXED_WITHIN = 60.0  # seconds the read model may take to show an acknowledged transfer
CHECKERS = 4  # client threads sending again and looking up

T = TypeVar("T")
R = TypeVar("R")


def check_writes(
    node: ChildNode, home: Path, members: list[RestMember], writes: Writes
) -> Integrity:
    found = Integrity()
    found.resent_unanswered = len(writes.unanswered)
    found.unresolved = sum(
        _in_threads(node, list(writes.unanswered.items()), _resend_until_answered(writes))
    )
    acknowledged = list(writes.acknowledged.items())
    found.acknowledged = len(acknowledged)
    replays = _in_threads(node, acknowledged, _replay)
    found.replayed_same = sum(replays)
    found.duplicated = len(replays) - found.replayed_same

    ids = Counter(child for _, (_, child) in acknowledged)
    shared = sum(n - 1 for n in ids.values())  # two keys answered with one transfer
    consortium = Consortium.load(RpcLedger(node.rpc_url), NodeHome(home).deployment)
    on_ledger = {
        child for _, (member, child) in acknowledged if _split_off(consortium, member, child)
    }
    found.on_ledger = sum(1 for _, (_, child) in acknowledged if child in on_ledger)
    per_member = Counter(member.certificate_id for _, (member, _) in acknowledged)
    found.value_conserved = True
    for member in members:
        source = get_certificate(consortium, member.certificate_id)
        # more transfers split off than acknowledged: a refused or repeated write ran
        found.duplicated += max(0, source.child_count - per_member[member.certificate_id])
        if source.value != FACE_VALUE - source.child_count * TRANSFER_AMOUNT:
            found.value_conserved = False
    indexed = set(_indexed(node, [(member, child) for _, (member, child) in acknowledged]))
    found.in_read_model = sum(1 for _, (_, child) in acknowledged if child in indexed)
    missing = {child for _, (_, child) in acknowledged} - (on_ledger & indexed)
    found.lost = shared + sum(1 for _, (_, child) in acknowledged if child in missing)
    return found


def _split_off(consortium: Consortium, member: RestMember, child: int) -> bool:
    try:
        found = get_certificate(consortium, child)
    except ScfError:  # no such certificate
        return False
    return (found.parent_id, found.holder_id, found.value) == (
        member.certificate_id,
        member.recipient_id,
        TRANSFER_AMOUNT,
    )


def _resend_until_answered(
    writes: Writes,
) -> Callable[[KeptAliveClient, tuple[str, RestMember]], int]:
    """Send a write again under its key, waiting out refusals, until it is answered 201;
    1 if it never was."""

    def resend(client: KeptAliveClient, item: tuple[str, RestMember]) -> int:
        key, member = item
        deadline = time.monotonic() + RESEND_FOR
        while time.monotonic() < deadline:
            reply = transfer(client, member, key)
            writes.answered(key, member, reply)
            if reply.status_code == 201:
                return 0
            time.sleep(retry_after(reply) if reply.status_code in REFUSED else 1.0)
        return 1

    return resend


def _replay(client: KeptAliveClient, item: tuple[str, tuple[RestMember, int]]) -> bool:
    """The acknowledged write under this key, sent again: the same transfer answered."""
    key, (member, child) = item
    while True:
        reply = transfer(client, member, key)
        if reply.status_code not in REFUSED:
            break
        time.sleep(retry_after(reply))
    return reply.status_code == 201 and int(reply.json()["id"]) == child


def _indexed(node: ChildNode, transfers: list[tuple[RestMember, int]]) -> list[int]:
    """The transfers the read model shows, as answered, within ``INDEXED_WITHIN``."""

    def shown(client: KeptAliveClient, item: tuple[RestMember, int]) -> int | None:
        member, child = item
        deadline = time.monotonic() + INDEXED_WITHIN
        while True:
            reply = client.get(f"/v1/certificates/{child}", params={}, headers=member.auth)
            if reply.status_code == 200:
                return child if reply.json()["parent_id"] == member.certificate_id else None
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    return [child for child in _in_threads(node, transfers, shown) if child is not None]


def _in_threads(
    node: ChildNode, items: Iterable[T], work: Callable[[KeptAliveClient, T], R]
) -> list[R]:
    """``work`` on each item, by ``CHECKERS`` threads with a connection each."""
    chunks: list[list[T]] = [[] for _ in range(CHECKERS)]
    for i, item in enumerate(items):
        chunks[i % CHECKERS].append(item)

    def run(chunk: list[T]) -> list[R]:
        with KeptAliveClient(node.api_url, timeout=REQUEST_TIMEOUT) as client:
            return [work(client, item) for item in chunk]

    with ThreadPoolExecutor(CHECKERS) as pool:
        return [result for results in pool.map(run, chunks) for result in results]
