"""A burst of writes beyond what the node can run at once: 400 split transfers from 20
members in the same moment. 200 from two members once held every worker thread on the
SQL connection pool: each client timed out after 60 s, about 200 answered 500, and
``/healthz`` was silent for minutes.

Now every request of the burst is answered within ``ANSWER_BOUND``: 201, or a refusal
(503 ``overloaded`` / 429 ``rate_limited`` with ``Retry-After``) within
``REFUSAL_BOUND``. Sending each request again under its Idempotency-Key, as a client
does after a refusal or a lost answer, ends with exactly one transfer per key, on the
ledger and in the read model. ``/healthz`` answers throughout, and right after the burst
the members write again without a refusal."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from chain.backends.rpc import RpcLedger
from chain.deploy import Consortium
from chain.scf import get_certificate
from nodes.home import NodeHome
from nodes.runtime.dev_node import ChildNode, dev_node
from scripts.bench.rest import AMOUNT, RestMember, prepare_home
from scripts.bench.workload import FACE_VALUE, TRANSFER_AMOUNT

MEMBERS = 20
PER_MEMBER = 20  # 400 writes at once: several times what the node admits at a time
ANSWER_BOUND = 30.0  # seconds: every request of the burst is answered within it
REFUSAL_BOUND = 5.0  # seconds: a refusal comes at once, not after a wait for capacity
HEALTH_BOUND = 5.0  # seconds: each /healthz during the burst
AFTER_BOUND = 10.0  # seconds: the members' first writes after the burst
CLIENT_TIMEOUT = 90.0  # longer than any bound: a slow answer is measured, not cut off
REFUSED = (429, 503)
KDF_ITERATIONS = 2**10  # keystores cheap to open: 20 default ones cost a minute of CPU

T = TypeVar("T")


@dataclass(frozen=True)
class Transfer:
    member: RestMember
    key: str


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    headers: dict[str, str]
    body: dict[str, Any]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("burst") / "home"


@pytest.fixture(scope="module")
def members(home: Path) -> list[RestMember]:
    return prepare_home(home, MEMBERS, kdf_iterations=KDF_ITERATIONS)


@pytest.fixture(scope="module")
def node(home: Path, members: list[RestMember]) -> Iterator[ChildNode]:
    with dev_node(home, home.parent / "node.log") as running:
        yield running


def _post(api_url: str, transfer: Transfer) -> Answer:
    """One split transfer on a connection of its own (as 400 separate clients send them)."""
    parts = urlsplit(api_url)
    member = transfer.member
    body = json.dumps({"to_member_id": member.recipient_id, "amount": AMOUNT})
    headers = {**member.auth, "Idempotency-Key": transfer.key}
    headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=CLIENT_TIMEOUT
    )
    sent = time.monotonic()
    try:
        path = f"/v1/certificates/{member.certificate_id}/transfers"
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        seconds = time.monotonic() - sent
        answered = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, seconds, answered, json.loads(raw) if raw else {})
    finally:
        connection.close()


def _all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, released together; their results in order."""
    results: list[tuple[T] | BaseException | None] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = (calls[i](),)
        except BaseException as exc:  # reported below, with the others
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [r for r in results if not isinstance(r, tuple)]
    assert not failures, f"{len(failures)} requests got no answer, e.g. {failures[0]!r}"
    return [r[0] for r in results if isinstance(r, tuple)]


@dataclass
class HealthWatch:
    """``/healthz`` asked over and over while the burst runs: (status, seconds) each."""

    url: str
    seen: list[tuple[int, float]]
    stop: threading.Event

    def run(self) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    status = client.get(f"{self.url}/healthz").status_code
                except httpx.TransportError:
                    status = 0
                self.seen.append((status, time.monotonic() - sent))
                self.stop.wait(0.2)


def _transfers(members: list[RestMember], each: int) -> list[Transfer]:
    return [
        Transfer(m, f"burst-{m.member_id}-{uuid.uuid4()}") for m in members for _ in range(each)
    ]


def _send_until_answered(api_url: str, transfer: Transfer) -> Answer:
    """Send ``transfer`` again and again under its key, as a client honouring
    ``Retry-After`` does, until it is answered 201."""
    deadline = time.monotonic() + ANSWER_BOUND * 2
    while True:
        answer = _post(api_url, transfer)
        if answer.status not in REFUSED or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers["retry-after"]))


def test_a_write_burst_is_answered_fast_and_nothing_is_lost_or_doubled(
    node: ChildNode, home: Path, members: list[RestMember]
) -> None:
    # each member's keystore opened once, its connections warm: the burst meets a ready node
    warm = _all_at_once([partial(_post, node.api_url, t) for t in _transfers(members, 1)])
    assert {a.status for a in warm} == {201}, [a.body for a in warm if a.status != 201][:3]

    burst = _transfers(members, PER_MEMBER)
    health = HealthWatch(node.api_url, [], threading.Event())
    watcher = threading.Thread(target=health.run)
    watcher.start()
    try:
        answers = _all_at_once([partial(_post, node.api_url, t) for t in burst])
    finally:
        health.stop.set()
        watcher.join()

    # every request answered in time, each as a success or a fast refusal with Retry-After
    statuses = sorted({a.status for a in answers})
    assert set(statuses) <= {201, *REFUSED}, [a.body for a in answers if a.status >= 500][:3]
    slowest = max(a.seconds for a in answers)
    assert slowest < ANSWER_BOUND, f"the slowest answer took {slowest:.1f}s"
    refused = [a for a in answers if a.status in REFUSED]
    assert refused, "400 writes at once are beyond the node's bound: some must be refused"
    assert max(a.seconds for a in refused) < REFUSAL_BOUND
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
    assert {a.body["error"]["code"] for a in refused} <= {"overloaded", "rate_limited"}
    assert sum(a.status == 201 for a in answers) >= MEMBERS  # the node kept writing
    # /healthz answered all along
    assert health.seen, "/healthz was asked during the burst"
    assert {status for status, _ in health.seen} == {200}, health.seen
    assert max(seconds for _, seconds in health.seen) < HEALTH_BOUND, health.seen

    # right after the burst the node writes again, none refused
    after = _transfers(members, 1)
    again = _all_at_once([partial(_post, node.api_url, t) for t in after])
    assert [a.status for a in again] == [201] * MEMBERS, [a.body for a in again][:3]
    assert max(a.seconds for a in again) < AFTER_BOUND

    # every burst request sent again under its key, each member's one after another:
    # one transfer per key, whatever the first answer was
    resent: dict[str, Answer] = {}
    for answered in _all_at_once(
        [partial(_send_in_turn, node.api_url, [t for t in burst if t.member == m]) for m in members]
    ):
        resent.update(answered)
    assert {a.status for a in resent.values()} == {201}
    for transfer, first in zip(burst, answers, strict=True):
        if first.status == 201:  # the stored answer, the same certificate
            assert resent[transfer.key].headers.get("idempotent-replayed") == "true"
            assert resent[transfer.key].body["id"] == first.body["id"]
    children = {a.body["id"] for a in resent.values()}
    assert len(children) == len(burst)

    _assert_once_on_ledger_and_read_model(node, home, members, burst, resent)


def _send_in_turn(api_url: str, transfers: list[Transfer]) -> dict[str, Answer]:
    """``transfers`` sent one after another until each is answered; the answers by key."""
    return {t.key: _send_until_answered(api_url, t) for t in transfers}


def _assert_once_on_ledger_and_read_model(
    node: ChildNode,
    home: Path,
    members: list[RestMember],
    burst: list[Transfer],
    resent: dict[str, Answer],
) -> None:
    consortium = Consortium.load(RpcLedger(node.rpc_url), NodeHome(home).deployment)
    # each member's certificate split exactly once per key: warm-up, burst, after
    sent = 1 + PER_MEMBER + 1
    for member in members:
        source = get_certificate(consortium, member.certificate_id)
        assert source.child_count == sent, (member.member_id, source.child_count)
        assert source.value == FACE_VALUE - sent * TRANSFER_AMOUNT
    with httpx.Client(base_url=node.api_url, timeout=30) as client:
        for transfer in burst:
            child = resent[transfer.key].body["id"]
            on_chain = get_certificate(consortium, child)
            assert on_chain.parent_id == transfer.member.certificate_id
            assert on_chain.holder_id == transfer.member.recipient_id
            indexed = client.get(f"/v1/certificates/{child}", headers=transfer.member.auth)
            assert indexed.status_code == 200, indexed.text
            assert indexed.json()["parent_id"] == transfer.member.certificate_id
