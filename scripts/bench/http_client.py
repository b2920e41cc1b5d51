"""The benchmark's HTTP client: one kept-alive connection, standard library only.

The load generator shares the machine's cores with the node it measures. httpx spends
CPU per request on its transports, models and event hooks, taken from the node;
``http.client`` on a kept-alive connection does the same HTTP/1.1 exchange for a
fraction of that. A request whose connection the server closed (an idle keep-alive
timeout) is sent again on a new one: a POST carries an Idempotency-Key, so a resend
cannot write twice.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

_RESENDABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class KeptAliveClient:
    """``post`` and ``get`` against ``base_url`` over one connection, reused."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._timeout = timeout
        self._connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def post(self, path: str, *, json_body: Any, headers: dict[str, str]) -> Reply:
        body = json.dumps(json_body).encode()
        sent = {**headers, "Content-Type": "application/json"}
        return self._exchange("POST", path, body, sent)

    def get(self, path: str, *, params: dict[str, Any], headers: dict[str, str]) -> Reply:
        target = f"{path}?{urlencode(params)}" if params else path
        return self._exchange("GET", target, None, headers)

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply:
        for attempt in (1, 2):
            try:
                self._connection.request(method, target, body=body, headers=headers)
                response = self._connection.getresponse()
                headers = {name.lower(): value for name, value in response.getheaders()}
                return Reply(response.status, response.read(), headers)
            except _RESENDABLE:
                self._connection.close()
                self._connection = self._connect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> KeptAliveClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
