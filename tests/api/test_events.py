"""GET /v1/events: each member's chain events as Server-Sent Events, resumable, filtered.

The streams run over a real local HTTP server (uvicorn), as integrators use them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.routes.events import read_batch
from api.services.api_keys import issue_key
from api.services.container import services_of
from api.services.event_feed import Position
from api.services.event_streams import EventHead, EventStreams, StreamSlots, head_reader
from chain.roles import Role
from chain.upgrades import code_hash, deploy_implementation, upgrade_call
from tests.api.conftest import ApiWorld
from tests.api.integration import head_id, parse_sse, serve, wait_until
from tests.helpers import admit_member, govern, issue_certificate, mint, register_invoice, split

READ_TIMEOUT = 5.0  # below FastAPI's 15 s keep-alive: an event that never comes times out


@dataclass
class Streams:
    api_world: ApiWorld
    url: str

    def read(self, who: str, **params: Any) -> list[dict[str, Any]]:
        """Read a stream bounded by ``limit`` to its end: each message's JSON, checked
        against its SSE id."""
        headers = self.api_world.auth(who)
        if "last_event_id" in params:
            headers["Last-Event-ID"] = params.pop("last_event_id")
        with (
            httpx.Client(base_url=self.url, timeout=READ_TIMEOUT) as client,
            client.stream("GET", "/v1/events", params=params, headers=headers) as answer,
        ):
            assert answer.status_code == 200, answer.read()
            assert answer.headers["content-type"].startswith("text/event-stream")
            messages = list(parse_sse(answer.iter_lines()))
        events = [m.json for m in messages if m.data]
        assert [m.id for m in messages if m.data] == [e["id"] for e in events]
        return events


@pytest.fixture(scope="module")
def events_world(api_world: ApiWorld) -> ApiWorld:
    """The API world plus an auditor's key (the consortium operator)."""
    w = api_world.world
    operator_id = int(w.consortium.members.call("memberOf", w.governor.address))
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    return api_world


@pytest.fixture(scope="module")
def base_url(events_world: ApiWorld) -> Iterator[str]:
    with serve(events_world.client.app) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture(scope="module")
def streams(events_world: ApiWorld, base_url: str) -> Streams:
    return Streams(events_world, base_url)


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events]


def test_parties_see_their_invoice_and_others_do_not(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    private = register_invoice(w, w.tier1, w.core, 1_234_56)
    sentinel = register_invoice(w, w.tier3, w.core2, 99_00)
    events_world.sync()

    (seller_view,) = streams.read("tier1", after=mark, limit=1)
    assert seller_view["name"] == "InvoiceRegistered"
    assert seller_view["contract"] == "InvoiceRegistry"
    assert seller_view["args"]["key"] == "0x" + private.hex()
    assert seller_view["args"]["sellerId"] == w.tier1.id
    assert seller_view["args"]["amount"] == "1234.56"  # money as in the rest of the API
    block, log_index = (int(p) for p in seller_view["id"].split("-"))
    assert (seller_view["block_number"], seller_view["log_index"]) == (block, log_index)
    assert seller_view["transaction_hash"].startswith("0x")
    # the buyer sees it too; a stranger's first event after the mark is its own invoice
    assert streams.read("core", after=mark, limit=1) == [seller_view]
    (stranger_view,) = streams.read("tier3", after=mark, limit=1)
    assert stranger_view["args"]["key"] == "0x" + sentinel.hex()
    both = streams.read("auditor", after=mark, limit=2)
    assert [e["args"]["key"] for e in both] == ["0x" + private.hex(), "0x" + sentinel.hex()]


def test_a_split_is_seen_by_sender_recipient_and_issuer_only(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    root = issue_certificate(w, w.core, w.tier1, 10_000_00)
    a = split(w, w.tier1, root, w.tier2, 4_000_00)
    b = split(w, w.tier2, a, w.tier3, 1_500_00)
    split(w, w.tier3, b, w.bank, 500_00)  # the sentinel the bank may see
    events_world.sync()
    splits = {"types": "CertificateSplit", "after": mark}

    issuer = streams.read("core", **splits, limit=3)
    assert [(e["args"]["fromId"], e["args"]["toId"]) for e in issuer] == [
        (w.tier1.id, w.tier2.id),
        (w.tier2.id, w.tier3.id),
        (w.tier3.id, w.bank.id),
    ]
    assert issuer[0]["args"]["amount"] == "4000.00"
    assert issuer[0]["args"]["sourceValue"] == "6000.00"
    (tier3_first,) = streams.read("tier3", **splits, limit=1)
    assert tier3_first == issuer[1]  # not the tier1 → tier2 hop before it
    (bank_first,) = streams.read("bank", **splits, limit=1)
    assert bank_first == issuer[2]


def test_settlement_tokens_are_seen_through_the_members_accounts(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    mint(w, w.bank, w.tier2, 700_00)  # Transfer(0x0 → tier2), then SettlementMinted
    w.consortium.settlement.transact(w.tier2.signer, "transfer", w.tier1.address, 100_00)
    events_world.sync()
    token_types = "SettlementMinted,Transfer"
    minted_to, minted, paid = streams.read("tier2", after=mark, types=token_types, limit=3)
    assert (minted_to["name"], minted_to["args"]["to"]) == ("Transfer", w.tier2.address)
    assert minted_to["args"]["value"] == "700.00"
    assert (minted["name"], minted["args"]["amount"]) == ("SettlementMinted", "700.00")
    assert minted["args"]["financierId"] == w.bank.id
    assert (paid["args"]["from"], paid["args"]["to"]) == (w.tier2.address, w.tier1.address)
    # the bank is party to its mint, not to the tokens arriving on tier2's account
    assert streams.read("bank", after=mark, types=token_types, limit=1) == [minted]
    assert streams.read("tier1", after=mark, types=token_types, limit=1) == [paid]


def test_membership_is_public_but_a_members_accounts_are_its_own(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    newcomer = admit_member(w.consortium, w.governor, [Role.SUPPLIER], name="Tier-4 Springs")
    register_invoice(w, w.tier3, w.core, 10_00)  # a sentinel tier3 sees
    events_world.sync()
    wanted = "MemberAdmitted,MemberAccountBound,InvoiceRegistered"
    seen = streams.read("tier3", after=mark, types=wanted, limit=2)
    assert names(seen) == ["MemberAdmitted", "InvoiceRegistered"]  # no MemberAccountBound
    assert seen[0]["args"]["memberId"] == newcomer.id
    assert seen[0]["args"]["name"] == "Tier-4 Springs"
    (bound,) = streams.read("auditor", after=mark, types="MemberAccountBound", limit=1)
    assert bound["args"] == {"memberId": newcomer.id, "account": newcomer.address}
    governance = streams.read("tier3", after=mark, types="ProposalExecuted", limit=1)
    assert names(governance) == ["ProposalExecuted"]


def test_an_upgrade_of_a_business_contract_is_public(streams: Streams) -> None:
    """Every member sees that the committee switched a contract's code (decisions/0013)."""
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    hub = w.consortium.financing
    new = deploy_implementation(w.consortium, w.governor, "FinancingHub")
    govern(
        w.consortium, w.governor, upgrade_call(hub, new.address, code_hash(w.ledger, new.address))
    )
    register_invoice(w, w.tier3, w.core, 10_00)  # a sentinel tier3 sees
    events_world.sync()
    seen = streams.read("tier3", after=mark, types="Upgraded,InvoiceRegistered", limit=2)
    assert names(seen) == ["Upgraded", "InvoiceRegistered"]
    assert (seen[0]["contract"], seen[0]["args"]) == (
        "FinancingHub",
        {"implementation": new.address},
    )


def test_resume_after_the_last_event_id(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    keys = [register_invoice(w, w.tier2, w.core2, amount) for amount in (1_00, 2_00, 3_00)]
    events_world.sync()
    (first,) = streams.read("tier2", after=mark, limit=1)
    assert first["args"]["key"] == "0x" + keys[0].hex()
    rest = streams.read("tier2", last_event_id=first["id"], limit=2)
    assert [e["args"]["key"] for e in rest] == ["0x" + k.hex() for k in keys[1:]]
    # a browser reconnects with its original URL: Last-Event-ID wins over ?after=
    again = streams.read("tier2", after=mark, last_event_id=rest[0]["id"], limit=1)
    assert again == rest[1:]


def test_types_filter_keeps_only_the_named_events(streams: Streams) -> None:
    events_world = streams.api_world
    w = events_world.world
    mark = head_id(events_world)
    key = register_invoice(w, w.tier1, w.core2, 5_00)
    w.consortium.invoices.transact(w.core2.signer, "confirmInvoice", key)
    events_world.sync()
    for types in ({"types": "InvoiceConfirmed"}, {"types": ["InvoiceConfirmed"]}):
        (confirmed,) = streams.read("tier1", after=mark, limit=1, **types)
        assert confirmed["name"] == "InvoiceConfirmed"
        assert confirmed["args"] == {"key": "0x" + key.hex(), "buyerId": w.core2.id}


@pytest.mark.parametrize(
    ("params", "headers", "code"),
    [
        ({"after": "latest"}, {}, "invalid_event_id"),
        ({"after": "12-"}, {}, "invalid_event_id"),
        ({}, {"Last-Event-ID": "-1-0"}, "invalid_event_id"),
        ({"types": "InvoiceRegistered,NoSuchEvent"}, {}, "unknown_event_type"),
        ({"types": "DROP TABLE"}, {}, "unknown_event_type"),
        ({"limit": "0"}, {}, "validation_error"),
    ],
)
def test_bad_stream_parameters_are_422_before_the_stream(
    events_world: ApiWorld, params: dict[str, str], headers: dict[str, str], code: str
) -> None:
    answer = events_world.client.get(
        "/v1/events", params=params, headers={**events_world.auth("tier1"), **headers}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == code


def test_the_stream_needs_an_api_key(events_world: ApiWorld) -> None:
    answer = events_world.client.get("/v1/events", params={"limit": 1})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_live_events_keep_alive_and_disconnect(
    events_world: ApiWorld,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fastapi.routing._PING_INTERVAL", 0.2)  # FastAPI's keep-alive
    caplog.set_level(logging.INFO, logger="api.routes.events")
    w = events_world.world
    headers = events_world.auth("tier1")
    with (
        httpx.Client(base_url=base_url, timeout=10) as client,
        client.stream("GET", "/v1/events", headers=headers) as answer,
    ):
        assert answer.status_code == 200
        messages = parse_sse(answer.iter_lines())
        first = next(messages)  # nothing new yet: the server keeps the line alive
        assert first.comments == ["ping"]
        key = register_invoice(w, w.tier1, w.core, 42_00)  # after connecting: live
        events_world.sync()
        live = next(m for m in messages if m.data)
        assert live.json["args"]["key"] == "0x" + key.hex()
        assert live.id == live.json["id"]

    def closed() -> bool:
        return any("closed after 1 events" in r.getMessage() for r in caplog.records)

    wait_until(closed, what="the server to end the stream after the client left")


# ---- open streams cost the node nothing while idle, and each member holds a few --------


@contextmanager
def stream_limits(
    world: ApiWorld, per_member: int, total: int, read_head: Callable[[], Position] | None = None
) -> Iterator[EventStreams]:
    """Run the app's streams under these bounds and this head reader for one test."""
    state = services_of(world.client.app)
    before = state.event_streams
    head = EventHead(read_head or head_reader(world.sessions), poll_seconds=0.05)
    state.event_streams = EventStreams(StreamSlots(per_member, total), head)
    try:
        yield state.event_streams
    finally:
        state.event_streams = before


def test_a_member_holds_a_bounded_number_of_streams_and_others_keep_theirs(
    events_world: ApiWorld, base_url: str
) -> None:
    w = events_world.world
    with (
        stream_limits(events_world, per_member=2, total=3) as limits,
        httpx.Client(base_url=base_url, timeout=READ_TIMEOUT) as client,
        ExitStack() as open_streams,
    ):

        def connect(who: str) -> httpx.Response:
            return open_streams.enter_context(
                client.stream("GET", "/v1/events", headers=events_world.auth(who))
            )

        first = connect("tier1")
        assert [first.status_code, connect("tier1").status_code] == [200, 200]
        refused = connect("tier1")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"
        assert json.loads(refused.read())["error"]["code"] == "rate_limited"
        assert connect("tier2").status_code == 200  # another member keeps its own
        busy = connect("core")  # the node's bound: three open in all
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert json.loads(busy.read())["error"]["code"] == "streams_busy"

        first.close()  # the client leaves: its slot comes back
        wait_until(lambda: limits.slots.open_streams(w.tier1.id) == 1, what="the slot back")
        assert connect("tier1").status_code == 200


def test_idle_streams_read_nothing_until_an_event_is_indexed(
    events_world: ApiWorld, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = events_world.world
    head_reads, batch_reads = Counter[str](), Counter[str]()
    read_head = head_reader(events_world.sessions)

    def counted_head() -> Position:
        head_reads["head"] += 1
        return read_head()

    def counted_batch(*args: Any) -> Any:
        batch_reads["batch"] += 1
        return read_batch(*args)

    monkeypatch.setattr("api.routes.events.read_batch", counted_batch)
    watchers = ("tier1", "tier2", "tier3", "core")
    with (
        stream_limits(events_world, per_member=8, total=8, read_head=counted_head),
        httpx.Client(base_url=base_url, timeout=READ_TIMEOUT) as client,
        ExitStack() as open_streams,
    ):
        streams = {
            who: open_streams.enter_context(
                client.stream("GET", "/v1/events", headers=events_world.auth(who))
            )
            for who in watchers
        }
        wait_until(lambda: batch_reads["batch"] == len(watchers), what="each stream's first read")
        polls = head_reads["head"]
        wait_until(lambda: head_reads["head"] >= polls + 5, what="five polls of the head")
        assert batch_reads["batch"] == len(watchers)  # idle: no stream read the read model

        key = register_invoice(w, w.tier1, w.core, 77_00)
        events_world.sync()
        live = next(m for m in parse_sse(streams["tier1"].iter_lines()) if m.data)
        assert live.json["args"]["key"] == "0x" + key.hex()
        assert batch_reads["batch"] > len(watchers)
