"""The explorer pages: blocks, a block's transactions and one transaction decoded,
members and nodes, search by hash, number or credit code — for governors and auditors;
a supplier (or any member that is neither) is refused in words and sees none of it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.committee import CommitteeNode, committee_node
from tests.api.portal.oversight import browser_of, sync, user_of
from tests.helpers import register_invoice

_TX = re.compile(r'data-transaction="(0x[0-9a-f]{64})"')


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("explorer-pages"))) as built:
        yield built


@pytest.fixture(scope="module")
def invoice_block(node: CommitteeNode) -> int:
    """The block of tier 1's invoice to the core enterprise."""
    w = node.world
    register_invoice(w, w.tier1, w.core, 4_321_00)
    sync(node)
    return node.ledger.block_number()


def test_an_auditor_browses_blocks_to_a_decoded_transaction(
    node: CommitteeNode, invoice_block: int
) -> None:
    client = browser_of(node, user_of(node, "regulator", "viewer"))
    home = client.get("/portal/explorer")
    assert home.status_code == 200, home.text
    assert f'data-block="{invoice_block}"' in home.text
    assert f"Blocks (head #{invoice_block})" in home.text
    members = home.text.split('id="members"')[1].split("</section>")[0]
    assert "Tier-3 Screws Ltd" in members
    assert 'id="nodes"' in home.text

    block = client.get(f"/portal/explorer/blocks/{invoice_block}")
    assert block.status_code == 200, block.text
    (tx_hash,) = _TX.findall(block.text)
    assert "InvoiceRegistry.registerInvoice" in block.text
    assert "InvoiceRegistry.InvoiceRegistered" in block.text
    assert "432100" in block.text  # the amount argument, in minor units as the call has it
    assert "Tier-1 Parts Ltd" in block.text  # the sender, by its member's name

    tx = client.get(f"/portal/explorer/transactions/{tx_hash}")
    assert tx.status_code == 200, tx.text
    assert f"In block #{invoice_block}" in tx.text
    assert "succeeded" in tx.text

    older = client.get(f"/portal/explorer?before={invoice_block}")
    assert f'data-block="{invoice_block}"' not in older.text
    assert f'data-block="{invoice_block - 1}"' in older.text


def test_search_goes_to_what_it_finds_or_says_nothing_was(
    node: CommitteeNode, invoice_block: int
) -> None:
    w = node.world
    client = browser_of(node, user_of(node, "operator", "viewer"))
    block = client.get(f"/portal/explorer/blocks/{invoice_block}")
    (tx_hash,) = _TX.findall(block.text)
    found = client.get("/portal/explorer/search", params={"q": tx_hash.upper().replace("0X", "0x")})
    assert found.status_code == 303
    assert found.headers["location"] == f"/portal/explorer/transactions/{tx_hash}"
    by_code = client.get("/portal/explorer/search", params={"q": w.tier2.credit_code})
    assert by_code.status_code == 200
    assert 'data-kind="member"' in by_code.text
    assert "Tier-2 Castings Ltd" in by_code.text
    both = client.get("/portal/explorer/search", params={"q": str(w.tier2.id)})
    assert 'data-kind="block"' in both.text
    assert 'data-kind="member"' in both.text
    evil = "<img src=x onerror=alert(1)>"
    nothing = client.get("/portal/explorer/search", params={"q": evil})
    assert nothing.status_code == 404
    assert "Nothing on the ledger matches" in html.unescape(nothing.text)
    assert evil not in nothing.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in nothing.text


def test_an_unknown_block_or_transaction_is_refused_in_words(
    node: CommitteeNode, invoice_block: int
) -> None:
    client = browser_of(node, user_of(node, "bank", "viewer"), "zh-CN")
    missing = client.get(f"/portal/explorer/blocks/{invoice_block + 1000}")
    assert missing.status_code == 404
    assert "账本上没有该区块。" in missing.text
    unknown = client.get("/portal/explorer/transactions/0x" + "00" * 32)
    assert unknown.status_code == 404
    assert "账本上没有该交易。" in unknown.text
    malformed = client.get("/portal/explorer/transactions/0x12")
    assert malformed.status_code == 422


@pytest.mark.parametrize("member", ["tier1", "core", "bank2"])
def test_members_that_are_neither_governor_nor_auditor_see_nothing(
    node: CommitteeNode, invoice_block: int, member: str
) -> None:
    client = browser_of(node, user_of(node, member, "approver"))
    for path in (
        "/portal/explorer",
        f"/portal/explorer/blocks/{invoice_block}",
        "/portal/explorer/transactions/0x" + "ab" * 32,
        "/portal/explorer/search?q=1",
    ):
        refused = client.get(path)
        assert refused.status_code == 403, (path, refused.text)
        assert "governors" in refused.text
        assert "registerInvoice" not in refused.text
        assert "Tier-3 Screws Ltd" not in refused.text
