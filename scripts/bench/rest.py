"""(e) end to end, and reads under load: the product as a member uses it.

A node home is prepared the way ``scf-node init`` makes one (governor keystore, PKI,
deployed consortium) plus the workload's members: their signing keys in the node's
custody and one API key each. Then ``scf-node start --dev`` runs it as its own process
(embedded ledger, transaction manager, indexer, FastAPI under uvicorn on a free
loopback port), exactly as an operator starts it, and HTTP clients in this process
drive it (``rest_node`` keeps it up while the benchmark runs (e) once a round):

- (e): ``rest_clients`` clients (``scripts.bench.http_client``, one kept-alive connection each),
  each with its own members (``holders_per_client``) and one request in flight, POST
  split transfers to ``/v1/certificates/{id}/transfers``
  with an ``Idempotency-Key``, waiting for the block (the default): a 201 means the
  transfer is in a block and in the read model;
- reads: a second phase runs half as many writes with ``readers`` readers beside them,
  alternating ``GET /v1/certificates/{id}`` and ``GET /v1/certificates?holder_id=``;
  the readers take turns between the node's read replica (``--read-port``, where reads
  belong under write load) and the primary API port, so both are measured.

A warm-up round (one transfer per member, not measured) lets the node decrypt each
member's keystore once (scrypt is slow on purpose) and opens connections.

The clients stay off the CPU the node gives its ledger (``nodes.runtime.placement``), as clients
on members' own machines would: on a small machine they would otherwise take turns with
the block producer, the node's busiest process.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from api.money import format_amount
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.services.api_keys import issue_key
from api.services.custody import Custody
from chain.backends.embedded import EmbeddedLedger
from chain.events import EventDecoder
from chain.roles import Role
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.pki.home import create_home_pki
from nodes.runtime.dev_node import dev_node
from nodes.runtime.placement import AUTO, cpus_for, pinned_thread, plan
from scripts.bench.engine import CHAIN_ID
from scripts.bench.http_client import KeptAliveClient
from scripts.bench.results import BenchmarkFailed, BenchOptions, PathResult, ReadResult
from scripts.bench.workload import TRANSFER_AMOUNT, company, deploy_workload

Progress = Callable[[str], None]

AMOUNT = format_amount(TRANSFER_AMOUNT)
REQUEST_TIMEOUT = 120.0
MIN_READS = 5  # per reader, even when the writes end first (quick runs)
READ_BY_ID = "GET /v1/certificates/{id}"
READ_BY_HOLDER = "GET /v1/certificates?holder_id="
# where readers read: the read replica (--read-port), where reads under load belong and
# the reads target applies, and, for comparison, the primary
READ_TARGETS = ("read replica", "primary")
READ_ENDPOINT = READ_TARGETS[0]


@dataclass(frozen=True)
class RestMember:
    """A holder as an HTTP client knows it: its API key and what it transfers to whom."""

    member_id: int
    api_key: str
    certificate_id: int
    recipient_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


# ---- the node home and process -------------------------------------------------------------


def prepare_home(
    path: Path, holders: int, *, kdf_iterations: int | None = None
) -> list[RestMember]:
    """A dev home at ``path`` (as ``scf-node init --dev`` makes it) with ``holders``
    supplier members, their keys in custody and one API key each (``kdf_iterations``:
    see ``Custody``)."""
    home = NodeHome(path)
    ledger = EmbeddedLedger(home.chain_dir, chain_id=CHAIN_ID, dev=True, block_time=0.002)
    try:
        governor, operator = company(ledger, [Role.AUDITOR])
        home.write_keystore(governor, DEV_PASSPHRASE)
        home.write_settings({"chain_id": CHAIN_ID, "dev": True})
        operator = create_home_pki(home, DEV_PASSPHRASE, CHAIN_ID, operator)
        consortium, workload = deploy_workload(ledger, holders, governor, operator)
        consortium.save(home.deployment)
        engine = make_engine(f"sqlite:///{home.path / 'scf.db'}")
        try:
            migrate(engine)
            sessions = session_factory(engine)
            Indexer(sessions, ledger, EventDecoder(consortium)).sync()
            with sessions.begin() as session:
                keys = [issue_key(session, h.member_id, "bench").key for h in workload.holders]
        finally:
            engine.dispose()
    finally:
        ledger.close()
    custody = Custody(
        home.path / "keys" / "accounts", DEV_PASSPHRASE, kdf_iterations=kdf_iterations
    )
    with ThreadPoolExecutor(2) as pool:  # scrypt: slow on purpose, per keystore
        list(pool.map(custody.store, [h.signer for h in workload.holders]))
    return [
        RestMember(h.member_id, key, h.certificate_id, h.recipient_id)
        for h, key in zip(workload.holders, keys, strict=True)
    ]


# ---- clients -------------------------------------------------------------------------------


def _transfer(client: KeptAliveClient, member: RestMember) -> float:
    """One confirmed split transfer; its latency in ms."""
    sent = time.perf_counter()
    response = client.post(
        f"/v1/certificates/{member.certificate_id}/transfers",
        json_body={"to_member_id": member.recipient_id, "amount": AMOUNT},
        headers={**member.auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    elapsed = (time.perf_counter() - sent) * 1000
    child = response.json() if response.status_code == 201 else {}
    expected = (member.certificate_id, member.recipient_id, AMOUNT)
    if (child.get("parent_id"), child.get("holder_id"), child.get("value")) != expected:
        raise BenchmarkFailed(
            f"transfer from certificate {member.certificate_id}: HTTP {response.status_code} "
            f"{response.text[:300]}"
        )
    return elapsed


def _read(client: KeptAliveClient, member: RestMember, route: str) -> float:
    if route == READ_BY_ID:
        path, params = f"/v1/certificates/{member.certificate_id}", {}
    else:
        path, params = "/v1/certificates", {"holder_id": member.member_id}
    sent = time.perf_counter()
    response = client.get(path, params=params, headers=member.auth)
    elapsed = (time.perf_counter() - sent) * 1000
    if response.status_code != 200:
        raise BenchmarkFailed(f"{route}: HTTP {response.status_code} {response.text[:300]}")
    return elapsed


def read_key(route: str, target: str) -> str:
    return f"{route} ({target})"


def _run_all(jobs: list[Callable[[], None]]) -> float:
    """Run each job on its own thread; the wall time in seconds. The first failure is
    raised here, after every thread ended."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # reported by the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,), name="bench-http") for job in jobs]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchmarkFailed(f"end to end: {errors[0]}") from errors[0]
    return time.perf_counter() - start


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Drive:
    """The HTTP clients of one run: writers with their members, readers on the side."""

    def __init__(
        self, url: str, members: list[RestMember], options: BenchOptions, read_url: str
    ) -> None:
        self.url = url
        self.urls = dict(zip(READ_TARGETS, (read_url, url), strict=True))
        per = options.holders_per_client
        self.groups = [members[i * per : (i + 1) * per] for i in range(options.rest_clients)]
        self.members = members
        self.readers = options.readers

    def _client(self, url: str | None = None) -> KeptAliveClient:
        return KeptAliveClient(url or self.url, timeout=REQUEST_TIMEOUT)

    def writer(self, group: list[RestMember], count: int, latencies: list[float]) -> None:
        with self._client() as client:
            for member in itertools.islice(itertools.cycle(group), count):
                latencies.append(_transfer(client, member))

    def reader(
        self,
        member: RestMember,
        target: str,
        writing: threading.Event,
        found: dict[tuple[str, str], list[float]],
    ) -> None:
        with self._client(self.urls[target]) as client:
            routes = itertools.cycle((READ_BY_ID, READ_BY_HOLDER))
            done = 0
            while writing.is_set() or done < MIN_READS * 2:
                route = next(routes)
                found[route, target].append(_read(client, member, route))
                done += 1

    def writes(self, transfers: int) -> tuple[float, list[float]]:
        """``transfers`` spread over the clients; (seconds, latencies)."""
        latencies: list[float] = []
        shares = _shares(transfers, len(self.groups))
        jobs: list[Callable[[], None]] = [
            partial(self.writer, group, count, latencies)
            for group, count in zip(self.groups, shares, strict=True)
        ]
        return _run_all(jobs), latencies

    def writes_and_reads(
        self, transfers: int
    ) -> tuple[float, list[float], float, dict[tuple[str, str], list[float]]]:
        """Writes with readers beside them until they end, the readers taking turns
        between the read replica and the primary; (write seconds, write latencies, read
        seconds, read latencies by route and target)."""
        writing = threading.Event()
        writing.set()
        found: dict[tuple[str, str], list[float]] = {
            (route, target): []
            for target in READ_TARGETS[: self.readers]
            for route in (READ_BY_ID, READ_BY_HOLDER)
        }
        write: list[tuple[float, list[float]]] = []

        def write_then_stop() -> None:
            try:
                write.append(self.writes(transfers))
            finally:
                writing.clear()

        members = itertools.islice(itertools.cycle(self.members), self.readers)
        readers: list[Callable[[], None]] = [
            partial(self.reader, member, target, writing, found)
            for member, target in zip(members, itertools.cycle(READ_TARGETS))
        ]
        read_seconds = _run_all([write_then_stop, *readers])
        seconds, latencies = write[0]
        return seconds, latencies, read_seconds, found


def client_cpus() -> frozenset[int]:
    """The CPUs the node started with ``--cpus auto`` leaves to others than its ledger
    (all of them on a machine with one)."""
    cpus = cpus_for(AUTO) or []
    ledger = plan(cpus, replica=True).ledger.cpus or frozenset()
    return frozenset(cpus) - ledger or frozenset(cpus)


class RestBench:
    """A running dev node with its members' HTTP clients, warmed up: (e) as often as asked,
    then the reads under load."""

    def __init__(self, drive: _Drive, options: BenchOptions, progress: Progress) -> None:
        self._drive = drive
        self._options = options
        self._progress = progress

    def writes(self, round_note: str = "") -> PathResult:
        """(e): ``options.transfers`` confirmed transfers from every client at once."""
        options = self._options
        self._progress(
            f"(e) end to end: {options.transfers} transfers, {options.rest_clients} clients"
            + round_note
        )
        seconds, latencies = self._drive.writes(options.transfers)
        writes = PathResult("e", "end to end: REST API, HTTP clients", options.transfers, seconds)
        writes.latencies_ms = latencies
        return writes

    def reads(self) -> tuple[dict[str, ReadResult], float]:
        """The readers beside half as many writes as (e): (latencies by route and where
        they read, the writes' rate meanwhile)."""
        options = self._options
        mixed = max(options.transfers // 2, options.rest_clients)
        self._progress(f"reads: {options.readers} readers beside {mixed} more transfers")
        mixed_seconds, _, read_seconds, found = self._drive.writes_and_reads(mixed)
        reads = {
            read_key(route, target): ReadResult(
                read_key(route, target),
                read_seconds,
                values,
                held_to_target=target == READ_ENDPOINT,
            )
            for (route, target), values in found.items()
        }
        return reads, mixed / mixed_seconds


@contextmanager
def rest_node(root: Path, options: BenchOptions, progress: Progress) -> Iterator[RestBench]:
    """``scf-node start --dev`` on a fresh home, its clients warmed up; this thread and what
    it starts run off the ledger's CPU meanwhile (the HTTP clients)."""
    holders = options.rest_clients * options.holders_per_client
    progress(f"(e) preparing a node home with {holders} member holders and their API keys")
    members = prepare_home(root / "rest-home", holders)
    progress("(e) starting scf-node start --dev")
    with (
        dev_node(root / "rest-home", root / "rest-node.log") as node,
        pinned_thread(client_cpus()),
    ):
        drive = _Drive(node.api_url, members, options, node.read_url)
        progress("(e) warm-up: one transfer per member (keystores decrypted once)")
        drive.writes(holders)
        yield RestBench(drive, options, progress)
