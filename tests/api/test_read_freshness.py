"""Read-your-writes across nodes: a write answers with its block (``X-Block-Number``); a
member's read with ``X-Min-Block: N`` is answered from a read model that has indexed
block N, waiting for it a bounded time, else 503 ``read_model_behind`` with
``Retry-After``. Only a member waits: any other request is answered as without the
header; a block far past the ledger's head is refused at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event

from api.client import ScfClient
from api.read_freshness import MAX_BLOCK, MAX_BLOCKS_AHEAD
from api.readmodel.database import engine_of
from api.settings import Settings, get_settings
from tests.api.conftest import ApiWorld
from tests.helpers import suspend

BANK_REFERENCE = "0x" + "ef" * 32
BALANCE = "/v1/settlement/balance"


def mint(api_world: ApiWorld, amount: str) -> Any:
    body = {
        "to_member_id": api_world.world.tier1.id,
        "amount": amount,
        "bank_reference": BANK_REFERENCE,
    }
    answer = api_world.client.post("/v1/settlement/mint", json=body, headers=api_world.auth("bank"))
    assert answer.status_code == 201, answer.text
    return answer


def read(api_world: ApiWorld, min_block: str | None, who: str = "tier1") -> Any:
    headers = api_world.auth(who)
    if min_block is not None:
        headers["X-Min-Block"] = min_block
    return api_world.client.get(BALANCE, headers=headers)


@contextmanager
def statements(api_world: ApiWorld, table: str) -> Iterator[list[str]]:
    """The SQL statements that read ``table`` while the block runs."""
    engine = engine_of(api_world.sessions)
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if table in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def unindexed_block(api_world: ApiWorld) -> int:
    """A block the ledger has and the read model has not indexed (no indexer runs
    beside these tests' API: only its writes index)."""
    api_world.world.ledger.fund(api_world.world.outsider.address, 1)
    return api_world.world.ledger.block_number()


def test_a_write_answers_with_its_block_and_a_read_at_it_sees_the_write(
    api_world: ApiWorld,
) -> None:
    answer = mint(api_world, "5.00")
    block = answer.headers["X-Block-Number"]
    receipt = api_world.world.ledger.get_transaction_receipt(
        bytes.fromhex(answer.headers["X-Transaction-Hash"][2:])
    )
    assert receipt is not None
    assert int(block) == receipt["blockNumber"]
    fresh = read(api_world, block)
    assert fresh.status_code == 200, fresh.text
    assert int(fresh.headers["X-Indexed-Block"]) >= int(block)
    assert fresh.json()["balance"] == "5.00"


def test_a_read_waits_for_the_read_model_to_reach_the_block(api_world: ApiWorld) -> None:
    wanted = unindexed_block(api_world)
    indexing = threading.Timer(0.5, api_world.sync)  # the node's indexer's next pass
    indexing.start()
    try:
        answer = read(api_world, str(wanted))
    finally:
        indexing.join()
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["X-Indexed-Block"]) >= wanted


def test_a_read_model_that_does_not_get_there_in_time_answers_503(api_world: ApiWorld) -> None:
    wanted = unindexed_block(api_world) + 1_000  # no such block yet: never indexed in time
    answer = read(api_world, str(wanted))
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    error = answer.json()["error"]
    assert error["code"] == "read_model_behind"
    assert error["details"]["min_block"] == wanted
    assert error["details"]["indexed_block"] < wanted


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "0x10", " ", str(MAX_BLOCK + 1), "12abc"])
def test_a_min_block_that_is_no_block_number_is_refused(api_world: ApiWorld, value: str) -> None:
    headers = {**api_world.auth("tier1"), "X-Min-Block": value}
    answer = api_world.client.get(BALANCE, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_min_block"


def test_without_the_header_reads_and_writes_are_as_before(api_world: ApiWorld) -> None:
    unindexed_block(api_world)
    plain = read(api_world, None)
    assert plain.status_code == 200
    assert "X-Indexed-Block" not in plain.headers
    # a write ignores the header: it waits for its own block anyway
    headers = {**api_world.auth("bank"), "X-Min-Block": str(MAX_BLOCK)}
    body = {
        "to_member_id": api_world.world.tier1.id,
        "amount": "1.00",
        "bank_reference": BANK_REFERENCE,
    }
    answer = api_world.client.post("/v1/settlement/mint", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


def test_the_python_client_reads_at_least_as_fresh_as_its_last_write(api_world: ApiWorld) -> None:
    transport = api_world.client._transport  # the app in process, as the test client reaches it
    body = {
        "to_member_id": api_world.world.tier2.id,
        "amount": "3.00",
        "bank_reference": BANK_REFERENCE,
    }
    with ScfClient("http://testserver", api_world.keys["bank"], transport=transport) as bank:
        bank.post("/v1/settlement/mint", body)
        block = bank.last_block
    assert block is not None
    with ScfClient("http://testserver", api_world.keys["tier2"], transport=transport) as tier2:
        assert tier2.get(BALANCE, min_block=block)["balance"] == "3.00"
        assert int(tier2.last_headers["X-Indexed-Block"]) >= block
        assert tier2.last_block is None  # a read sends no transaction


ANONYMOUS: dict[str, dict[str, str]] = {
    "no credentials": {},
    "a wrong key": {"Authorization": "Bearer scf_not-a-key"},
    "no bearer scheme": {"Authorization": "Basic dGllcjE6c2VjcmV0"},
}


@pytest.mark.parametrize("who", ANONYMOUS)
@pytest.mark.parametrize("value", ["unindexed", "abc", str(MAX_BLOCK)])
def test_a_read_that_names_no_member_never_waits(api_world: ApiWorld, who: str, value: str) -> None:
    """It gets its 401 at once, as without the header: the read model's cursor is never
    looked at (a wait polls it), the header is not even checked."""
    block = str(unindexed_block(api_world)) if value == "unindexed" else value
    headers = {**ANONYMOUS[who], "X-Min-Block": block}
    with statements(api_world, "indexer_cursor") as cursor_reads:
        answer = api_world.client.get(BALANCE, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert "X-Indexed-Block" not in answer.headers
    assert cursor_reads == []
    assert answer.json() == api_world.client.get(BALANCE, headers=ANONYMOUS[who]).json()


def test_a_suspended_member_is_refused_at_once(api_world: ApiWorld) -> None:
    # tier3 is used by no other test here: the module's read model keeps the suspension
    suspend(api_world.world, api_world.world.tier3)
    api_world.sync()
    wanted = unindexed_block(api_world)
    with statements(api_world, "indexer_cursor") as cursor_reads:
        answer = read(api_world, str(wanted), who="tier3")
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["message"] == f"member {api_world.world.tier3.id} is suspended"
    assert cursor_reads == []


def test_a_read_that_needs_no_member_is_answered_as_without_the_header(
    api_world: ApiWorld,
) -> None:
    wanted = unindexed_block(api_world)
    plain = api_world.client.get("/openapi.json")
    answer = api_world.client.get("/openapi.json", headers={"X-Min-Block": str(wanted)})
    assert answer.status_code == plain.status_code == 200
    assert answer.json() == plain.json()
    assert "X-Indexed-Block" not in answer.headers


def test_a_members_read_with_the_header_looks_its_key_up_once(api_world: ApiWorld) -> None:
    """Authenticated before the wait, and the route takes that member as it is."""
    block = mint(api_world, "1.00").headers["X-Block-Number"]
    with statements(api_world, "api_keys") as lookups:
        answer = read(api_world, block)
    assert answer.status_code == 200, answer.text
    assert len(lookups) == 1


def test_a_block_far_past_the_ledgers_head_is_refused_at_once(api_world: ApiWorld) -> None:
    head = api_world.world.ledger.block_number()
    wanted = head + MAX_BLOCKS_AHEAD + 1
    with statements(api_world, "indexer_cursor") as cursor_reads:
        answer = read(api_world, str(wanted))
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "min_block_ahead_of_ledger"
    assert error["details"]["min_block"] == wanted
    assert error["details"]["max_blocks_ahead"] == MAX_BLOCKS_AHEAD
    # the node's reading of its head (/healthz's, which may be a moment old)
    assert error["details"]["head_block"] <= head
    assert "Retry-After" not in answer.headers
    assert len(cursor_reads) == 1  # one look at where the read model is, no polling


@pytest.mark.parametrize("value", [str(MAX_BLOCK), str(10**18)])
def test_the_largest_block_numbers_are_refused_at_once(api_world: ApiWorld, value: str) -> None:
    answer = read(api_world, value)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "min_block_ahead_of_ledger"


def test_a_block_at_the_bound_past_the_head_is_waited_for(api_world: ApiWorld) -> None:
    """The bound is inclusive. The node's reading of its head is asked first (a refusal
    says it): a later reading is the same or higher, never lower."""
    far = read(api_world, str(MAX_BLOCK))
    assert far.status_code == 409, far.text
    at_bound = far.json()["error"]["details"]["head_block"] + MAX_BLOCKS_AHEAD
    app = api_world.client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_settings] = lambda: Settings(read_min_block_wait_seconds=0)
    try:
        answer = read(api_world, str(at_bound))
    finally:
        del app.dependency_overrides[get_settings]
    assert answer.status_code == 503, answer.text  # waited (no time at all), not refused
    assert answer.json()["error"]["code"] == "read_model_behind"
    assert answer.json()["error"]["details"]["min_block"] == at_bound
