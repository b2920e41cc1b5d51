"""The explorer's REST routes: blocks, transactions with their call and events decoded,
the node allow-list and the search, for governors and auditors — and nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from chain.credit_code import make_credit_code
from tests.api.committee import CommitteeNode, committee_node
from tests.helpers import register_invoice

EXPLORER = "/v1/explorer"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("explorer"))) as built:
        yield built


def test_only_governors_and_auditors_read_the_explorer(node: CommitteeNode) -> None:
    paths = ("/blocks", "/blocks/1", "/transactions/0x" + "ab" * 32, "/nodes", "/search?q=1")
    for who in ("tier1", "core", "bank2"):  # business members, none a governor
        for path in paths:
            refused = node.client.get(EXPLORER + path, headers=node.auth(who))
            assert refused.status_code == 403, (who, path, refused.text)
            assert refused.json()["error"]["code"] == "not_a_governor"
    for who in ("operator", "bank", "regulator"):  # governors, and an auditor
        assert node.get(who, f"{EXPLORER}/blocks")["head"] == node.ledger.block_number()


def test_blocks_are_listed_newest_first_in_pages(node: CommitteeNode) -> None:
    head = node.ledger.block_number()
    page = node.get("regulator", f"{EXPLORER}/blocks?limit=3")
    assert [b["number"] for b in page["items"]] == [head, head - 1, head - 2]
    older = node.get("regulator", f"{EXPLORER}/blocks?limit=2&before={head - 2}")
    assert [b["number"] for b in older["items"]] == [head - 3, head - 4]
    assert older["items"][0]["hash"] == page["items"][2]["parent_hash"]
    genesis = node.get("regulator", f"{EXPLORER}/blocks?before=1")["items"]
    assert [b["number"] for b in genesis] == [0]
    missing = node.client.get(f"{EXPLORER}/blocks/{head + 1}", headers=node.auth("regulator"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "block_not_found"
    bad = node.client.get(f"{EXPLORER}/blocks?limit=0", headers=node.auth("regulator"))
    assert bad.status_code == 422


def test_a_transaction_shows_its_call_and_events_decoded(node: CommitteeNode) -> None:
    w = node.world
    register_invoice(w, w.tier1, w.core, 7_654_32)
    head = node.ledger.block_number()
    block = node.get("operator", f"{EXPLORER}/blocks/{head}")
    assert block["transaction_count"] == 1
    (tx,) = block["transactions"]
    assert (tx["contract"], tx["function"], tx["status"]) == (
        "InvoiceRegistry",
        "registerInvoice",
        "succeeded",
    )
    assert tx["sender_member_id"] == w.tier1.id
    assert tx["args"]["amount"] == 7_654_32
    assert tx["args"]["buyerId"] == w.core.id
    assert [e["name"] for e in tx["events"]] == ["InvoiceRegistered"]
    alone = node.get("regulator", f"{EXPLORER}/transactions/{tx['hash']}")
    assert alone == tx
    unknown = node.client.get(
        f"{EXPLORER}/transactions/0x{'00' * 32}", headers=node.auth("regulator")
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "transaction_not_found"
    malformed = node.client.get(f"{EXPLORER}/transactions/0x12", headers=node.auth("regulator"))
    assert malformed.status_code == 422


def test_search_finds_hashes_numbers_and_credit_codes(node: CommitteeNode) -> None:
    w = node.world
    head = node.ledger.block_number()
    block = node.get("regulator", f"{EXPLORER}/blocks/{head}")

    def search(q: str) -> list[dict[str, str]]:
        found: list[dict[str, str]] = node.get("regulator", f"{EXPLORER}/search?q={q}")["matches"]
        return found

    if block["transactions"]:
        tx_hash = block["transactions"][0]["hash"]
        assert search(tx_hash) == [{"kind": "transaction", "ref": tx_hash}]
    assert search(block["hash"]) == [{"kind": "block", "ref": str(head)}]
    assert search(str(w.tier2.id)) == [
        {"kind": "block", "ref": str(w.tier2.id)},
        {"kind": "member", "ref": str(w.tier2.id)},
    ]
    assert search(f" {w.tier2.credit_code.lower()} ") == [
        {"kind": "member", "ref": str(w.tier2.id)}
    ]
    digits_only = next(  # a code whose check character is a digit: a code, not a number
        code
        for n in range(10**6, 10**6 + 100)
        if (code := make_credit_code(f"91110000{n:09d}")).isdigit()
    )
    applied = node.client.post(
        "/v1/members/applications",
        json={"name": "Digits Only Trading Co", "credit_code": digits_only, "roles": ["SUPPLIER"]},
    )
    assert applied.status_code == 201, applied.text
    proposal_id = applied.json()["proposal_id"]  # the operator's; the bank's vote carries it
    node.post("bank", f"/v1/governance/proposals/{proposal_id}/votes", {"support": "for"})
    admitted = node.get("operator", f"/v1/members/applications/{applied.json()['id']}")
    assert admitted["status"] == "admitted", admitted
    assert search(digits_only) == [{"kind": "member", "ref": str(admitted["member_id"])}]
    assert search(str(head + 10**6)) == []
    assert search("not a code") == []


def test_nodes_are_listed_as_the_committee_allowed_them(node: CommitteeNode) -> None:
    endpoint = "https://validator.bank.example:8545"
    add = {
        "kind": "add_node",
        "public_key": "0x" + "5a" * 64,
        "owner_member_id": node.world.bank.id,
        "endpoint": endpoint,
    }
    proposal = node.post("operator", "/v1/governance/proposals", add)
    node.post("bank", f"/v1/governance/proposals/{proposal['id']}/votes", {"support": "for"})
    node_id = "0x" + keccak(bytes.fromhex("5a" * 64)).hex()
    listed = node.get("regulator", f"{EXPLORER}/nodes")["items"]
    (added,) = [n for n in listed if n["id"] == node_id]
    assert (added["owner_member_id"], added["endpoint"], added["allowed"]) == (
        node.world.bank.id,
        endpoint,
        True,
    )
    assert len(listed) == int(node.world.consortium.nodes.call("nodeCount"))
