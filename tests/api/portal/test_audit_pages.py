"""The auditor's page: any certificate's lineage, read-only, for auditors and regulators
only; a business member is refused in words and never sees another member's tree."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.committee import CommitteeNode, committee_node
from tests.api.portal.oversight import browser_of, sync, user_of
from tests.helpers import issue_certificate, split

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("audit-pages"))) as built:
        yield built


@pytest.fixture(scope="module")
def tree(node: CommitteeNode) -> dict[str, int]:
    """A root of the core enterprise to tier 1, split on to tier 2 and then tier 3."""
    w = node.world
    root = issue_certificate(w, w.core, w.tier1, 90_000_00)
    to_tier2 = split(w, w.tier1, root, w.tier2, 30_000_00)
    to_tier3 = split(w, w.tier2, to_tier2, w.tier3, 10_000_00)
    sync(node)
    return {"root": root, "tier2": to_tier2, "tier3": to_tier3}


@pytest.mark.parametrize("auditor", ["regulator", "operator"])
def test_an_auditor_traces_any_certificate_to_its_root_and_down_every_tier(
    node: CommitteeNode, tree: dict[str, int], auditor: str
) -> None:
    client = browser_of(node, user_of(node, auditor, "viewer"))
    page = client.get("/portal/audit")
    assert page.status_code == 200, page.text
    roots = page.text.split('id="roots"')[1]
    assert f'data-root="{tree["root"]}"' in roots
    assert "Core Motors Group" in roots
    assert "60000.00" in roots

    traced = client.get("/portal/audit", params={"certificate": f"#{tree['tier3']}"})
    assert traced.status_code == 200, traced.text
    section = traced.text.split('id="lineage"')[1]
    assert f"Certificate #{tree['tier3']} in the tree of root #{tree['root']}" in section
    for holder in ("Tier-1 Parts Ltd", "Tier-2 Castings Ltd", "Tier-3 Screws Ltd"):
        assert holder in section
    assert f'data-certificate="{tree["tier3"]}" class="focus" aria-current="true"' in section
    drawn = json.loads(html.unescape(section.split('id="lineage-data">')[1].split("</script>")[0]))
    assert drawn["id"] == tree["root"]
    (child,) = drawn["children"]
    assert child["id"] == tree["tier2"]
    assert [c["id"] for c in child["children"]] == [tree["tier3"]]
    # read-only: no form on the page posts anything but signing out
    assert traced.text.count('method="post"') == 1


def test_an_unknown_or_malformed_id_is_refused_in_words(
    node: CommitteeNode, tree: dict[str, int]
) -> None:
    client = browser_of(node, user_of(node, "regulator", "viewer"))
    unknown = client.get("/portal/audit", params={"certificate": "999999"})
    assert unknown.status_code == 404
    assert "That certificate was not found" in unknown.text
    malformed = client.get("/portal/audit", params={"certificate": EVIL})
    assert malformed.status_code == 422
    assert "A certificate id is a number" in malformed.text
    assert EVIL not in malformed.text  # echoed in the search box, escaped
    assert "&lt;script&gt;alert(" in malformed.text


def test_the_page_is_in_chinese(node: CommitteeNode, tree: dict[str, int]) -> None:
    client = browser_of(node, user_of(node, "regulator", "viewer"), "zh-CN")
    page = client.get("/portal/audit", params={"certificate": str(tree["root"])})
    assert page.status_code == 200
    assert "穿透式追溯" in page.text
    assert "根凭证" in page.text


@pytest.mark.parametrize("member", ["tier1", "core", "bank"])
def test_business_members_are_refused_and_see_no_tree(
    node: CommitteeNode, tree: dict[str, int], member: str
) -> None:
    client = browser_of(node, user_of(node, member))
    for params in ({}, {"certificate": str(tree["tier3"])}):
        refused = client.get("/portal/audit", params=params)
        assert refused.status_code == 403, refused.text
        assert "This page is for auditors and regulators." in refused.text
        assert "Tier-3 Screws Ltd" not in refused.text
