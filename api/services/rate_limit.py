"""A token bucket per client: a burst of requests, then a steady refill.

Used on the unauthenticated routes (applications), where each request costs the node a
new encrypted keystore (scrypt) and a ledger transaction. The limits are passed to
``take`` on every call, so changed settings apply at once without resetting the buckets.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from chain.errors import ScfError


class RateLimited(ScfError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, client: str, retry_after: int) -> None:
        super().__init__(
            f"too many requests from {client}; retry in {retry_after} s",
            details={"retry_after": retry_after},
        )
        self.headers = {"Retry-After": str(retry_after)}


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Thread-safe buckets keyed by client; the least recently seen are forgotten past
    ``max_clients`` (a forgotten client starts again with a full bucket)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000
    ) -> None:
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, *, burst: int, per_second: float) -> None:
        """Spend one token of ``client``'s bucket, or raise ``RateLimited`` saying when the
        next token arrives. ``burst`` is the bucket's size, ``per_second`` its refill."""
        self._take(client, burst, per_second, spend=True)

    def check(self, client: str, *, burst: int, per_second: float) -> None:
        """Raise ``RateLimited`` as ``take`` would, without spending a token: for limits
        that count only failures (the portal's sign-in per account)."""
        self._take(client, burst, per_second, spend=False)

    def _take(self, client: str, burst: int, per_second: float, *, spend: bool) -> None:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(client, None) or _Bucket(float(burst), now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * per_second)
            bucket.updated = now
            self._buckets[client] = bucket  # most recently seen last
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0 if spend else 0.0
                return
            missing = 1.0 - bucket.tokens
        wait = math.inf if per_second <= 0 else missing / per_second
        raise RateLimited(client, retry_after=max(1, math.ceil(min(wait, 86_400))))
