"""What the financier named in a pending financing request may read to price it (the
certificate, its path to the core enterprise, a quote to its maturity) — and nobody else,
and nothing it may act on; one request by id for its parties; a certificate with its
root's face value and standing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.services.api_keys import issue_key
from tests.api.conftest import ApiWorld
from tests.api.writes import agreement, stored_document
from tests.helpers import issue_certificate, mint, split

FACE = 300_000_00


@pytest.fixture(scope="module")
def world(api_world: ApiWorld) -> ApiWorld:
    """bank2 (a financier named in nothing) signs in with a key of its own."""
    with api_world.sessions.begin() as session:
        api_world.keys["bank2"] = issue_key(session, api_world.world.bank2.id, label="bank2").key
    return api_world


@pytest.fixture
def held(world: ApiWorld) -> int:
    """A certificate of 100,000.00 split to tier 3 off core's root to tier 2."""
    w = world.world
    root = issue_certificate(w, w.core, w.tier2, FACE)
    child = split(w, w.tier2, root, w.tier3, 100_000_00)
    world.sync()
    return child


def _get(world: ApiWorld, who: str, path: str, **params: Any) -> Any:
    return world.client.get(path, headers=world.auth(who), params=params)


def _post(world: ApiWorld, who: str, path: str, body: Any = None) -> Any:
    return world.client.post(path, json=body, headers=world.auth(who))


def _ask(world: ApiWorld, certificate: int) -> dict[str, Any]:
    """tier 3 asks the bank to discount 40,000.00 of ``certificate``."""
    now = int(world.world.ledger.get_block("latest")["timestamp"])
    body = {
        "certificate_id": certificate,
        "financier_id": world.world.bank.id,
        "amount": "40000.00",
        "max_rate_bps": 500,
        "agreement_hash": agreement(world),
        "expires_at": (datetime.fromtimestamp(now, UTC) + timedelta(days=3)).isoformat(),
    }
    created = _post(world, "tier3", "/v1/financing-requests", body)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


def _reads(world: ApiWorld, who: str, certificate: int) -> list[int]:
    """The statuses of the three reads a financier prices a request with."""
    quote = {"amount": "40000.00", "rate_bps": 500, "certificate_id": certificate}
    return [
        _get(world, who, f"/v1/certificates/{certificate}").status_code,
        _get(world, who, f"/v1/certificates/{certificate}/lineage").status_code,
        _get(world, who, "/v1/financing-requests/quote", **quote).status_code,
    ]


def test_the_named_financier_reads_what_it_prices_a_pending_request_with(
    world: ApiWorld, held: int
) -> None:
    assert _reads(world, "bank", held) == [404, 404, 404]  # before it is asked
    _ask(world, held)
    assert _reads(world, "bank", held) == [200, 200, 200]
    certificate = _get(world, "bank", f"/v1/certificates/{held}").json()
    assert (certificate["value"], certificate["locked"]) == ("100000.00", "40000.00")
    quote = {"amount": "40000.00", "rate_bps": 500, "certificate_id": held}
    by_bank = _get(world, "bank", "/v1/financing-requests/quote", **quote).json()
    by_holder = _get(world, "tier3", "/v1/financing-requests/quote", **quote).json()
    assert by_bank == by_holder
    # the lineage is the path from the root to the certificate: not tier 2's other branches
    lineage = _get(world, "bank", f"/v1/certificates/{held}/lineage").json()
    assert [c["id"] for c in lineage["children"]] == [held]
    assert lineage["children"][0]["children"] == []


def test_nobody_else_reads_it_and_the_financier_may_not_act_on_it(
    world: ApiWorld, held: int
) -> None:
    _ask(world, held)
    assert _reads(world, "bank2", held) == [404, 404, 404]  # a financier not named
    assert _reads(world, "tier1", held) == [404, 404, 404]
    # reading is not holding: a write on the certificate is refused as unseen
    transfer = {"to_member_id": world.world.bank.id, "amount": "1.00"}
    assert _post(world, "bank", f"/v1/certificates/{held}/transfers", transfer).status_code == 404
    assert _post(world, "bank", f"/v1/certificates/{held}/redeem").status_code == 404


def test_the_financier_reads_it_no_more_once_the_request_is_decided(
    world: ApiWorld, held: int
) -> None:
    asked = _ask(world, held)
    reasons = stored_document(world, "bank", "tier3")
    rejected = _post(
        world, "bank", f"/v1/financing-requests/{asked['id']}/reject", {"reason_hash": reasons}
    )
    assert rejected.status_code == 200, rejected.text
    assert _reads(world, "bank", held) == [404, 404, 404]


def test_a_financing_request_is_read_by_its_parties_only(world: ApiWorld, held: int) -> None:
    asked = _ask(world, held)
    path = f"/v1/financing-requests/{asked['id']}"
    for party in ("tier3", "bank"):
        answer = _get(world, party, path)
        assert answer.status_code == 200, answer.text
        assert answer.json() == asked
    for outsider in ("bank2", "tier2", "core"):
        refused = _get(world, outsider, path)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "financing_request_not_found"
    assert _get(world, "tier3", "/v1/financing-requests/999999").status_code == 404
    assert _get(world, "tier3", "/v1/financing-requests/0").status_code == 422
    assert world.client.get(path).status_code == 401


def test_a_certificate_shows_its_roots_face_value_and_whether_it_is_repaid(
    world: ApiWorld, held: int
) -> None:
    w = world.world
    shown = _get(world, "tier3", f"/v1/certificates/{held}").json()
    assert (shown["value"], shown["face_value"]) == ("100000.00", "300000.00")
    assert (shown["repaid"], shown["overdue"]) == (False, False)
    mint(w, w.bank, w.core, FACE)
    world.sync()
    repaid = _post(world, "core", "/v1/repayments", {"root_id": shown["root_id"]})
    assert repaid.status_code == 201, repaid.text
    for who, certificate in (("tier3", held), ("core", shown["root_id"])):
        after = _get(world, who, f"/v1/certificates/{certificate}").json()
        assert (after["face_value"], after["repaid"]) == ("300000.00", True)
