"""Webhooks under concurrency: one member's dead receivers never hold up another member's
deliveries, and concurrent registrations keep the per-member limit and unique URLs."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from api.services.webhook_registry import MAX_WEBHOOKS_PER_MEMBER
from api.services.webhook_targets import TargetPolicy, parse_networks
from api.services.webhooks import RetryPolicy, WebhookDispatcher
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.webhook_world import (
    LOOPBACK,
    Hooks,
    Receiver,
    Silent,
    allowing,
    running_receiver,
)
from tests.api.writes import at_once, wait_for
from tests.helpers import register_invoice

PER_MEMBER = 3
WORKERS = 8
# the races need their 60 registrations of one member running at once: with the node's
# usual bounds (api.admission) most would be turned away before they ran
RACE_CAPACITY = {
    "worker_threads": 128,
    "requests_max_in_flight": 128,
    "writes_max_in_flight": 96,
    "writes_max_in_flight_per_caller": 96,
}


@pytest.fixture(scope="module", autouse=True)
def local_receivers_allowed(api_world: ApiWorld) -> Iterator[None]:
    with allowing(api_world.client.app, LOOPBACK, **RACE_CAPACITY):  # type: ignore[arg-type]
        yield


@pytest.fixture
def dispatcher(api_world: ApiWorld) -> Iterator[WebhookDispatcher]:
    # a silent receiver must outlast the test: it is released, never timed out
    with httpx.Client(timeout=120) as client:
        vault = node_vault(api_world.client.app)
        dispatcher = WebhookDispatcher(
            api_world.sessions,
            client,
            vault,
            TargetPolicy(parse_networks(LOOPBACK)),
            policy=RetryPolicy(max_attempts=5, base_seconds=10),
            workers=WORKERS,
            per_member=PER_MEMBER,
            rng=random.Random(11),
        )
        yield dispatcher
        dispatcher.close()


@pytest.fixture
def hooks(api_world: ApiWorld, dispatcher: WebhookDispatcher) -> Iterator[Hooks]:
    hooks = Hooks(api_world, dispatcher)
    hooks.settle()
    yield hooks
    hooks.clean_up()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def silent() -> Iterator[Silent]:
    receiver = Silent()
    yield receiver
    receiver.release()


def _states(hooks: Hooks, who: str, hook_ids: list[int]) -> Counter[tuple[str, int]]:
    """(state, attempts) of the deliveries of the member's webhooks."""
    seen: Counter[tuple[str, int]] = Counter()
    for hook_id in hook_ids:
        for delivery in hooks.deliveries(who, hook_id).json()["items"]:
            seen[(delivery["state"], delivery["attempts"])] += 1
    return seen


def test_one_members_silent_receivers_do_not_delay_another_members_delivery(
    hooks: Hooks, dispatcher: WebhookDispatcher, receiver: Receiver, silent: Silent
) -> None:
    w = hooks.api_world.world
    dead = [hooks.create("tier1", f"{silent.url}/hook/{i}")["id"] for i in range(12)]
    good = hooks.create("tier2", receiver.url)["id"]
    register_invoice(w, w.tier1, w.core, 21_00)  # first in line: 12 deliveries to nowhere
    register_invoice(w, w.tier2, w.core, 22_00)
    hooks.api_world.sync()
    now = int(time.time())

    with ThreadPoolExecutor(1) as background:
        first_pass = background.submit(dispatcher.dispatch_once, now)  # waits for its attempts

        def delivered() -> bool:
            return _states(hooks, "tier2", [good]) == Counter({("delivered", 1): 1})

        wait_for(delivered, timeout=15)  # while tier1's attempts hang
        assert len(receiver.requests) == 1
        wait_for(lambda: silent.connections == PER_MEMBER, timeout=15)
        assert not first_pass.done()
        assert dispatcher.under_way() == PER_MEMBER  # tier1 holds its share, no more
        assert _states(hooks, "tier1", dead) == Counter({("pending", 0): 12})

        # another pass meanwhile starts none of tier1's: not the ones under way (no
        # delivery is attempted twice at once), not more (tier1 is at its bound)
        assert dispatcher.dispatch_once(now).attempted == 0
        assert silent.connections == PER_MEMBER

        silent.release()  # the hanging attempts end, as failures to retry
        report = first_pass.result(timeout=30)
    assert (report.attempted, report.delivered) == (PER_MEMBER + 1, 1)
    assert _states(hooks, "tier1", dead) == Counter(
        {("pending", 1): PER_MEMBER, ("pending", 0): 12 - PER_MEMBER}
    )
    assert dispatcher.under_way() == 0


def _post_all(hooks: Hooks, who: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    client, headers = hooks.api_world.client, hooks.auth(who)

    def post(body: dict[str, Any]) -> Any:
        return lambda: client.post("/v1/webhooks", json=body, headers=headers)

    answers = at_once([post(body) for body in bodies])
    for answer in answers:
        if answer.status_code == 201:
            hooks.created.append((who, answer.json()["id"]))
    return answers


def _outcomes(answers: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (a.status_code, "" if a.status_code == 201 else a.json()["error"]["code"]) for a in answers
    )


def test_concurrent_registrations_keep_the_limit(hooks: Hooks) -> None:
    assert hooks.listed("core") == []
    bodies = [{"url": f"http://127.0.0.1:9/hooks/{i}"} for i in range(60)]
    answers = _post_all(hooks, "core", bodies)
    assert _outcomes(answers) == Counter(
        {
            (201, ""): MAX_WEBHOOKS_PER_MEMBER,
            (409, "webhook_limit_reached"): 60 - MAX_WEBHOOKS_PER_MEMBER,
        }
    )
    assert len(hooks.listed("core")) == MAX_WEBHOOKS_PER_MEMBER


def test_concurrent_registrations_of_one_url_register_it_once(hooks: Hooks) -> None:
    assert hooks.listed("bank") == []
    url = "http://127.0.0.1:9/hooks/same"
    answers = _post_all(hooks, "bank", [{"url": url}] * 30)
    assert _outcomes(answers) == Counter({(201, ""): 1, (409, "webhook_exists"): 29})
    assert [h["url"] for h in hooks.listed("bank")] == [url]
