"""``scf-node bench --overload``: what a flood costs the other members, and that it
loses nothing (docs/benchmarks.md, docs/operations.md section 10.1).

A node is started as the REST benchmark starts it (``scripts.bench.rest``: a fresh dev
home with member holders, ``scf-node start --dev`` as its own process). Then:

1. baseline: ``steady_members`` members each write (split transfers, one in flight,
   waiting out any ``Retry-After`` under the same key) and read (by id and by holder,
   one reader on the primary port, one on the read replica), on and on;
2. flood: beside them, ``flood_members`` other members flood the node
   (``scripts.bench.flood``: write bursts, event-stream floods, deep / huge / chunked
   bodies, slow bodies) while ``/healthz`` is asked twice a second;
3. after: the flood stopped, the steady members carry on a while.

Each steady request's latency is counted in the phase it was sent in. Afterwards every
write is checked (``scripts.bench.overload_check``): nothing acknowledged lost, nothing
applied twice. The clients stay off the ledger's CPU, as in (e).
"""

from __future__ import annotations

import http.client
import itertools
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

from nodes.runtime.dev_node import ChildNode, dev_node
from nodes.runtime.placement import pinned_thread
from scripts.bench.flood import (
    REFUSED,
    REQUEST_TIMEOUT,
    Writes,
    body_attacks,
    retry_after,
    slow_bodies,
    stream_flood,
    transfer,
    write_burst,
)
from scripts.bench.http_client import KeptAliveClient, Reply
from scripts.bench.overload_check import check_writes
from scripts.bench.overload_results import (
    PHASES,
    READ_PRIMARY,
    READ_REPLICA,
    WRITE,
    AttackTally,
    OverloadOptions,
    OverloadReport,
    Series,
)
from scripts.bench.rest import RestMember, client_cpus, prepare_home
from scripts.bench.results import BenchmarkFailed

Progress = Callable[[str], None]

ANY_REFUSAL = frozenset(range(400, 500)) | REFUSED
HEALTH_EVERY = 0.5  # seconds between /healthz requests during the flood


class Steady:
    """The steady members' clients: each request's latency kept under the phase it was
    sent in, until ``stop``."""

    def __init__(self, node: ChildNode, report: OverloadReport, writes: Writes) -> None:
        self.node = node
        self.report = report
        self.writes = writes
        self.phase = PHASES[0]
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _record(self, kind: str, phase: str, ms: float, refused: int) -> None:
        with self._lock:
            series: Series = self.report.members[kind][phase]
            series.latencies_ms.append(ms)
            series.refused += refused

    def _failed(self, kind: str, phase: str, what: str) -> None:
        with self._lock:
            self.report.members[kind][phase].failed += 1
            self.report.failures.append(what)

    def writer(self, member: RestMember) -> None:
        """Transfers one after another; a refused one is sent again under its key after
        ``Retry-After``, and counts once, from its first sending to its 201."""
        client = KeptAliveClient(self.node.api_url, timeout=REQUEST_TIMEOUT)
        try:
            while not self.stop.is_set():
                key, phase, refused = f"steady-{uuid.uuid4().hex}", self.phase, 0
                sent = time.perf_counter()
                while True:
                    try:
                        reply = transfer(client, member, key)
                    except (OSError, http.client.HTTPException) as exc:
                        self.writes.no_answer(key, member)
                        self._failed(WRITE, phase, f"write: {exc!r}")
                        client.close()
                        client = KeptAliveClient(self.node.api_url, timeout=REQUEST_TIMEOUT)
                        break
                    self.writes.answered(key, member, reply)
                    if reply.status_code not in REFUSED:
                        break
                    refused += 1
                    time.sleep(retry_after(reply))
                if reply.status_code == 201:
                    self._record(WRITE, phase, (time.perf_counter() - sent) * 1000, refused)
                else:
                    message = f"write: HTTP {reply.status_code} {reply.text[:200]}"
                    self._failed(WRITE, phase, message)
        finally:
            client.close()

    def reader(self, member: RestMember, url: str, kind: str) -> None:
        """By id and by holder in turn; a refused read waits out ``Retry-After``."""
        paths = itertools.cycle(
            (
                (f"/v1/certificates/{member.certificate_id}", {}),
                ("/v1/certificates", {"holder_id": member.member_id}),
            )
        )
        client = KeptAliveClient(url, timeout=REQUEST_TIMEOUT)
        try:
            while not self.stop.is_set():
                path, params = next(paths)
                phase, refused = self.phase, 0
                sent = time.perf_counter()
                try:
                    while True:
                        reply = client.get(path, params=params, headers=member.auth)
                        if reply.status_code not in REFUSED:
                            break
                        refused += 1
                        time.sleep(retry_after(reply))
                except (OSError, http.client.HTTPException) as exc:
                    self._failed(kind, phase, f"read: {exc!r}")
                    client.close()
                    client = KeptAliveClient(url, timeout=REQUEST_TIMEOUT)
                    continue
                if reply.status_code == 200:
                    self._record(kind, phase, (time.perf_counter() - sent) * 1000, refused)
                else:
                    self._failed(kind, phase, f"read: HTTP {reply.status_code} {reply.text[:200]}")
        finally:
            client.close()

    def jobs(self, members: list[RestMember]) -> list[Callable[[], None]]:
        found: list[Callable[[], None]] = []
        for member in members:
            found.append(partial(self.writer, member))
            found.append(partial(self.reader, member, self.node.api_url, READ_PRIMARY))
            found.append(partial(self.reader, member, self.node.read_url, READ_REPLICA))
        return found


def _flood_jobs(
    node: ChildNode,
    members: list[RestMember],
    options: OverloadOptions,
    report: OverloadReport,
    writes: Writes,
    stop: threading.Event,
) -> list[Callable[[], None]]:
    """Every attack of ``scripts.bench.flood`` by ``members``, as ``options`` sizes them."""
    tallies = {
        "writes": AttackTally("write bursts (refusals ignored)", REFUSED),
        "streams": AttackTally("GET /v1/events streams, held unread", REFUSED),
        "deep": AttackTally("JSON nested 70,000 levels deep", frozenset({422})),
        "declared": AttackTally("body declaring 500 MB", frozenset({413})),
        "chunked": AttackTally("chunked body without end", frozenset({413})),
        # an invalid transfer by a flood member, refused once its body ends: as invalid
        # (422), or by the bounds its member's and the others' writes fill (429, 503)
        "slow": AttackTally("slow body, a byte a second (answered after its end)", ANY_REFUSAL),
    }
    if not options.body_attackers:
        for name in ("deep", "declared", "chunked"):
            del tallies[name]
    if not options.slow_bodies:
        del tallies["slow"]
    report.attacks = tallies
    url = node.api_url
    jobs: list[Callable[[], None]] = []
    for member in members:
        burst = partial(write_burst, url, member, tallies["writes"], writes, stop)
        jobs += [burst] * options.write_connections
        jobs.append(
            partial(stream_flood, url, member, options.streams_per_member, tallies["streams"], stop)
        )
    jobs += [partial(body_attacks, url, tallies, stop)] * options.body_attackers
    if options.slow_bodies:
        jobs.append(
            partial(slow_bodies, url, members[0], options.slow_bodies, tallies["slow"], stop)
        )
    return jobs


def _watch_health(node: ChildNode, report: OverloadReport, stop: threading.Event) -> None:
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        while not stop.is_set():
            sent = time.perf_counter()
            try:
                ok = client.get(f"{node.api_url}/healthz").status_code == 200
            except httpx.TransportError:
                ok = False
            if ok:
                report.health.latencies_ms.append((time.perf_counter() - sent) * 1000)
            else:
                report.health.failures += 1
            stop.wait(HEALTH_EVERY)


def _start(jobs: list[Callable[[], None]], errors: list[BaseException]) -> list[threading.Thread]:
    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # reported by the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,), name="bench-overload") for job in jobs]
    for thread in threads:
        thread.start()
    return threads


def _warm_up(node: ChildNode, members: list[RestMember], writes: Writes) -> None:
    """One transfer per member (its keystore decrypted once, its certificate used)."""

    def one(member: RestMember) -> Reply:
        with KeptAliveClient(node.api_url, timeout=REQUEST_TIMEOUT) as client:
            key = f"warm-{uuid.uuid4().hex}"
            reply = transfer(client, member, key)
            writes.answered(key, member, reply)
            return reply

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one, members))
    failed = [r for r in replies if r.status_code != 201]
    if failed:
        raise BenchmarkFailed(f"warm-up: HTTP {failed[0].status_code} {failed[0].text[:300]}")


def run_overload(options: OverloadOptions, progress: Progress = lambda _: None) -> OverloadReport:
    """See the module docstring."""
    if options.steady_members < 1 or options.flood_members < 1:
        raise ValueError("the overload bench needs steady members and flood members")
    report = OverloadReport(options, machine_load=os.getloadavg())
    writes = Writes()
    holders = max(options.steady_members + options.flood_members, 2)
    with tempfile.TemporaryDirectory(prefix="scf-overload-") as tmp:
        root = Path(tmp)
        progress(f"preparing a node home with {holders} member holders and their API keys")
        members = prepare_home(root / "home", holders, kdf_iterations=options.kdf_iterations)
        steady_members = members[: options.steady_members]
        flood_members = members[options.steady_members :]
        progress("starting scf-node start --dev")
        with dev_node(root / "home", root / "node.log") as node, pinned_thread(client_cpus()):
            progress("warm-up: one transfer per member")
            _warm_up(node, members, writes)
            errors: list[BaseException] = []
            steady = Steady(node, report, writes)
            steady_threads = _start(steady.jobs(steady_members), errors)
            try:
                progress(f"baseline: {options.baseline_seconds:g} s")
                time.sleep(options.baseline_seconds)
                _flood(node, flood_members, options, report, writes, steady, errors, progress)
                steady.phase = PHASES[2]
                progress(f"after the flood: {options.after_seconds:g} s")
                time.sleep(options.after_seconds)
            finally:
                steady.stop.set()
                for thread in steady_threads:
                    thread.join()
            if errors:  # a bug of the bench, not an answer of the node
                raise BenchmarkFailed(f"overload: {errors[0]!r}") from errors[0]
            progress("checking every write: sent again, on the ledger, in the read model")
            report.integrity = check_writes(node, root / "home", members, writes)
    return report


def _flood(
    node: ChildNode,
    members: list[RestMember],
    options: OverloadOptions,
    report: OverloadReport,
    writes: Writes,
    steady: Steady,
    errors: list[BaseException],
    progress: Progress,
) -> None:
    stop = threading.Event()
    jobs = _flood_jobs(node, members, options, report, writes, stop)
    jobs.append(partial(_watch_health, node, report, stop))
    steady.phase = PHASES[1]
    progress(f"flood: {len(jobs) - 1} attacking connections for {options.flood_seconds:g} s")
    threads = _start(jobs, errors)
    try:
        time.sleep(options.flood_seconds)
    finally:
        stop.set()
        progress("flood: waiting for the attackers' last answers")
        for thread in threads:
            thread.join()
