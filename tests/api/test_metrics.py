"""GET /metrics: Prometheus text, unauthenticated, by route template, ledger and indexer."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ApiWorld
from tests.api.writes import invoice_body, post
from tests.helpers import issue_certificate, mint


def _scrape(api_world: ApiWorld) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api_world.client.get("/metrics")  # no API key: operators scrape it
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], **labels: str
) -> float:
    return samples.get(("scf_http_requests_total", tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_and_status(api_world: ApiWorld) -> None:
    w = api_world.world
    certificate = issue_certificate(w, w.core, w.tier1, 1_000_00)
    api_world.sync()
    before = _scrape(api_world)
    for _ in range(2):
        found = api_world.client.get(
            f"/v1/certificates/{certificate}", headers=api_world.auth("tier1")
        )
        assert found.status_code == 200
    assert api_world.client.get("/v1/certificates/1", headers=api_world.auth("tier3")).status_code
    assert api_world.client.get("/no/such/path").status_code == 404
    body = invoice_body(api_world)
    assert post(api_world, "tier1", "/v1/invoices", body, key="metrics-1").status_code == 201
    assert post(api_world, "tier1", "/v1/invoices", body, key="metrics-1").status_code == 201
    after = _scrape(api_world)

    template = "/v1/certificates/{certificate_id}"
    ok = {"method": "GET", "route": template, "status": "200"}
    assert _requests(after, **ok) - _requests(before, **ok) == 2
    missing = {"method": "GET", "route": template, "status": "404"}
    assert _requests(after, **missing) - _requests(before, **missing) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _requests(after, **unmatched) - _requests(before, **unmatched) == 1
    # the replay is answered before routing and still counted under its route
    created = {"method": "POST", "route": "/v1/invoices", "status": "201"}
    assert _requests(after, **created) - _requests(before, **created) == 2
    assert not any(f"/v1/certificates/{certificate}" in str(key) for key in after)
    latency = ("scf_http_request_duration_seconds_count", (("method", "GET"), ("route", template)))
    assert after[latency] >= 3


def test_transactions_sent_count_what_the_writer_signed(api_world: ApiWorld) -> None:
    sent = ("scf_transactions_sent_total", (("function", "registerInvoice"),))
    reverted = ("scf_transactions_reverted_total", (("function", "registerInvoice"),))
    before = _scrape(api_world)
    body = invoice_body(api_world)
    assert post(api_world, "tier1", "/v1/invoices", body, key="metrics-2").status_code == 201
    assert post(api_world, "tier1", "/v1/invoices", body, key="metrics-2").status_code == 201
    # the duplicate is sent and reverts in its block (the test ledger does not rehearse)
    assert post(api_world, "tier1", "/v1/invoices", body).status_code == 409
    after = _scrape(api_world)
    assert after[sent] - before.get(sent, 0.0) == 2
    assert after[reverted] - before.get(reverted, 0.0) == 1


def test_ledger_head_and_indexer_lag(api_world: ApiWorld) -> None:
    w = api_world.world
    api_world.sync()
    synced = _scrape(api_world)
    head = w.ledger.block_number()
    assert synced[("scf_ledger_head_block", ())] == head
    assert synced[("scf_indexer_lag_blocks", ())] == 0
    assert synced[("scf_webhook_deliveries_pending", ())] >= 0
    mint(w, w.bank, w.bank, 1_00)  # a block the read model has not seen yet
    mint(w, w.bank, w.bank, 1_00)
    behind = _scrape(api_world)
    assert behind[("scf_ledger_head_block", ())] == w.ledger.block_number() == head + 2
    assert behind[("scf_indexer_lag_blocks", ())] == 2
    api_world.sync()
    assert _scrape(api_world)[("scf_indexer_lag_blocks", ())] == 0


def test_openmetrics_when_the_scraper_asks_for_it(api_world: ApiWorld) -> None:
    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
    response = api_world.client.get("/metrics", headers=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
