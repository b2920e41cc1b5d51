"""Read-your-writes across nodes: a write answers with its block (``X-Block-Number``); a
read with ``X-Min-Block: N`` is answered from a read model that has indexed block N,
waiting for it a bounded time, else 503 ``read_model_behind`` with ``Retry-After``."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api.client import ScfClient
from api.read_freshness import MAX_BLOCK
from tests.api.conftest import ApiWorld

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
