"""The flood of ``scf-node bench --overload``: what a hostile or careless member on the
node's own network sends, each kind on threads of its own until ``stop`` is set.

- write bursts: connections sending split transfers back to back, each under a new
  ``Idempotency-Key``, never waiting out a ``Retry-After``;
- event-stream floods: more ``GET /v1/events`` streams than a member may hold, the open
  ones held and never read;
- bodies: JSON nested 70,000 levels deep (once a segfault), a body declaring 500 MB, a
  chunked body that never ends;
- slow bodies: a body sent a byte a second for the whole flood.

Requests no polite client sends go over raw sockets. Every answer is counted in the
attack's ``AttackTally``; every write's outcome in ``Writes`` (checked afterwards).
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scripts.bench.http_client import KeptAliveClient, Reply
from scripts.bench.overload_results import AttackTally
from scripts.bench.rest import AMOUNT, RestMember

REQUEST_TIMEOUT = 60.0  # longer than any answer should take: a slow one is measured
APPLY = "/v1/members/applications"  # anonymous: anyone can send it
DEEP_LEVELS = 70_000
DEEP_BODY = b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS
DECLARED_BYTES = 500 * 1024 * 1024
CHUNK = b" " * 65536
CHUNKED_MAX_BYTES = 16 * 1024 * 1024  # sent at most, if the node never answered
SLOW_PADDING = 64  # leading spaces a slow body dribbles, a byte a second
SLOW_BODY = b'{"to_member_id": "not a number", "amount": "1"}'  # then refused (422)
REFUSED = frozenset({429, 503})


# ---- the writes' outcomes --------------------------------------------------------------------


@dataclass
class Writes:
    """Every write's outcome, by Idempotency-Key: answered 201 (the transfer's id), or
    without an answer (the connection failed, or an error that does not say whether it
    ran), to be sent again under the same key. Refused writes (429/503) ran nothing."""

    acknowledged: dict[str, tuple[RestMember, int]] = field(default_factory=dict)
    unanswered: dict[str, RestMember] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered(self, key: str, member: RestMember, reply: Reply) -> None:
        """Note ``reply`` to the write under ``key`` (a refusal notes nothing)."""
        if reply.status_code in REFUSED:
            return
        with self._lock:
            if reply.status_code == 201:
                self.acknowledged[key] = (member, int(reply.json()["id"]))
                self.unanswered.pop(key, None)
            else:
                self.unanswered[key] = member

    def no_answer(self, key: str, member: RestMember) -> None:
        with self._lock:
            self.unanswered[key] = member


def transfer(client: KeptAliveClient, member: RestMember, key: str) -> Reply:
    """One split transfer of ``member``'s certificate under ``key``."""
    return client.post(
        f"/v1/certificates/{member.certificate_id}/transfers",
        json_body={"to_member_id": member.recipient_id, "amount": AMOUNT},
        headers={**member.auth, "Idempotency-Key": key},
    )


def retry_after(reply: Reply) -> float:
    return float(reply.headers.get("retry-after", "1"))


# ---- the attacks -----------------------------------------------------------------------------


def write_burst(
    url: str, member: RestMember, tally: AttackTally, writes: Writes, stop: threading.Event
) -> None:
    """Transfers back to back on one connection, a new key each, refusals ignored."""
    client = KeptAliveClient(url, timeout=REQUEST_TIMEOUT)
    try:
        while not stop.is_set():
            key = f"flood-{uuid.uuid4().hex}"
            sent = time.perf_counter()
            try:
                reply = transfer(client, member, key)
            except (OSError, http.client.HTTPException):
                tally.lost()
                writes.no_answer(key, member)
                client.close()
                client = KeptAliveClient(url, timeout=REQUEST_TIMEOUT)
                continue
            ms = (time.perf_counter() - sent) * 1000
            tally.answered(reply.status_code, ms, "retry-after" in reply.headers)
            writes.answered(key, member, reply)
    finally:
        client.close()


def stream_flood(
    url: str, member: RestMember, count: int, tally: AttackTally, stop: threading.Event
) -> None:
    """Open ``count`` event streams of ``member`` one after another; hold the ones that
    open, unread, until ``stop``."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):  # all of them, however long the flood lasts
            head = _head("GET", "/v1/events", url, {**member.auth, "Accept": "text/event-stream"})
            sock = _connect(url)
            sent = time.perf_counter()
            try:
                sock.sendall(head)
                status, headers, _ = _read_head(sock)
            except OSError:
                tally.lost()
                sock.close()
                continue
            tally.answered(status, _ms_since(sent), "retry-after" in headers)
            if status == 200:
                held.append(sock)
            else:
                sock.close()
        stop.wait()
    finally:
        for sock in held:
            sock.close()


def body_attacks(url: str, tallies: dict[str, AttackTally], stop: threading.Event) -> None:
    """Deep, declared-huge and chunked-huge bodies in turn, each on a new connection."""
    attacks: dict[str, Callable[[socket.socket], None]] = {
        "deep": lambda sock: sock.sendall(_body_head(url, len(DEEP_BODY)) + DEEP_BODY),
        "declared": lambda sock: sock.sendall(_body_head(url, DECLARED_BYTES)),
        "chunked": _send_chunks(url),
    }
    while not stop.is_set():
        for name, send in attacks.items():
            tally = tallies[name]
            sent = time.perf_counter()
            try:
                with _connect(url) as sock:
                    send(sock)
                    status, headers, _ = _read_head(sock)
            except OSError:
                tally.lost()
                continue
            tally.answered(status, _ms_since(sent), "retry-after" in headers)


def slow_bodies(
    url: str, member: RestMember, count: int, tally: AttackTally, stop: threading.Event
) -> None:
    """``count`` transfers whose bodies come a byte a second until ``stop``, then the rest
    at once (an invalid body: nothing is written). How long the answer then takes."""
    body = b" " * SLOW_PADDING + SLOW_BODY
    headers = {**member.auth, "Content-Type": "application/json", "Content-Length": str(len(body))}
    path = f"/v1/certificates/{member.certificate_id}/transfers"
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _connect(url)
            sock.sendall(_head("POST", path, url, headers))
            socks.append(sock)
        dribbled = 0
        while not stop.wait(1.0) and dribbled < SLOW_PADDING:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(body[dribbled : dribbled + 1])
            dribbled += 1
        for sock in socks:
            sent = time.perf_counter()
            try:
                sock.sendall(body[dribbled:])
                status, answered, _ = _read_head(sock)
            except OSError:
                tally.lost()
                continue
            tally.answered(status, _ms_since(sent), "retry-after" in answered)
    finally:
        for sock in socks:
            sock.close()


# ---- raw HTTP ----------------------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection(
        (parts.hostname or "127.0.0.1", parts.port or 80), timeout=REQUEST_TIMEOUT
    )


def _head(method: str, path: str, url: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _body_head(url: str, length: int) -> bytes:
    headers = {"Content-Type": "application/json", "Content-Length": str(length)}
    return _head("POST", APPLY, url, headers)


def _send_chunks(url: str) -> Callable[[socket.socket], None]:
    head = _head(
        "POST", APPLY, url, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    framed = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"

    def send(sock: socket.socket) -> None:
        sock.sendall(head)
        sent = 0
        while sent < CHUNKED_MAX_BYTES:
            if select.select([sock], [], [], 0)[0]:
                return  # answered already
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                return  # answered and closed
            sent += len(CHUNK)
        sock.sendall(b"0\r\n\r\n")

    return send


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status and headers of the answer on ``sock`` (and what came after them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        if not received:
            raise ConnectionResetError(f"closed without an answer: {data[:200]!r}")
        data += received
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    return status, headers, rest


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
