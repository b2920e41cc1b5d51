"""Webhook dispatcher: fan chain events out to webhooks, deliver them signed, retry.

Two steps, each its own SQL transaction:

1. **Fan-out** reads the feed (chain events and risk alerts, ``event_feed``) after the
   webhook cursor and adds one ``pending`` delivery per (event, webhook) where the
   webhook's member may see the event (``feed_audience``) and wants its type; the
   cursor moves in the same transaction, so every event is fanned out exactly once.
   A new webhook receives the events fanned out after it was registered.
2. **Delivery** POSTs each due delivery's event as JSON (the body ``GET /v1/events``
   streams) with these headers:

   - ``X-SCF-Timestamp``: unix seconds of this attempt;
   - ``X-SCF-Signature``: ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``;
   - ``X-SCF-Event-Id``: ``<block>-<logIndex>``; ``X-SCF-Delivery-Id``: the log's id.

   A 2xx answer marks it ``delivered``. Anything else (other status, redirect,
   timeout, connection error) schedules a retry with exponential backoff and
   jitter, until ``max_attempts``, then ``failed``.

Delivery is at least once: the outcome is recorded after the POST, so a crash in
between sends the event again. Receivers dedupe on ``X-SCF-Event-Id`` and should
refuse a timestamp older than a few minutes (``verify_signature``).

Attempts run on a pool of worker threads, at most ``workers`` at once and at most
``per_member`` for one member's webhooks: a member whose receivers hang holds only
its own share, and every other member's deliveries go on. A pass starts what is
due and returns; it skips deliveries still under way, so one delivery is attempted
by one worker at a time. Each attempt resolves the URL's host once, checks the
address (``webhook_targets``) and connects to that very address, on a connection of
its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import (
    AlertRow,
    ChainEventRow,
    MemberRow,
    WebhookCursor,
    WebhookDeliveryRow,
    WebhookRow,
)
from api.services.alerts import ALERT_EVENT
from api.services.documents import DocumentVault
from api.services.event_feed import (
    FeedEvent,
    event_payload,
    events_after,
    feed_audience,
    format_event_id,
    head_position,
)
from api.services.event_visibility import Viewer
from api.services.visibility import is_auditor
from api.services.webhook_registry import event_type_list
from api.services.webhook_secrets import UNREADABLE as UNREADABLE_SECRET
from api.services.webhook_secrets import SecretUnreadable, open_secret
from api.services.webhook_targets import TargetPolicy, WebhookTargetForbidden
from api.services.webhook_targets import WebhookTargetUnresolvable as TargetUnresolvable

log = logging.getLogger(__name__)

CURSOR_ID = 1
USER_AGENT = "SCF-Chain-Webhooks/1"
MAX_ERROR_TEXT = 500


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-SCF-Signature`` value of ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: int, tolerance: int = 300
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits base·2^(n-1), capped, times a
    random factor in [0.5, 1] so that many failing receivers do not retry in step."""

    max_attempts: int = 12
    base_seconds: int = 10
    cap_seconds: int = 6 * 3600

    def delay(self, attempts: int, rng: random.Random) -> int:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempts - 1))
        return max(1, int(ceiling * rng.uniform(0.5, 1.0)))


@dataclass(frozen=True)
class DispatchReport:
    fanned_out: int
    attempted: int
    delivered: int
    failed: int


@dataclass(frozen=True)
class _Due:
    delivery_id: int
    member_id: int
    event_id: str
    url: str
    secret: str | None  # None: it does not open with this node's key
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None
    error: str | None


class WebhookDispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: httpx.Client,
        vault: DocumentVault,
        targets: TargetPolicy,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 200,
        workers: int = 16,
        per_member: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._vault = vault  # the node's data key: webhook secrets are sealed with it
        self._targets = targets
        self._policy = policy or RetryPolicy()
        self._batch = batch
        self._workers = workers
        self._per_member = per_member
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()  # random.Random is not safe across threads
        self._lock = threading.Lock()  # one pass at a time per process
        self._pool = ThreadPoolExecutor(workers, "scf-webhook")
        self._under_way: dict[int, int] = {}  # delivery id -> member id, while attempted
        self._under_way_lock = threading.Lock()

    # ---- the two steps ------------------------------------------------------------------

    def dispatch_once(self, now: float | None = None) -> DispatchReport:
        """One pass (``start_pass``) that waits for the attempts it started."""
        fanned_out, started = self.start_pass(now)
        outcomes = [attempt.result() for attempt in started]
        delivered = sum(1 for o in outcomes if o == "delivered")
        failed = sum(1 for o in outcomes if o == "failed")
        return DispatchReport(fanned_out, len(outcomes), delivered, failed)

    def start_pass(self, now: float | None = None) -> tuple[int, list[Future[str]]]:
        """Fan out what the indexer added, then start the deliveries due at ``now`` that
        the bounds admit; return how many were fanned out and the attempts started (each
        resolves to the delivery's new state)."""
        moment = int(time.time() if now is None else now)
        with self._lock:
            fanned_out = self.fan_out(moment)
            started = [self._pool.submit(self._run, due, moment) for due in self._claim(moment)]
        return fanned_out, started

    def under_way(self) -> int:
        """How many delivery attempts are running now."""
        with self._under_way_lock:
            return len(self._under_way)

    def fan_out(self, now: int) -> int:
        """Add deliveries for the next batch of events; return how many."""
        added = 0
        with self._sessions.begin() as session:
            cursor = session.get(WebhookCursor, CURSOR_ID)
            if cursor is None:  # first run: webhooks get events from now on
                block, log_index = head_position(session)
                session.add(WebhookCursor(id=CURSOR_ID, block_number=block, log_index=log_index))
                return 0
            rows = events_after(
                session, (cursor.block_number, cursor.log_index), frozenset(), self._batch
            )
            if not rows:
                return 0
            subscribers = self._subscribers(session)
            for row in rows:
                added += self._fan_out_event(session, row, subscribers, now)
            cursor.block_number, cursor.log_index = rows[-1].position
        if added:
            last = format_event_id(rows[-1].position)
            log.info("fanned out %d webhook deliveries up to event %s", added, last)
        return added

    @staticmethod
    def _subscribers(session: Session) -> list[tuple[WebhookRow, Viewer, frozenset[str]]]:
        """Live webhooks of active members, with who they see as and what they want."""
        pairs = session.execute(
            select(WebhookRow, MemberRow)
            .join(MemberRow, MemberRow.id == WebhookRow.member_id)
            .where(WebhookRow.deleted_at.is_(None), MemberRow.status == "active")
            .order_by(WebhookRow.id)
        ).all()
        return [
            (hook, Viewer(member.id, is_auditor(member)), frozenset(event_type_list(hook)))
            for hook, member in pairs
        ]

    @staticmethod
    def _fan_out_event(
        session: Session,
        row: FeedEvent,
        subscribers: list[tuple[WebhookRow, Viewer, frozenset[str]]],
        now: int,
    ) -> int:
        wanted = [
            (hook, viewer) for hook, viewer, types in subscribers if not types or row.name in types
        ]
        if not wanted:
            return 0
        audience = feed_audience(session, row)
        added = 0
        for hook, viewer in wanted:
            if audience.admits(viewer):
                session.add(
                    WebhookDeliveryRow(
                        webhook_id=hook.id,
                        block_number=row.block_number,
                        log_index=row.log_index,
                        event_name=row.name,
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                added += 1
        return added

    def _claim(self, now: int) -> list[_Due]:
        """The due deliveries the bounds admit now, marked under way: the oldest first,
        at most ``per_member`` under way per member and ``workers`` in all."""
        with self._under_way_lock:
            busy = dict(self._under_way)
        free = self._workers - len(busy)
        if free <= 0:
            return []
        due_order = (WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
        ranked = (
            select(
                WebhookDeliveryRow.id.label("delivery_id"),
                WebhookRow.member_id,
                func.row_number()
                .over(partition_by=WebhookRow.member_id, order_by=due_order)
                .label("rank"),
            )
            .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
            .where(
                WebhookDeliveryRow.state == "pending",
                WebhookDeliveryRow.next_attempt_at <= now,
                WebhookDeliveryRow.id.not_in(busy),
                WebhookRow.deleted_at.is_(None),
            )
            .subquery()
        )
        # a member's room: per_member less its attempts under way
        under_way = Counter(busy.values())
        room: ColumnElement[int] | int = self._per_member
        if under_way:
            room = case(
                {member: self._per_member - n for member, n in under_way.items()},
                value=ranked.c.member_id,
                else_=self._per_member,
            )
        at_position = (
            (ChainEventRow.block_number == WebhookDeliveryRow.block_number)
            & (ChainEventRow.log_index == WebhookDeliveryRow.log_index)
            & (WebhookDeliveryRow.event_name != ALERT_EVENT)
        )
        alert_at_position = (
            (AlertRow.block_number == WebhookDeliveryRow.block_number)
            & (AlertRow.log_index == WebhookDeliveryRow.log_index)
            & (WebhookDeliveryRow.event_name == ALERT_EVENT)
        )
        with self._sessions() as session:
            rows = session.execute(
                select(WebhookDeliveryRow, WebhookRow, ChainEventRow, AlertRow)
                .join(ranked, ranked.c.delivery_id == WebhookDeliveryRow.id)
                .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                .outerjoin(ChainEventRow, at_position)
                .outerjoin(AlertRow, alert_at_position)
                .where(ranked.c.rank <= room)
                .order_by(*due_order)
                .limit(min(free, self._batch))
            ).all()
            claimed = [
                _Due(
                    delivery_id=delivery.id,
                    member_id=hook.member_id,
                    event_id=format_event_id((delivery.block_number, delivery.log_index)),
                    url=hook.url,
                    secret=self._secret(hook),
                    body=json.dumps(
                        event_payload(_feed_event(delivery, event, alert)), separators=(",", ":")
                    ).encode(),
                )
                for delivery, hook, event, alert in rows
                if event is not None or alert is not None
            ]
        with self._under_way_lock:
            self._under_way.update((due.delivery_id, due.member_id) for due in claimed)
        return claimed

    def _secret(self, hook: WebhookRow) -> str | None:
        try:
            return open_secret(self._vault, hook.secret, hook.member_id, hook.url)
        except SecretUnreadable:
            log.error("webhook %d: %s", hook.id, UNREADABLE_SECRET)
            return None

    def _run(self, due: _Due, now: int) -> str:
        """A worker's attempt of one claimed delivery; it is free to be claimed after."""
        try:
            return self._attempt(due, now)
        except Exception:  # e.g. the database is away: the delivery stays due, retried
            log.exception("webhook delivery %d: the attempt failed", due.delivery_id)
            return "error"
        finally:
            with self._under_way_lock:
                del self._under_way[due.delivery_id]

    def _attempt(self, due: _Due, now: int) -> str:
        """POST one delivery, then record its outcome; return the delivery's new state."""
        outcome = self._post(due, now)
        with self._sessions.begin() as session:
            row = session.get(WebhookDeliveryRow, due.delivery_id)
            if row is None or row.state != "pending":
                return "gone"  # the webhook was deleted meanwhile
            row.attempts += 1
            row.last_status_code = outcome.status_code
            row.last_error = outcome.error
            if outcome.ok:
                row.state, row.delivered_at = "delivered", now
            elif row.attempts >= self._policy.max_attempts:
                row.state = "failed"
            else:
                with self._rng_lock:
                    delay = self._policy.delay(row.attempts, self._rng)
                row.next_attempt_at = now + delay
            state, attempts = row.state, row.attempts
        log.info(
            "webhook delivery %d of event %s to %s: attempt %d, %s (%s)",
            due.delivery_id,
            due.event_id,
            due.url,
            attempts,
            state,
            outcome.error or outcome.status_code,
        )
        return state

    def _post(self, due: _Due, now: int) -> _Outcome:
        if due.secret is None:  # unsigned, it would be worthless to the receiver
            return _Outcome(ok=False, status_code=None, error=UNREADABLE_SECRET)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-SCF-Timestamp": str(now),
            "X-SCF-Signature": sign(due.secret, now, due.body),
            "X-SCF-Event-Id": due.event_id,
            "X-SCF-Delivery-Id": str(due.delivery_id),
        }
        try:
            target = self._targets.pin(due.url)
        except (WebhookTargetForbidden, TargetUnresolvable) as exc:
            return _Outcome(ok=False, status_code=None, error=exc.message[:MAX_ERROR_TEXT])
        # the address just checked, under the URL's name; a connection of its own, so no
        # kept-alive one verified for another name at that address is reused
        headers |= {"Host": target.host_header, "Connection": "close"}
        try:
            # Stream and never read the body: a receiver's answer is only its status.
            with self._client.stream(
                "POST", target.url, content=due.body, headers=headers, extensions=target.extensions
            ) as answer:
                status = answer.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
            return _Outcome(ok=False, status_code=None, error=error)
        if 200 <= status < 300:
            return _Outcome(ok=True, status_code=status, error=None)
        return _Outcome(ok=False, status_code=status, error=f"HTTP {status}")

    # ---- running in the node ------------------------------------------------------------

    def start(self, stop: threading.Event, interval: float) -> threading.Thread:
        """Dispatch every ``interval`` seconds in a daemon thread until ``stop`` is set."""

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.start_pass()  # the attempts go on while the next passes run
                except Exception:  # keep going; the next pass retries
                    log.exception("webhook dispatch pass failed")
            self.close()

        thread = threading.Thread(target=loop, name="webhooks", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Let the attempts under way end (each within the client's timeout), then close."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()


def _feed_event(
    delivery: WebhookDeliveryRow, event: ChainEventRow | None, alert: AlertRow | None
) -> FeedEvent:
    """The feed entry a delivery carries: a chain event or a risk alert."""
    position = (delivery.block_number, delivery.log_index)
    return FeedEvent(*position, delivery.event_name, chain=event, alert=alert)


def make_client(timeout: float, workers: int) -> httpx.Client:
    """The HTTP client deliveries use: no redirects followed (a 3xx is a failure), no
    proxy from the environment (the request goes to the address the dispatcher checked),
    no connections kept alive, room for every worker's connection."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=0)
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, limits=limits)
