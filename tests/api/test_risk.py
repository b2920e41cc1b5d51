"""GET /v1/risk/exposures, /overdue and /alerts over the real ledger and read model."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from api.readmodel.indexer import Indexer
from api.readmodel.models import CertificateRow
from api.services.alert_watch import AlertWatch, ConcentrationRule
from api.services.api_keys import issue_key
from api.services.risk import bucket_of
from api.settings import get_settings
from chain.events import EventDecoder
from tests.api.conftest import ApiWorld
from tests.api.times import iso_day, iso_instant
from tests.api.writes import stored_document
from tests.helpers import (
    DAY,
    approve_tokens,
    grant_line,
    issue_certificate,
    mint,
    now,
    split,
    travel_to,
)


@pytest.fixture(scope="module")
def risk(api_world: ApiWorld) -> ApiWorld:
    """The API world plus an auditor's key (the consortium operator)."""
    operator_id = int(
        api_world.world.consortium.members.call("memberOf", api_world.world.governor.address)
    )
    with api_world.sessions.begin() as session:
        api_world.keys["auditor"] = issue_key(session, operator_id, label="auditor").key
    return api_world


@pytest.fixture(scope="module")
def paper(risk: ApiWorld) -> dict[str, int]:
    """bank grants core a 5,000,000.00 line; core issues 1,000,000.00 to tier1, who sells
    600,000.00 of it to the bank (a split to a financier)."""
    w = risk.world
    line_id = grant_line(w, w.bank, w.core, 5_000_000_00)
    root_id = issue_certificate(w, w.core, w.tier1, 1_000_000_00, line_id=line_id)
    to_bank = split(w, w.tier1, root_id, w.bank, 600_000_00)
    risk.sync()
    return {"line_id": line_id, "root_id": root_id, "to_bank": to_bank}


def _get(risk: ApiWorld, who: str | None, path: str) -> Any:
    return risk.client.get(path, headers=risk.auth(who) if who else {})


def _alerts(risk: ApiWorld, who: str, kind: str) -> list[dict[str, Any]]:
    response = _get(risk, who, f"/v1/risk/alerts?kind={kind}")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def sync_with_share(risk: ApiWorld, share: str) -> None:
    """Index what is new with another configured concentration threshold."""
    rule = ConcentrationRule(Decimal(share), get_settings().concentration_min_holders)
    w = risk.world
    Indexer(risk.sessions, w.ledger, EventDecoder(w.consortium), alerts=AlertWatch(rule)).sync()


def _about(alerts: list[dict[str, Any]], issuer_id: int) -> list[dict[str, Any]]:
    return [a for a in alerts if a["details"]["issuer_id"] == issuer_id]


def test_exposures_per_core_enterprise_and_financier(risk: ApiWorld, paper: dict[str, int]) -> None:
    w = risk.world
    report = _get(risk, "auditor", "/v1/risk/exposures").json()
    assert report["as_of"] == iso_instant(now(w.ledger))
    cores = {c["member_id"]: c for c in report["core_enterprises"]}
    assert set(cores) == {w.core.id, w.core2.id}
    assert cores[w.core.id] == {
        "member_id": w.core.id,
        "name": w.core.name,
        "outstanding": "1000000.00",
        "live_certificates": 2,
        "repaid_unredeemed": "0.00",
        "credit_limit": "5000000.00",
        "credit_used": "1000000.00",
        "credit_available": "4000000.00",
    }
    banks = {f["member_id"]: f for f in report["financiers"]}
    assert set(banks) == {w.bank.id, w.bank2.id}
    assert banks[w.bank.id]["holdings"] == [{"issuer_id": w.core.id, "value": "600000.00"}]
    assert banks[w.bank.id]["holdings_total"] == "600000.00"
    assert (banks[w.bank.id]["credit_granted"], banks[w.bank.id]["credit_used"]) == (
        "5000000.00",
        "1000000.00",
    )
    assert banks[w.bank2.id]["holdings"] == []

    own_core = _get(risk, "core", "/v1/risk/exposures").json()
    assert own_core["core_enterprises"] == [cores[w.core.id]]
    assert own_core["financiers"] == []
    own_bank = _get(risk, "bank", "/v1/risk/exposures").json()
    assert (own_bank["core_enterprises"], own_bank["financiers"]) == ([], [banks[w.bank.id]])

    refused = _get(risk, "tier1", "/v1/risk/exposures")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert _get(risk, None, "/v1/risk/exposures").status_code == 401


def test_duplicate_invoice_attempts_raise_one_alert(risk: ApiWorld) -> None:
    w = risk.world
    body = {
        "seller_credit_code": w.tier1.credit_code,
        "invoice_code": "3100231130",
        "invoice_number": "55000001",
        "buyer_id": w.core.id,
        "amount": "80000.00",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
        "document_hash": stored_document(risk, "tier1"),
    }
    post = risk.client.post
    assert post("/v1/invoices", json=body, headers=risk.auth("tier1")).status_code == 201
    assert _alerts(risk, "auditor", "duplicate_invoice") == []
    tried_from = iso_instant(int(time.time()))
    for amount in ("79999.00", "80000.00"):  # tried twice: one alert
        again = post("/v1/invoices", json=body | {"amount": amount}, headers=risk.auth("tier1"))
        assert again.json()["error"]["details"]["error"] == "InvoiceAlreadyRegistered"

    [alert] = _alerts(risk, "auditor", "duplicate_invoice")
    assert tried_from <= alert["created_at"] <= iso_instant(int(time.time()))  # ISO sorts by time
    key = alert["details"]["invoice_key"]
    assert (alert["member_id"], alert["subject"]) == (w.tier1.id, f"invoice {key}")
    assert alert["details"] == {
        "invoice_key": key,
        "attempting_member_id": w.tier1.id,
        "first_registrant_id": w.tier1.id,
        "registered_amount": "80000.00",
        "attempted_amount": "79999.00",
    }
    assert _alerts(risk, "tier1", "duplicate_invoice") == [alert]  # about itself
    assert _alerts(risk, "core", "duplicate_invoice") == []


def test_value_returning_to_an_earlier_holder_is_a_circular_transfer(
    risk: ApiWorld, paper: dict[str, int]
) -> None:
    w = risk.world

    def transfer(who: str, certificate_id: int, to: int, amount: str) -> int:
        response = risk.client.post(
            f"/v1/certificates/{certificate_id}/transfers",
            json={"to_member_id": to, "amount": amount},
            headers=risk.auth(who),
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    to_tier2 = transfer("tier1", paper["root_id"], w.tier2.id, "100000.00")
    to_tier3 = transfer("tier2", to_tier2, w.tier3.id, "40000.00")  # onwards: fine
    assert _alerts(risk, "auditor", "circular_transfer") == []
    back = transfer("tier3", to_tier3, w.tier1.id, "10000.00")  # tier1 → tier2 → tier3 → tier1

    [alert] = _alerts(risk, "auditor", "circular_transfer")
    assert alert["member_id"] == w.tier1.id
    details = alert["details"]
    assert details["certificate_id"] == back
    assert (details["from_member_id"], details["returned_to_member_id"]) == (
        w.tier3.id,
        w.tier1.id,
    )
    assert details["holder_path"] == [w.tier1.id, w.tier2.id, w.tier3.id, w.tier1.id]
    assert details["certificate_path"] == [paper["root_id"], to_tier2, to_tier3, back]
    assert details["value"] == "10000.00"
    assert _alerts(risk, "tier1", "circular_transfer") == [alert]
    assert _alerts(risk, "tier3", "circular_transfer") == []
    assert _alerts(risk, "auditor", "circular_transfer") == [alert]  # found once


def test_concentration_above_the_configured_share(risk: ApiWorld, paper: dict[str, int]) -> None:
    w = risk.world
    # core2's paper: tier2 keeps 65 %, bank2 holds 35 %
    root_id = issue_certificate(
        w, w.core2, w.tier2, 100_000_00, line_id=grant_line(w, w.bank2, w.core2, 100_000_00)
    )
    split(w, w.tier2, root_id, w.bank2, 35_000_00)
    sync_with_share(risk, "0.7")  # indexed under a 70 % threshold: no finding
    assert _about(_alerts(risk, "auditor", "concentration"), w.core2.id) == []

    split(w, w.tier2, root_id, w.bank2, 20_000_00)  # bank2 now holds 55 %, over the default
    risk.sync()
    [alert] = _about(_alerts(risk, "auditor", "concentration"), w.core2.id)
    assert alert["member_id"] == w.bank2.id
    assert (alert["severity"], alert["cleared_at"]) == ("medium", None)
    assert alert["details"] == {
        "issuer_id": w.core2.id,
        "holder_id": w.bank2.id,
        "holder_value": "55000.00",
        "issuer_outstanding": "100000.00",
        "share": "0.5500",
        "threshold": "0.5",
    }
    assert _about(_alerts(risk, "auditor", "concentration"), w.core2.id) == [alert]  # once
    assert _about(_alerts(risk, "tier2", "concentration"), w.core2.id) == []
    # the bank's 60 % of core's paper was flagged for the bank, which sees it
    [of_core] = _about(_alerts(risk, "bank", "concentration"), w.core.id)
    assert (of_core["member_id"], of_core["details"]["share"]) == (w.bank.id, "0.6000")


def test_alerts_page_and_filter(risk: ApiWorld, paper: dict[str, int]) -> None:
    everything = _get(risk, "auditor", "/v1/risk/alerts?limit=500").json()
    assert everything["total"] == len(everything["items"]) >= 3
    assert {a["kind"] for a in everything["items"]} >= {"duplicate_invoice", "circular_transfer"}
    ids = [a["id"] for a in everything["items"]]
    assert ids == sorted(ids)
    page = _get(risk, "auditor", "/v1/risk/alerts?limit=1&offset=1").json()
    assert (page["total"], [a["id"] for a in page["items"]]) == (everything["total"], ids[1:2])
    for bad in ("?kind=fraud", "?limit=0", "?limit=501", "?offset=-1"):
        response = _get(risk, "auditor", "/v1/risk/alerts" + bad)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")
    assert _get(risk, None, "/v1/risk/alerts").status_code == 401
    mine = _get(risk, "bank", "/v1/risk/alerts").json()["items"]
    assert all(a["member_id"] == risk.world.bank.id for a in mine)


def test_buckets_by_days_past_maturity() -> None:
    assert bucket_of(-1, repaid=False) == "not_due"
    assert [bucket_of(d, repaid=False) for d in (0, 30, 31, 60, 61, 90, 91, 5000)] == [
        "overdue_0_30",
        "overdue_0_30",
        "overdue_31_60",
        "overdue_31_60",
        "overdue_61_90",
        "overdue_61_90",
        "overdue_over_90",
        "overdue_over_90",
    ]
    assert bucket_of(200, repaid=True) == "repaid_unredeemed"


def test_aging_follows_the_ledger_clock(risk: ApiWorld, paper: dict[str, int]) -> None:
    """Runs last in this module: it moves the ledger's time forward."""
    w = risk.world
    line_id = grant_line(w, w.bank, w.core, 3_000_000_00, expires_in=400 * DAY)
    soon = issue_certificate(w, w.core, w.tier3, 1_000_00, line_id=line_id, maturity_in=10 * DAY)
    later = issue_certificate(w, w.core, w.tier3, 2_000_00, line_id=line_id, maturity_in=60 * DAY)
    paid = issue_certificate(w, w.core, w.tier3, 3_000_00, line_id=line_id, maturity_in=20 * DAY)
    risk.sync()

    def aging(who: str, query: str = "") -> dict[str, Any]:
        response = _get(risk, who, "/v1/risk/overdue" + query)
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report

    before = aging("tier3")
    assert before["as_of"] == iso_instant(now(w.ledger))
    assert {soon, later, paid} <= {i["certificate_id"] for i in before["items"]}
    assert {i["bucket"] for i in before["items"]} == {"not_due"}
    soon_item = next(i for i in before["items"] if i["certificate_id"] == soon)
    assert soon_item["days_past_maturity"] == -10
    assert (soon_item["repaid"], soon_item["overdue"]) == (False, False)
    with risk.sessions() as session:
        soon_maturity = session.get_one(CertificateRow, soon).maturity  # the ledger's seconds
    assert soon_item["maturity"] == iso_day(soon_maturity)

    # 45 and a half days after the first maturity; the core enterprise repays one root
    travel_to(w.ledger, soon_maturity + 45 * DAY + DAY // 2)
    mint(w, w.bank, w.core, 3_000_00)
    approve_tokens(w, w.core, w.consortium.maturity.address, 3_000_00)
    w.consortium.maturity.transact(w.core.signer, "repay", paid)
    w.consortium.maturity.transact(w.tier3.signer, "markOverdue", soon)
    risk.sync()

    after = aging("tier3")
    assert after["as_of"] == iso_instant(now(w.ledger))
    by_id = {i["certificate_id"]: i for i in after["items"]}
    assert (by_id[soon]["bucket"], by_id[soon]["days_past_maturity"]) == ("overdue_31_60", 45)
    assert (by_id[soon]["overdue"], by_id[soon]["repaid"]) == (True, False)
    assert (by_id[later]["bucket"], by_id[later]["days_past_maturity"]) == ("not_due", -5)
    assert (by_id[paid]["bucket"], by_id[paid]["repaid"]) == ("repaid_unredeemed", True)
    buckets = {b["bucket"]: b for b in after["buckets"]}
    assert list(buckets) == [
        "not_due",
        "overdue_0_30",
        "overdue_31_60",
        "overdue_61_90",
        "overdue_over_90",
        "repaid_unredeemed",
    ]
    assert buckets["overdue_31_60"] == {
        "bucket": "overdue_31_60",
        "certificates": 1,
        "value": "1000.00",
    }
    assert buckets["repaid_unredeemed"]["value"] == "3000.00"

    only = aging("tier3", "?bucket=overdue_31_60")
    assert [i["certificate_id"] for i in only["items"]] == [soon]
    assert only["total"] == 1
    assert only["buckets"] == after["buckets"]

    # another member sees none of tier3's paper; the issuer and the auditor see it
    assert not {soon, later, paid} & {i["certificate_id"] for i in aging("tier2")["items"]}
    assert {soon, later, paid} <= {i["certificate_id"] for i in aging("core")["items"]}
    auditor_ids = {i["certificate_id"] for i in aging("auditor", "?limit=500")["items"]}
    assert {soon, later, paid, paper["to_bank"]} <= auditor_ids

    # the root the bank's piece belongs to matured in 90 days: still due in 35
    bank_item = next(i for i in aging("bank")["items"] if i["certificate_id"] == paper["to_bank"])
    assert bank_item["bucket"] == "not_due"
    # exposures move with the repayment
    core = next(
        c
        for c in _get(risk, "core", "/v1/risk/exposures").json()["core_enterprises"]
        if c["member_id"] == w.core.id
    )
    assert core["repaid_unredeemed"] == "3000.00"

    for bad in ("?bucket=late", "?limit=0", "?offset=-1"):
        assert _get(risk, "tier3", "/v1/risk/overdue" + bad).status_code == 422
    assert _get(risk, None, "/v1/risk/overdue").status_code == 401
