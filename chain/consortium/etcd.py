"""A small typed client of etcd's v3 API, through the gRPC gateway's JSON endpoints.

etcd serves every v3 call as ``POST /v3/<service>/<method>`` with a JSON body (keys and
values base64, 64-bit integers as decimal strings) on its client port, next to gRPC. We
use that over httpx instead of a gRPC client: the Python etcd3 packages are unmaintained
and pin old grpcio/protobuf (ADR 0012).

Every call is bounded: a total deadline (``timeout``) and a response size
(``max_response_bytes``). A failure is one of the named ``EtcdError`` families:

- ``EtcdUnavailable``: no endpoint answered in time, or etcd said it cannot serve now
  (no leader, no quorum, request timed out). ``sent`` tells whether the request may have
  reached etcd, that is whether a write may still commit: a caller that must know
  re-reads what it wrote.
- ``EtcdCompacted``: the revision asked for was compacted away.
- ``EtcdLeaseNotFound``: the lease expired or was revoked.
- ``EtcdRequestRejected``: etcd refused the request itself (too large, invalid).

With several endpoints (one per etcd member) a request that cannot connect goes to the
next one; a request that was sent is never sent again here (it may commit twice).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from chain.errors import LedgerError

DEFAULT_TIMEOUT = 3.0  # seconds, a whole call
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # also bounds one line of a watch stream
_CONNECT_TIMEOUT = 1.0  # a dead member refuses at once; a partitioned one must not eat the call

# gRPC status codes the gateway puts in its error bodies
_NOT_FOUND, _OUT_OF_RANGE, _DEADLINE_EXCEEDED, _UNAVAILABLE = 5, 11, 4, 14
# etcd's error descriptions (etcdserver/api/v3rpc/rpctypes): a stable part of its API,
# which clientv3 itself maps errors by
_COMPACTED = "etcdserver: mvcc: required revision has been compacted"
_LEASE_NOT_FOUND = "etcdserver: requested lease not found"


class EtcdError(LedgerError):
    """etcd could not do what was asked."""

    code = "etcd_error"


class EtcdUnavailable(EtcdError):
    """No etcd member answered in time, or the cluster cannot serve (no quorum)."""

    code = "etcd_unavailable"

    def __init__(self, message: str, *, sent: bool, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.sent = sent  # the request may have reached etcd (a write may still commit)


class EtcdCompacted(EtcdError):
    code = "etcd_compacted"


class EtcdLeaseNotFound(EtcdError):
    code = "etcd_lease_not_found"


class EtcdRequestRejected(EtcdError):
    code = "etcd_request_rejected"


class EtcdResponseTooLarge(EtcdError):
    code = "etcd_response_too_large"


@dataclass(frozen=True)
class EtcdTls:
    """TLS to etcd: the consortium CA to trust, and this node's client certificate.

    ``key_password`` decrypts an encrypted PEM key (the node keys in ``<home>/pki`` are)."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.cert_file is not None:
            context.load_cert_chain(
                str(self.cert_file),
                str(self.key_file) if self.key_file else None,
                self.key_password,
            )
        return context


@dataclass(frozen=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True)
class RangeResult:
    kvs: list[KeyValue]
    revision: int  # the store's revision the range was read at
    more: bool  # ``limit`` cut the answer short


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[dict[str, Any]]  # decode with ``range_kvs``

    def range_kvs(self, index: int) -> list[KeyValue]:
        """The key-values of the range operation at ``index`` of the branch that ran."""
        answer = self.responses[index].get("response_range", {})
        return [_key_value(kv) for kv in answer.get("kvs", ())]


class EventType(StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    kv: KeyValue


@dataclass(frozen=True)
class WatchResponse:
    revision: int
    events: list[WatchEvent] = field(default_factory=list)


# ---- building requests ---------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a range cover every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def compare_version(key: bytes, version: int) -> dict[str, Any]:
    """Holds when ``key``'s version equals ``version`` (0: the key does not exist)."""
    return {"key": _b64(key), "target": "VERSION", "result": "EQUAL", "version": str(version)}


def compare_value(key: bytes, value: bytes) -> dict[str, Any]:
    return {"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(value)}


def compare_lease(key: bytes, lease: int) -> dict[str, Any]:
    """Holds when ``key`` exists and is attached to ``lease``."""
    return {"key": _b64(key), "target": "LEASE", "result": "EQUAL", "lease": str(lease)}


def put_op(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    request: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        request["lease"] = str(lease)
    return {"request_put": request}


def range_op(key: bytes, range_end: bytes | None = None) -> dict[str, Any]:
    request = {"key": _b64(key)}
    if range_end is not None:
        request["range_end"] = _b64(range_end)
    return {"request_range": request}


def delete_op(key: bytes, range_end: bytes | None = None) -> dict[str, Any]:
    request = {"key": _b64(key)}
    if range_end is not None:
        request["range_end"] = _b64(range_end)
    return {"request_delete_range": request}


# ---- reading answers -----------------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value) if value is not None else 0  # proto3 JSON leaves zero values out


def _bytes(value: Any) -> bytes:
    return base64.b64decode(value, validate=True) if value else b""


def _key_value(raw: Mapping[str, Any]) -> KeyValue:
    return KeyValue(
        key=_bytes(raw.get("key")),
        value=_bytes(raw.get("value")),
        create_revision=_int(raw.get("create_revision")),
        mod_revision=_int(raw.get("mod_revision")),
        version=_int(raw.get("version")),
        lease=_int(raw.get("lease")),
    )


def _revision(answer: Mapping[str, Any]) -> int:
    return _int(answer.get("header", {}).get("revision"))


def _error(body: Mapping[str, Any], endpoint: str) -> EtcdError:
    """The named error for an error body of the gateway (``{"error", "message", "code"}``)."""
    message = str(body.get("message") or body.get("error") or "unknown error")
    code = body.get("code")
    details = {"endpoint": endpoint, "grpc_code": code}
    if message == _COMPACTED:
        return EtcdCompacted(f"etcd at {endpoint}: {message}", details=details)
    if code == _NOT_FOUND and message == _LEASE_NOT_FOUND:
        return EtcdLeaseNotFound(f"etcd at {endpoint}: {message}", details=details)
    if code in (_UNAVAILABLE, _DEADLINE_EXCEEDED):
        return EtcdUnavailable(f"etcd at {endpoint}: {message}", sent=True, details=details)
    if code == _OUT_OF_RANGE:
        return EtcdRequestRejected(f"etcd at {endpoint}: {message}", details=details)
    return EtcdRequestRejected(
        f"etcd at {endpoint} refused the request: {message}", details=details
    )


def _parse(data: bytes, endpoint: str) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        raise EtcdRequestRejected(
            f"etcd at {endpoint} answered something that is not JSON",
            details={"endpoint": endpoint},
        ) from None
    if not isinstance(answer, dict):
        raise EtcdRequestRejected(f"etcd at {endpoint} answered a JSON {type(answer).__name__}")
    return answer


# ---- the client ----------------------------------------------------------------------------


class EtcdClient:
    """etcd's KV, lease and watch services at ``endpoints`` (``http(s)://host:port``)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        tls: EtcdTls | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one endpoint")
        self.endpoints = [endpoint.rstrip("/") for endpoint in endpoints]
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._preferred = 0  # the endpoint that answered last
        self._http = httpx.Client(
            verify=tls.context() if tls is not None else True,
            timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT)),
            # a watch holds a connection for as long as it runs
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=8),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _order(self) -> list[str]:
        start = self._preferred
        return self.endpoints[start:] + self.endpoints[:start]

    def _rotate_from(self, endpoint: str) -> None:
        self._preferred = (self.endpoints.index(endpoint) + 1) % len(self.endpoints)

    def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>`` and return the decoded answer."""
        deadline = time.monotonic() + self.timeout
        last: Exception | None = None
        for endpoint in self._order():
            if time.monotonic() >= deadline:
                break
            try:
                data, status = self._post(endpoint, path, body, deadline)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc  # never reached etcd: the next member may answer
                continue
            except (httpx.TransportError, TimeoutError) as exc:
                self._rotate_from(endpoint)
                raise EtcdUnavailable(
                    f"no answer from etcd at {endpoint} to /v3/{path} (deadline "
                    f"{self.timeout} s): {_describe(exc)}",
                    sent=True,
                    details={"endpoint": endpoint},
                ) from None
            self._preferred = self.endpoints.index(endpoint)
            answer = _parse(data, endpoint)
            if status != 200 or "error" in answer:
                error = _error(answer, endpoint)
                if isinstance(error, EtcdUnavailable):
                    self._rotate_from(endpoint)  # e.g. a member cut off from the majority
                raise error
            return answer
        raise EtcdUnavailable(
            f"no etcd endpoint accepted a connection for /v3/{path}: "
            f"{', '.join(self.endpoints)} ({_describe(last)})",
            sent=False,
            details={"endpoints": self.endpoints},
        )

    def _post(
        self, endpoint: str, path: str, body: Mapping[str, Any], deadline: float
    ) -> tuple[bytes, int]:
        with self._http.stream("POST", f"{endpoint}/v3/{path}", json=body) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > self.max_response_bytes:
                    raise EtcdResponseTooLarge(
                        f"etcd's answer to /v3/{path} exceeds {self.max_response_bytes} bytes",
                        details={"endpoint": endpoint},
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError
            return bytes(data), response.status_code

    # ---- KV --------------------------------------------------------------------------------

    def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        serializable: bool = False,
    ) -> RangeResult:
        """Keys from ``key`` up to ``range_end`` (exclusive; None: ``key`` alone), in key
        order. Linearizable unless ``serializable`` (then the member's local, maybe stale,
        view, which a member without quorum still serves)."""
        body: dict[str, Any] = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        if limit:
            body["limit"] = str(limit)
        if revision:
            body["revision"] = str(revision)
        if serializable:
            body["serializable"] = True
        answer = self.call("kv/range", body)
        return RangeResult(
            kvs=[_key_value(kv) for kv in answer.get("kvs", ())],
            revision=_revision(answer),
            more=bool(answer.get("more")),
        )

    def get(self, key: bytes) -> KeyValue | None:
        kvs = self.range(key).kvs
        return kvs[0] if kvs else None

    def put(self, key: bytes, value: bytes, *, lease: int = 0) -> int:
        """Store ``value`` under ``key``; the revision of the write."""
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return _revision(self.call("kv/put", body))

    def delete_range(self, key: bytes, range_end: bytes | None = None) -> tuple[int, int]:
        """Delete ``key`` (or the range); (keys deleted, revision)."""
        body = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        answer = self.call("kv/deleterange", body)
        return _int(answer.get("deleted")), _revision(answer)

    def txn(
        self,
        compare: Sequence[dict[str, Any]],
        success: Sequence[dict[str, Any]],
        failure: Sequence[dict[str, Any]] = (),
    ) -> TxnResult:
        """If every ``compare`` holds run ``success``, else ``failure``: one atomic write."""
        answer = self.call(
            "kv/txn", {"compare": list(compare), "success": list(success), "failure": list(failure)}
        )
        return TxnResult(
            succeeded=bool(answer.get("succeeded")),
            revision=_revision(answer),
            responses=list(answer.get("responses", ())),
        )

    def compact(self, revision: int) -> None:
        """Drop the history before ``revision`` (the keys' current values stay)."""
        self.call("kv/compaction", {"revision": str(revision)})

    # ---- leases ----------------------------------------------------------------------------

    def grant_lease(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        answer = self.call("lease/grant", {"TTL": str(ttl)})
        return _int(answer.get("ID"))

    def keep_alive(self, lease: int) -> int:
        """Renew ``lease`` once; its new TTL. ``EtcdLeaseNotFound`` once it has expired."""
        # a bidirectional stream in gRPC; through the gateway one request gets one answer
        answer = self.call("lease/keepalive", {"ID": str(lease)}).get("result", {})
        ttl = _int(answer.get("TTL"))
        if ttl <= 0:
            raise EtcdLeaseNotFound(f"lease {lease:x} has expired", details={"lease": lease})
        return ttl

    def revoke_lease(self, lease: int) -> None:
        """End ``lease`` now: etcd deletes every key attached to it."""
        self.call("lease/revoke", {"ID": str(lease)})

    # ---- watch -----------------------------------------------------------------------------

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        idle_timeout: float = 30.0,
    ) -> Iterator[WatchResponse]:
        """The changes of ``key`` (or the range) from ``start_revision`` on, as etcd
        streams them, until the caller stops iterating.

        Raises ``EtcdCompacted`` when ``start_revision`` was compacted away and
        ``EtcdUnavailable`` when the stream breaks or stays silent ``idle_timeout``
        seconds (a member cut off from the others cannot tell): the caller resumes from
        the revision after the last one it saw.
        """
        request: dict[str, Any] = {"key": _b64(key), "progress_notify": True}
        if range_end is not None:
            request["range_end"] = _b64(range_end)
        if start_revision:
            request["start_revision"] = str(start_revision)
        last: Exception | None = None
        for endpoint in self._order():
            try:
                yield from self._watch_stream(endpoint, request, idle_timeout)
                return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc
                continue
            except httpx.TransportError as exc:
                self._rotate_from(endpoint)
                raise EtcdUnavailable(
                    f"the watch on etcd at {endpoint} broke: {_describe(exc)}",
                    sent=True,
                    details={"endpoint": endpoint},
                ) from None
        raise EtcdUnavailable(
            f"no etcd endpoint accepted a watch: {', '.join(self.endpoints)} ({_describe(last)})",
            sent=False,
        )

    def _watch_stream(
        self, endpoint: str, request: dict[str, Any], idle_timeout: float
    ) -> Iterator[WatchResponse]:
        timeout = httpx.Timeout(idle_timeout, connect=min(self.timeout, _CONNECT_TIMEOUT))
        with self._http.stream(
            "POST", f"{endpoint}/v3/watch", json={"create_request": request}, timeout=timeout
        ) as response:
            for line in _bounded_lines(response, self.max_response_bytes, endpoint):
                message = _parse(line, endpoint)
                if "error" in message:
                    raise _error(message["error"], endpoint)
                result = message.get("result", {})
                if result.get("canceled"):
                    compacted = _int(result.get("compact_revision"))
                    if compacted:
                        raise EtcdCompacted(
                            f"etcd at {endpoint} compacted the revisions before {compacted}",
                            details={"compact_revision": compacted},
                        )
                    raise EtcdUnavailable(
                        f"etcd at {endpoint} canceled the watch: "
                        f"{result.get('cancel_reason', 'no reason given')}",
                        sent=True,
                    )
                events = [
                    WatchEvent(EventType(event.get("type", "PUT")), _key_value(event["kv"]))
                    for event in result.get("events", ())
                ]
                yield WatchResponse(revision=_revision(result), events=events)
        raise httpx.RemoteProtocolError("etcd ended the watch stream")


def _describe(error: Exception | None) -> str:
    """What went wrong with a connection (a refused TLS handshake says why)."""
    if error is None:
        return "the deadline passed"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _bounded_lines(response: httpx.Response, max_bytes: int, endpoint: str) -> Iterator[bytes]:
    """The newline-separated JSON messages of a gateway stream, none longer than
    ``max_bytes``."""
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end]).strip()
            del buffer[: end + 1]
            if line:
                yield line
        if len(buffer) > max_bytes:
            raise EtcdResponseTooLarge(
                f"a message of etcd's watch stream exceeds {max_bytes} bytes",
                details={"endpoint": endpoint},
            )
    if buffer.strip():
        yield bytes(buffer).strip()
