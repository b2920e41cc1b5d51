"""The lease-based election of the one minter, as etcd's own concurrency package does it.

A campaigner holds a lease of a few seconds that a thread of its own keeps alive. To win,
it creates the chain's ``minter`` key attached to that lease, in a transaction that holds
only while the key does not exist; when another holds it, it waits (a watch) until the
key is deleted and tries again. The key disappears when its holder resigns or when its
lease expires: the holder's process died, hung, or lost etcd's majority for longer than
the TTL. The key's value is the minter's JSON-RPC endpoint, so every node knows where
to forward transactions.

Holding the election locally is a belief only: a minter may not notice at once that its
lease expired. What makes it safe is ``BlockLog.append``, whose compare requires the
minter key with the appender's lease, so a deposed minter's block is refused.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from chain.consortium.etcd import (
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdLeaseNotFound,
    EtcdUnavailable,
    EventType,
    KeyValue,
    compare_lease,
    compare_version,
    delete_op,
    put_op,
    range_op,
)
from chain.consortium.keys import ChainKeys
from chain.errors import LedgerError

log = logging.getLogger(__name__)

DEFAULT_TTL = 5  # seconds: failover takes about this long after a minter dies
MIN_TTL = 2  # etcd raises a lease's TTL to 1.5 election timeouts (1.5 s by default) anyway
MAX_VALUE_BYTES = 1024  # an endpoint URL
_RETRY_DELAY = 0.2  # after etcd was unavailable, before trying again


class CampaignTimeout(LedgerError):
    code = "campaign_timeout"


class CampaignStopped(LedgerError):
    """The campaigner was asked to stop before it won."""

    code = "campaign_stopped"


@dataclass(frozen=True)
class Leader:
    """The current minter: its endpoint and the lease it holds the election with."""

    value: str
    lease: int
    revision: int  # when it won (the key's create revision)


class _LeaseKeeper:
    """One lease, renewed every third of its TTL by a daemon thread until stopped or lost.

    ``expired`` is set once the lease cannot be trusted: etcd said it is gone, or no
    renewal succeeded for a whole TTL (then it may have expired without us hearing)."""

    def __init__(self, client: EtcdClient, ttl: int) -> None:
        self.client = client
        self.ttl = ttl
        self.lease = client.grant_lease(ttl)
        self.expired = threading.Event()
        self._stop = threading.Event()
        self._renewed = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"etcd-lease-{self.lease:x}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.client.keep_alive(self.lease)
                self._renewed = time.monotonic()
            except EtcdLeaseNotFound:
                log.warning("lease %x expired: this node no longer holds the election", self.lease)
                self.expired.set()
                return
            except EtcdError as exc:
                if time.monotonic() - self._renewed >= self.ttl:
                    log.warning(
                        "lease %x not renewed for %s s (%s): treating it as expired",
                        self.lease,
                        self.ttl,
                        exc.message,
                    )
                    self.expired.set()
                    return

    def stop(self, *, revoke: bool) -> None:
        self._stop.set()
        self._thread.join()
        self.expired.set()
        if revoke:
            with contextlib.suppress(EtcdLeaseNotFound):  # expired already: nothing to end
                self.client.revoke_lease(self.lease)


class Leadership:
    """Proof, as far as this process knows, that it is the minter; ``lease`` fences its
    appends (``BlockLog.append``)."""

    def __init__(self, election: Election, keeper: _LeaseKeeper) -> None:
        self._election = election
        self._keeper = keeper
        self.lease = keeper.lease

    @property
    def lost(self) -> threading.Event:
        """Set once the lease expired or was given up: stop minting."""
        return self._keeper.expired

    def held(self) -> bool:
        return not self._keeper.expired.is_set()

    def resign(self) -> None:
        self._election.resign()


class Election:
    """Campaign for, hold, give up and observe the minter role of chain ``keys``."""

    def __init__(
        self, client: EtcdClient, keys: ChainKeys, value: str, *, ttl: int = DEFAULT_TTL
    ) -> None:
        if ttl < MIN_TTL:
            raise ValueError(f"a lease TTL below {MIN_TTL} s cannot survive one etcd election")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise ValueError(f"the campaign value exceeds {MAX_VALUE_BYTES} bytes")
        self.client = client
        self.keys = keys
        self.value = value
        self.ttl = ttl
        self._keeper: _LeaseKeeper | None = None

    def leader(self) -> Leader | None:
        """Who holds the election now (a linearizable read), or None."""
        kv = self.client.get(self.keys.minter)
        return None if kv is None else _leader_of(kv)

    def campaign(
        self, timeout: float | None = None, stop: threading.Event | None = None
    ) -> Leadership:
        """Block until this campaigner holds the election (``CampaignTimeout`` after
        ``timeout`` seconds; ``CampaignStopped`` within a TTL of ``stop`` being set)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if stop is not None and stop.is_set():
                self._give_up_lease()
                raise CampaignStopped(f"stopped campaigning for minter of {self.keys.chain_id}")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._give_up_lease()
                raise CampaignTimeout(
                    f"not elected minter of chain {self.keys.chain_id} within {timeout} s",
                    details={"leader": self._leader_or_none()},
                )
            try:
                won, revision = self._try_to_win()
            except EtcdLeaseNotFound:
                self._give_up_lease()  # expired between its last renewal and the txn
                continue
            except EtcdUnavailable:
                time.sleep(_RETRY_DELAY)  # bounded by the deadline check above
                continue
            if won:
                assert self._keeper is not None
                log.info(
                    "elected minter of chain %s (lease %x)", self.keys.chain_id, self._keeper.lease
                )
                return Leadership(self, self._keeper)
            self._wait_for_vacancy(revision, remaining)

    def _leader_or_none(self) -> str | None:
        try:
            leader = self.leader()
        except EtcdError:
            return None
        return leader.value if leader else None

    def _try_to_win(self) -> tuple[bool, int]:
        """Create the minter key with our lease if nobody holds it; (won, revision)."""
        if self._keeper is None or self._keeper.expired.is_set():
            self._keeper = _LeaseKeeper(self.client, self.ttl)
        lease = self._keeper.lease
        key = self.keys.minter
        result = self.client.txn(
            [compare_version(key, 0)], [put_op(key, self.value.encode(), lease)], [range_op(key)]
        )
        if result.succeeded:
            return True, result.revision
        holders = result.range_kvs(0)
        # already ours (a campaign after an answer that was lost on its way back)
        return bool(holders and holders[0].lease == lease), result.revision

    def _wait_for_vacancy(self, revision: int, remaining: float | None) -> None:
        """Return once the minter key was deleted after ``revision``, after a TTL (to try
        again anyway), or when the deadline is near."""
        idle = self.ttl if remaining is None else max(0.1, min(self.ttl, remaining))
        try:
            for response in self.client.watch(
                self.keys.minter, start_revision=revision + 1, idle_timeout=idle
            ):
                if any(event.type is EventType.DELETE for event in response.events):
                    return
        except (EtcdUnavailable, EtcdCompacted):
            return  # silence for ``idle`` seconds, or etcd trouble: look again

    def _give_up_lease(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            with contextlib.suppress(EtcdError):  # unrevoked, it expires after its TTL
                keeper.stop(revoke=True)

    def resign(self) -> None:
        """Give the election up now (delete the key if it is ours, revoke the lease)."""
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        key = self.keys.minter
        try:
            self.client.txn([compare_lease(key, keeper.lease)], [delete_op(key)])
        finally:
            keeper.stop(revoke=True)
        log.info("resigned as minter of chain %s", self.keys.chain_id)

    def observe(self, idle_timeout: float = 30.0) -> Iterator[Leader | None]:
        """The current leader, then each change of leader, for as long as the caller
        iterates; reconnects after etcd trouble."""
        last: Leader | bool | None = False  # False: nothing yielded yet
        while True:
            try:
                for current in self._leaders(idle_timeout):
                    if current != last:
                        last = current
                        yield current
            except (EtcdUnavailable, EtcdCompacted):
                time.sleep(_RETRY_DELAY)  # then read the leader again and watch anew

    def _leaders(self, idle_timeout: float) -> Iterator[Leader | None]:
        """The leader now, then the leader after each change of the key."""
        answer = self.client.range(self.keys.minter)
        yield _leader_of(answer.kvs[0]) if answer.kvs else None
        for response in self.client.watch(
            self.keys.minter, start_revision=answer.revision + 1, idle_timeout=idle_timeout
        ):
            for event in response.events:
                yield None if event.type is EventType.DELETE else _leader_of(event.kv)


def _leader_of(kv: KeyValue) -> Leader:
    return Leader(kv.value.decode(errors="replace"), kv.lease, kv.create_revision)
