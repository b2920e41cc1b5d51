"""/v1/certificates and /v1/invoices: holdings, lineage and who may see what."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ApiWorld
from tests.helpers import issue_certificate, split

FACE = 1_000_000_00


@pytest.fixture(scope="module")
def tree(api_world: ApiWorld) -> dict[str, int]:
    """core → tier1 (root); tier1 → tier2 (a); tier2 → tier3 (b); tier1 → bank (c)."""
    w = api_world.world
    root = issue_certificate(w, w.core, w.tier1, FACE)
    a = split(w, w.tier1, root, w.tier2, 400_000_00)
    b = split(w, w.tier2, a, w.tier3, 150_000_50)
    c = split(w, w.tier1, root, w.bank, 100_000_00)
    api_world.sync()
    return {"root": root, "a": a, "b": b, "c": c}


def _get(api_world: ApiWorld, who: str, path: str, **params: Any) -> Any:
    return api_world.client.get(path, headers=api_world.auth(who), params=params)


def _ids(node: dict[str, Any]) -> list[int]:
    return [node["id"], *(i for child in node["children"] for i in _ids(child))]


def test_holders_list_their_certificates_with_decimal_amounts(
    api_world: ApiWorld, tree: dict[str, int]
) -> None:
    body = _get(api_world, "tier2", "/v1/certificates").json()
    assert [c["id"] for c in body["items"]] == [tree["a"]]
    assert body["items"][0]["value"] == "249999.50"
    assert body["items"][0]["parent_id"] == tree["root"]
    issuer = _get(api_world, "core", "/v1/certificates").json()
    assert {c["id"] for c in issuer["items"]} == set(tree.values())
    filtered = _get(api_world, "core", "/v1/certificates", holder_id=api_world.world.bank.id)
    assert [c["id"] for c in filtered.json()["items"]] == [tree["c"]]


def test_a_holder_sees_its_ancestors_but_not_its_cousins(
    api_world: ApiWorld, tree: dict[str, int]
) -> None:
    for ancestor in ("root", "a", "b"):
        assert _get(api_world, "tier3", f"/v1/certificates/{tree[ancestor]}").status_code == 200
    hidden = _get(api_world, "tier3", f"/v1/certificates/{tree['c']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "certificate_not_found"
    # a certificate that exists but is not yours looks exactly like one that does not exist
    missing = _get(api_world, "tier3", "/v1/certificates/999999").json()["error"]
    assert missing["code"] == hidden.json()["error"]["code"]
    assert missing["message"] == "no certificate 999999 visible to you"


def test_lineage_is_the_path_for_a_holder_and_the_tree_for_the_issuer(
    api_world: ApiWorld, tree: dict[str, int]
) -> None:
    path = _get(api_world, "tier3", f"/v1/certificates/{tree['b']}/lineage").json()
    assert _ids(path) == [tree["root"], tree["a"], tree["b"]]
    assert path["holder_id"] == api_world.world.tier1.id
    whole = _get(api_world, "core", f"/v1/certificates/{tree['b']}/lineage").json()
    assert sorted(_ids(whole)) == sorted(tree.values())
    # tier1 holds the root: it sees the transfers it made from it
    made = _get(api_world, "tier1", f"/v1/certificates/{tree['root']}/lineage").json()
    assert [child["id"] for child in made["children"]] == [tree["a"], tree["c"]]
    assert made["children"][0]["children"] == []
    assert _get(api_world, "bank", f"/v1/certificates/{tree['a']}/lineage").status_code == 404


def test_invoices_are_seen_by_their_parties_only(api_world: ApiWorld, tree: dict[str, int]) -> None:
    seller = _get(api_world, "tier1", "/v1/invoices").json()
    assert seller["total"] == 1
    invoice = seller["items"][0]
    assert invoice["status"] == "assigned"
    assert invoice["certificate_id"] == tree["root"]
    assert invoice["amount"] == "1000000.00"
    assert _get(api_world, "core", f"/v1/invoices/{invoice['key']}").status_code == 200
    assert _get(api_world, "tier2", f"/v1/invoices/{invoice['key']}").status_code == 404
    assert _get(api_world, "tier2", "/v1/invoices").json()["total"] == 0
    assert _get(api_world, "tier1", "/v1/invoices/not-a-key").status_code == 422
    assert _get(api_world, "tier1", "/v1/invoices", status="paid").status_code == 422
    confirmed = _get(api_world, "tier1", "/v1/invoices", status="confirmed").json()
    assert confirmed["total"] == 0
