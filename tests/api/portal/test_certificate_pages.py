"""A certificate's own page: its holder sees it and the lineage the API shows it, linked
from the holdings list; a member the API does not let read it is refused in words."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import create_user, signed_in
from tests.helpers import issue_certificate, split

FACE = 500_000_00


@pytest.fixture(scope="module")
def pieces(api_world: ApiWorld) -> tuple[int, int]:
    """A root held by tier 1, and the piece of it tier 1 passed to tier 2."""
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier1, FACE)
    child = split(w, w.tier1, root, w.tier2, 120_000_00)
    api_world.sync()
    return root, child


def test_the_holder_sees_its_certificate_and_its_lineage(
    api_world: ApiWorld, pieces: tuple[int, int]
) -> None:
    root, child = pieces
    client = signed_in(api_world, create_user(api_world, "tier1", "viewer"))
    holdings = client.get("/portal/holdings")
    assert f'<a href="/portal/certificates/{root}"' in holdings.text
    page = client.get(f"/portal/certificates/{root}")
    assert page.status_code == 200, page.text
    assert f"Certificate #{root} in the tree of root #{root}" in page.text
    assert ">380000.00<" in page.text  # what tier 1 still holds of the root
    drawn = page.text.split('<script type="application/json" id="lineage-data">')[1]
    tree = json.loads(drawn.split("</script>")[0])
    assert (tree["id"], tree["focus"]) == (root, True)
    assert [c["id"] for c in tree["children"]] == [child]
    assert tree["children"][0]["value"] == "120000.00"
    assert f'href="/portal/certificates/{child}"' in page.text


def test_the_recipient_sees_its_piece_and_where_it_came_from(
    api_world: ApiWorld, pieces: tuple[int, int]
) -> None:
    root, child = pieces
    page = signed_in(api_world, create_user(api_world, "tier2", "viewer")).get(
        f"/portal/certificates/{child}"
    )
    assert page.status_code == 200, page.text
    assert f"Certificate #{child} in the tree of root #{root}" in page.text
    assert f'href="/portal/certificates/{root}">#{root}</a>' in page.text  # split from


def test_another_members_certificate_is_refused_in_words(
    api_world: ApiWorld, pieces: tuple[int, int]
) -> None:
    root, _ = pieces
    client = signed_in(api_world, create_user(api_world, "tier3", "viewer"))
    page = client.get(f"/portal/certificates/{root}")
    assert page.status_code == 404
    assert 'role="alert"' in page.text
    assert 'id="lineage-data"' not in page.text
    assert client.get("/portal/certificates/0").status_code == 422
    assert client.get("/portal/certificates/x").status_code == 422


def _nav(page_text: str) -> list[str]:
    nav = page_text.split("<nav>")[1].split("</nav>")[0]
    return [part.split('"')[0] for part in nav.split('<a href="/portal/')[1:]]


def test_the_menu_offers_a_members_role_pages_only(api_world: ApiWorld) -> None:
    supplier = _nav(
        signed_in(api_world, create_user(api_world, "tier2", "viewer")).get("/portal/holdings").text
    )
    core = _nav(
        signed_in(api_world, create_user(api_world, "core", "viewer")).get("/portal/holdings").text
    )
    bank = _nav(
        signed_in(api_world, create_user(api_world, "bank", "viewer")).get("/portal/holdings").text
    )
    everyone = ["holdings", "invoices", "financing", "settlement", "approvals", "risk"]
    for menu in (supplier, core, bank):
        assert set(everyone) <= set(menu)
    assert not {"issued", "credit", "inbox", "audit"} & set(supplier)
    assert {"issued", "credit"} <= set(core)
    assert "inbox" not in core
    assert {"inbox", "credit"} <= set(bank)
    assert "issued" not in bank
