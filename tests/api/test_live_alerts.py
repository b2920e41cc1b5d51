"""Risk alerts are raised when their cause is indexed: kept once in the ``alerts`` table,
streamed once as a ``RiskAlert`` event on ``GET /v1/events`` to the members who may see
it (and not to others), delivered once to their webhooks, and never raised twice by a
restart or a replay of the events. An unpaid root is raised overdue by the chain time of
the blocks indexed, marked on the ledger or not."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.readmodel.indexer import Indexer
from api.readmodel.models import AlertAudienceRow, AlertRow, ChainEventRow
from api.services import alert_watch, alerts
from api.services.alert_watch import AlertWatch, ChainTime, ConcentrationRule
from api.services.api_keys import issue_key
from api.services.webhook_targets import TargetPolicy, parse_networks
from api.services.webhooks import RetryPolicy, WebhookDispatcher
from api.settings import get_settings
from chain.events import EventDecoder
from chain.ledger import Ledger
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.integration import head_id, parse_sse, serve
from tests.api.times import iso_instant
from tests.api.webhook_world import LOOPBACK, Hooks, Receiver, allowing, running_receiver
from tests.api.writes import post, stored_document
from tests.helpers import (
    DAY,
    GRACE_PERIOD,
    issue_certificate,
    mint,
    now,
    root,
    set_parameter,
    split,
    travel_to,
)

READ_TIMEOUT = 10.0
GRACE = 2 * DAY


@dataclass
class Live:
    api: ApiWorld
    url: str  # the API served over HTTP, for event streams
    hooks: Hooks
    receivers: dict[str, Receiver]  # member -> its webhook's receiver
    sentinels: int = 0

    def sentinel(self) -> str:
        """Emit a public event (``ParameterSet``) and index it; return its event id. A
        stream read up to it has seen everything indexed before."""
        self.sentinels += 1
        w = self.api.world
        set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE + self.sentinels)
        self.api.sync()
        with self.api.sessions() as session:
            last = session.scalars(
                select(ChainEventRow)
                .where(ChainEventRow.name == "ParameterSet")
                .order_by(ChainEventRow.block_number.desc(), ChainEventRow.log_index.desc())
                .limit(1)
            ).one()
        return f"{last.block_number}-{last.log_index}"

    def alerts_seen(self, who: str, after: str) -> list[dict[str, Any]]:
        """The ``RiskAlert`` events ``who`` gets on ``GET /v1/events`` after ``after``, read
        up to a sentinel event emitted now."""
        until = self.sentinel()
        params = {"after": after, "types": "RiskAlert,ParameterSet"}
        seen: list[dict[str, Any]] = []
        with (
            httpx.Client(base_url=self.url, timeout=READ_TIMEOUT) as client,
            client.stream("GET", "/v1/events", params=params, headers=self.api.auth(who)) as answer,
        ):
            assert answer.status_code == 200, answer.read()
            for message in parse_sse(answer.iter_lines()):
                if not message.data:
                    continue
                event = message.json
                assert message.id == event["id"]
                if event["id"] == until:
                    return seen
                if event["name"] == "RiskAlert":
                    seen.append(event)
        raise AssertionError("the stream ended before the sentinel")

    def delivered(self, who: str) -> list[dict[str, Any]]:
        """``RiskAlert`` bodies ``who``'s webhook received so far (once everything due is
        delivered: a pass attempts a few deliveries per member)."""
        now = self.hooks.settle()
        while self.hooks.dispatcher.dispatch_once(now).attempted:
            pass
        bodies = [json.loads(r.body) for r in self.receivers[who].requests]
        return [b for b in bodies if b["name"] == "RiskAlert"]


@pytest.fixture(scope="module")
def live(api_world: ApiWorld) -> Iterator[Live]:
    """The API served over HTTP, an auditor's key, and a webhook for each of tier1, tier2,
    tier3 and core (every event type) delivering to local receivers."""
    w = api_world.world
    operator_id = int(w.consortium.members.call("memberOf", w.governor.address))
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    app: Any = api_world.client.app
    with (
        allowing(app, LOOPBACK),
        serve(app) as url,
        httpx.Client(timeout=5) as client,
        running_receiver() as tier1,
        running_receiver() as tier2,
        running_receiver() as tier3,
        running_receiver() as core,
    ):
        dispatcher = WebhookDispatcher(
            api_world.sessions,
            client,
            node_vault(app),
            TargetPolicy(parse_networks(LOOPBACK)),
            policy=RetryPolicy(max_attempts=2, base_seconds=1),
            rng=random.Random(3),
        )
        hooks = Hooks(api_world, dispatcher)
        hooks.settle()
        receivers = {"tier1": tier1, "tier2": tier2, "tier3": tier3, "core": core}
        for who, receiver in receivers.items():
            hooks.create(who, receiver.url)
        yield Live(api_world, url, hooks, receivers)
        hooks.clean_up()


def rows(api: ApiWorld, kind: str) -> list[AlertRow]:
    with api.sessions() as session:
        query = select(AlertRow).where(AlertRow.kind == kind).order_by(AlertRow.id)
        return list(session.scalars(query))


def audience(api: ApiWorld, alert_id: int) -> set[int]:
    with api.sessions() as session:
        query = select(AlertAudienceRow.member_id).where(AlertAudienceRow.alert_id == alert_id)
        return set(session.scalars(query))


def listed(api: ApiWorld, who: str, kind: str) -> list[dict[str, Any]]:
    answer = api.client.get(f"/v1/risk/alerts?kind={kind}&limit=500", headers=api.auth(who))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["args"]["id"] for e in events]


def overdue_of(api: ApiWorld, root_id: int) -> list[AlertRow]:
    return [r for r in rows(api, "overdue") if r.condition == f"overdue:{root_id}"]


def kind_of(events: list[dict[str, Any]], kind: str) -> list[int]:
    return [e["args"]["id"] for e in events if e["args"]["kind"] == kind]


def head_time(ledger: Ledger) -> ChainTime:
    block = ledger.get_block("latest")
    return ChainTime(int(block["number"]), int(block["timestamp"]))


def test_concentration_is_raised_when_indexed_cleared_and_raised_again(live: Live) -> None:
    api, w = live.api, live.api.world
    mark = head_id(api)
    root_id = issue_certificate(w, w.core, w.tier1, 10_000_00)
    api.sync()
    assert rows(api, "concentration") == []  # one holder: no finding
    split(w, w.tier1, root_id, w.tier2, 4_000_00)  # tier1 keeps 60 % of core's paper
    api.sync()

    [first] = rows(api, "concentration")  # in the table as soon as indexed, nobody read it
    assert (first.member_id, first.severity, first.cleared_at) == (w.tier1.id, "medium", None)
    assert audience(api, first.id) == {w.tier1.id, w.core.id}
    with api.sessions() as session:  # placed at the block of the split that raised it
        cause = session.scalars(
            select(ChainEventRow).where(ChainEventRow.transaction_hash == first.transaction_hash)
        ).one()
    assert (cause.name, cause.block_number) == ("CertificateSplit", first.block_number)

    # streamed once to the holder and to the issuer, right after the block that raised it
    [seen] = live.alerts_seen("tier1", mark)
    assert seen["id"] == f"{cause.block_number}-{first.log_index}"
    assert (seen["name"], seen["contract"]) == ("RiskAlert", None)
    assert seen["transaction_hash"] == first.transaction_hash
    assert seen["args"] == listed(api, "tier1", "concentration")[0]
    assert seen["args"]["details"]["share"] == "0.6000"
    assert live.alerts_seen("core", mark) == [seen]
    assert live.alerts_seen("auditor", mark) == [seen]
    assert live.alerts_seen("tier2", mark) == []  # a holder too, but not the one it is about
    assert live.alerts_seen("tier3", mark) == []
    # and delivered once to the webhooks of those who may see it
    assert live.delivered("tier1") == [seen]
    assert live.delivered("core") == [seen]
    assert live.delivered("tier2") == live.delivered("tier3") == []

    # tier1 passes 3,000.00 on: 30 %, the alert is cleared; 2,500.00 comes back: 55 %, a new
    # alert (and value returned to an earlier holder: a circular transfer)
    to_tier3 = split(w, w.tier1, root_id, w.tier3, 3_000_00)
    api.sync()
    [cleared] = rows(api, "concentration")
    assert cleared.cleared_at is not None
    assert listed(api, "tier1", "concentration")[0]["cleared_at"] is not None
    split(w, w.tier3, to_tier3, w.tier1, 2_500_00)
    api.sync()
    [_, second] = rows(api, "concentration")
    assert (second.member_id, second.cleared_at) == (w.tier1.id, None)
    assert second.dedupe_key != first.dedupe_key
    assert second.condition == first.condition
    assert ids(live.alerts_seen("core", mark)) == [first.id, second.id]
    assert ids(live.delivered("core")) == [first.id, second.id]


def test_a_circular_transfer_is_raised_when_indexed(live: Live) -> None:
    api, w = live.api, live.api.world
    mark = head_id(api)
    root_id = issue_certificate(w, w.core2, w.tier2, 10_000_00)
    to_tier3 = split(w, w.tier2, root_id, w.tier3, 5_000_00)
    back = split(w, w.tier3, to_tier3, w.tier2, 1_000_00)  # tier2 → tier3 → tier2
    api.sync()

    [alert] = [r for r in rows(api, "circular_transfer") if r.member_id == w.tier2.id]
    assert json.loads(alert.details_json)["certificate_path"] == [root_id, to_tier3, back]
    assert (alert.severity, audience(api, alert.id)) == ("medium", {w.tier2.id})
    [seen] = [e for e in live.alerts_seen("tier2", mark) if e["args"]["id"] == alert.id]
    assert seen["args"]["kind"] == "circular_transfer"
    assert seen["args"]["details"]["value"] == "1000.00"
    assert alert.id not in ids(live.alerts_seen("tier3", mark))  # the sender
    assert alert.id not in ids(live.alerts_seen("tier1", mark))
    assert ids(live.delivered("tier2")).count(alert.id) == 1
    assert alert.id not in ids(live.delivered("tier3")) + ids(live.delivered("tier1"))


def test_a_duplicate_invoice_attempt_is_streamed_after_everything_indexed(live: Live) -> None:
    api, w = live.api, live.api.world
    body = {
        "invoice_code": "3100231130",
        "invoice_number": "55000077",
        "buyer_id": w.core.id,
        "amount": "800.00",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
        "document_hash": stored_document(api, "tier3"),
    }
    assert post(api, "tier3", "/v1/invoices", body).status_code == 201
    mark = head_id(api)
    for _ in range(2):
        refused = post(api, "tier3", "/v1/invoices", body)
        assert refused.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"

    [alert] = rows(api, "duplicate_invoice")
    assert (alert.severity, alert.transaction_hash) == ("high", None)  # no transaction
    assert audience(api, alert.id) == {w.tier3.id}
    [seen] = live.alerts_seen("tier3", mark)  # after the head it was raised at
    assert seen["args"]["id"] == alert.id
    assert seen["transaction_hash"] is None
    assert live.alerts_seen("core", mark) == []  # the buyer is not told
    assert live.alerts_seen("auditor", mark) == [seen]
    assert live.delivered("tier3")[-1] == seen
    assert ids(live.delivered("tier3")).count(alert.id) == 1
    assert alert.id not in ids(live.delivered("core"))


def test_overdue_is_raised_when_the_root_is_marked_and_cleared_by_repayment(live: Live) -> None:
    api, w = live.api, live.api.world
    set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE)
    root_id = issue_certificate(w, w.core, w.tier2, 5_000_00, maturity_in=3 * DAY)
    api.sync()
    mark = head_id(api)
    travel_to(w.ledger, int(root(w.consortium, root_id).maturity) + GRACE + 1)
    marked = post(api, "tier2", f"/v1/certificates/{root_id}/overdue")
    assert marked.status_code == 200, marked.text

    [alert] = rows(api, "overdue")  # raised in the write's own indexing
    assert (alert.member_id, alert.severity, alert.cleared_at) == (w.core.id, "high", None)
    assert audience(api, alert.id) == {w.core.id, w.tier2.id, w.bank.id}
    details = json.loads(alert.details_json)
    assert (details["root_id"], details["outstanding"], details["financier_id"]) == (
        root_id,
        "5000.00",
        w.bank.id,
    )
    [seen] = [e for e in live.alerts_seen("tier2", mark) if e["args"]["kind"] == "overdue"]
    assert seen["args"]["id"] == alert.id
    assert seen in live.alerts_seen("core", mark)
    assert seen in live.alerts_seen("bank", mark)
    assert alert.id not in ids(live.alerts_seen("tier3", mark))
    assert alert.id not in ids(live.alerts_seen("tier1", mark))
    assert ids(live.delivered("tier2")).count(alert.id) == 1
    assert alert.id not in ids(live.delivered("tier3"))

    mint(w, w.bank, w.core, 5_000_00)
    api.sync()
    assert post(api, "core", "/v1/repayments", {"root_id": root_id}).status_code == 201
    [repaid] = rows(api, "overdue")
    assert repaid.cleared_at is not None
    assert listed(api, "tier2", "overdue")[0]["cleared_at"] is not None


def test_an_unpaid_root_is_raised_overdue_by_chain_time_without_a_mark(live: Live) -> None:
    api, w = live.api, live.api.world
    set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE)
    # issued in this order, each deadline (maturity + grace) is a little after the one before
    repaid_early = issue_certificate(w, w.core, w.tier1, 1_000_00, maturity_in=3 * DAY)
    defaulted = issue_certificate(w, w.core2, w.tier2, 2_000_00, maturity_in=3 * DAY)
    unpaid = issue_certificate(w, w.core, w.tier2, 3_000_00, maturity_in=3 * DAY)
    mint(w, w.bank, w.core, 1_000_00)
    api.sync()
    assert post(api, "core", "/v1/repayments", {"root_id": repaid_early}).status_code == 201
    mark = head_id(api)
    deadline = int(root(w.consortium, unpaid).maturity) + GRACE

    travel_to(w.ledger, deadline)  # mines a block one second before the deadline
    api.sync()
    assert now(w.ledger) == deadline - 1
    assert overdue_of(api, unpaid) == []  # one second early: markOverdue would revert
    w.ledger.mine()  # a block at the deadline, with no consortium event in it
    api.sync()
    assert now(w.ledger) == deadline

    # raised in the indexing of that block: nobody marked, nobody read the list
    [first] = overdue_of(api, defaulted)
    [alert] = overdue_of(api, unpaid)
    assert first.id < alert.id  # the older maturity first
    assert overdue_of(api, repaid_early) == []  # repaid before its deadline: never overdue
    assert (alert.member_id, alert.severity, alert.cleared_at) == (w.core.id, "high", None)
    assert (alert.block_number, alert.transaction_hash) == (w.ledger.block_number(), None)
    assert audience(api, alert.id) == {w.core.id, w.tier2.id, w.bank.id}
    assert audience(api, first.id) == {w.core2.id, w.tier2.id, w.bank.id}
    details = json.loads(alert.details_json)
    assert details == {
        "root_id": unpaid,
        "issuer_id": w.core.id,
        "financier_id": w.bank.id,
        "face_value": "3000.00",
        "outstanding": "3000.00",
        "maturity": iso_instant(deadline - GRACE),
    }
    [shown] = [a for a in listed(api, "tier2", "overdue") if a["id"] == alert.id]
    assert alert.id not in [a["id"] for a in listed(api, "tier3", "overdue")]

    # streamed once, right after the block, to the parties of the root and not to others
    seen = [e for e in live.alerts_seen("tier2", mark) if e["args"]["kind"] == "overdue"]
    assert [e["id"] for e in seen] == [
        f"{first.block_number}-{first.log_index}",
        f"{alert.block_number}-{alert.log_index}",
    ]
    assert seen[1]["transaction_hash"] is None
    assert seen[1]["args"] == shown
    assert kind_of(live.alerts_seen("core", mark), "overdue") == [alert.id]
    assert kind_of(live.alerts_seen("bank", mark), "overdue") == [first.id, alert.id]
    assert kind_of(live.alerts_seen("tier1", mark), "overdue") == []  # held the repaid root
    assert kind_of(live.alerts_seen("tier3", mark), "overdue") == []
    # and delivered once to the webhooks of those who may see it
    assert kind_of(live.delivered("tier2"), "overdue")[-2:] == [first.id, alert.id]
    assert kind_of(live.delivered("core"), "overdue").count(alert.id) == 1
    assert alert.id not in ids(live.delivered("tier3")) + ids(live.delivered("tier1"))
    delivered = {who: live.delivered(who) for who in live.receivers}

    # the ledger's mark, afterwards, raises nothing new (the sentinels moved the grace on)
    set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE)
    marked = post(api, "tier2", f"/v1/certificates/{unpaid}/overdue")
    assert marked.status_code == 200, marked.text
    assert [(r.id, r.transaction_hash) for r in overdue_of(api, unpaid)] == [(alert.id, None)]
    assert kind_of(live.alerts_seen("tier2", mark), "overdue") == [first.id, alert.id]
    assert {who: live.delivered(who) for who in live.receivers} == delivered

    # repayment clears it; the root that stays unpaid keeps its alert
    mint(w, w.bank, w.core, 3_000_00)
    api.sync()
    assert post(api, "core", "/v1/repayments", {"root_id": unpaid}).status_code == 201
    [repaid] = overdue_of(api, unpaid)
    assert (repaid.id, repaid.cleared_at is not None) == (alert.id, True)
    [shown] = [a for a in listed(api, "tier2", "overdue") if a["id"] == alert.id]
    assert shown["cleared_at"] is not None
    assert [r.cleared_at for r in overdue_of(api, defaulted)] == [None]


def test_a_batch_raises_at_most_so_many_overdue_roots_oldest_first(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, w = live.api, live.api.world
    set_parameter(w.consortium, w.governor, GRACE_PERIOD, GRACE)
    older = issue_certificate(w, w.core2, w.tier1, 1_000_00, maturity_in=3 * DAY)
    newer = issue_certificate(w, w.core2, w.tier1, 1_000_00, maturity_in=3 * DAY)
    api.sync()
    travel_to(w.ledger, int(root(w.consortium, newer).maturity) + GRACE + 1)
    monkeypatch.setattr(alert_watch, "OVERDUE_PER_BATCH", 1)
    api.sync()
    assert (len(overdue_of(api, older)), overdue_of(api, newer)) == (1, [])
    w.ledger.mine()
    api.sync()  # the next batch raises the rest
    assert (len(overdue_of(api, older)), len(overdue_of(api, newer))) == (1, 1)
    w.ledger.mine()
    api.sync()
    assert (len(overdue_of(api, older)), len(overdue_of(api, newer))) == (1, 1)


def test_a_restart_or_a_replay_raises_nothing_twice(live: Live) -> None:
    api, w = live.api, live.api.world
    with api.sessions() as session:
        before = {(r.id, r.dedupe_key, r.cleared_at) for r in session.scalars(select(AlertRow))}
    assert len(before) >= 5
    live.hooks.settle()
    delivered = {who: len(live.delivered(who)) for who in live.receivers}

    # a restarted node: a new indexer from the stored cursor
    Indexer(api.sessions, w.ledger, EventDecoder(w.consortium)).sync()
    # the watch run again over every event so far, as a batch replayed by another process
    events = list(EventDecoder(w.consortium).events(w.ledger, 0, w.ledger.block_number()))
    watch = AlertWatch(ConcentrationRule.from_settings(get_settings()))
    with api.sessions.begin() as session:
        watch.after_batch(session, events, head_time(w.ledger))

    with api.sessions() as session:
        after = {(r.id, r.dedupe_key, r.cleared_at) for r in session.scalars(select(AlertRow))}
    assert after == before
    streamed = live.alerts_seen("auditor", "0-0")
    assert sorted(ids(streamed)) == sorted(i for i, _, _ in before)  # each once
    assert {who: len(live.delivered(who)) for who in live.receivers} == delivered


def test_an_alert_commits_with_its_batch_or_not_at_all(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, w = live.api, live.api.world
    root_id = issue_certificate(w, w.core2, w.tier1, 10_000_00)
    to_tier3 = split(w, w.tier1, root_id, w.tier3, 2_000_00)
    back = split(w, w.tier3, to_tier3, w.tier1, 1_000_00)
    indexer = Indexer(api.sessions, w.ledger, EventDecoder(w.consortium))
    cursor = indexer.cursor()
    raise_alerts = alerts.raise_alerts

    def raise_then_fail(session: Session, *args: Any, **kwargs: Any) -> Any:
        raise_alerts(session, *args, **kwargs)
        raise RuntimeError("the batch fails after raising")

    with monkeypatch.context() as patch:
        patch.setattr(alert_watch, "raise_alerts", raise_then_fail)
        with pytest.raises(RuntimeError, match="after raising"):
            indexer.sync()
    assert indexer.cursor() == cursor
    condition = f"circular_transfer:{back}"
    assert [r for r in rows(api, "circular_transfer") if r.condition == condition] == []
    indexer.sync()
    assert len([r for r in rows(api, "circular_transfer") if r.condition == condition]) == 1
