"""Dates ISO 8601 (docs/api.md, 2.2): every time the API answers is a UTC day or a UTC instant.

The flows that show each field with real values are tested with their routes (invoices,
certificates, financing, risk, webhooks …); here: the OpenAPI contract as a whole, and
the two conversions every route uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.schemas.common import UtcDateTime
from api.wire import utc_datetime, utc_day, utc_midnight
from chain.backends import open_ledger
from tests.api.times import iso_instant

# The days the contracts store as 00:00 UTC: answered as "2027-01-31".
DAY_FIELDS = {
    ("InvoicePublic", "issue_date"),
    ("InvoicePublic", "due_date"),
    ("CertificatePublic", "maturity"),
    ("LineageNode", "maturity"),
    ("FinancingQuote", "maturity"),  # the certificate's maturity day it prices to
    ("RootPublic", "maturity"),
    ("AgedCertificatePublic", "maturity"),
    ("CreditLinePublic", "expires_at"),
}
TIME_SUFFIXES = ("_at", "_date", "_time", "_on")
TIME_NAMES = {"maturity", "as_of", "deadline"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('times') / 'api.db'}")
    migrate(engine)
    yield create_app(open_ledger("tester"), session_factory(engine)).openapi()
    engine.dispose()


def _string_format(schema: dict[str, Any]) -> str | None:
    """The ``format`` of a string property, also when it may be null (``anyOf``)."""
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    if len(options) != 1 or options[0].get("type") != "string":
        return None
    found: str | None = options[0].get("format")
    return found


def _time_properties(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (model, name): prop
        for model, schema in openapi["components"]["schemas"].items()
        for name, prop in schema.get("properties", {}).items()
        if name.endswith(TIME_SUFFIXES) or name in TIME_NAMES
    }


def _response_models(openapi: dict[str, Any]) -> set[str]:
    """Component names reachable from any response body, however deeply nested."""
    schemas = openapi["components"]["schemas"]
    pending = [
        content["schema"]
        for path in openapi["paths"].values()
        for operation in path.values()
        for response in operation.get("responses", {}).values()
        for content in response.get("content", {}).values()
        if "schema" in content
    ]
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen


def test_every_time_in_a_response_is_an_iso_day_or_instant(openapi: dict[str, Any]) -> None:
    answered = _response_models(openapi)
    shown = {
        key: _string_format(prop)
        for key, prop in _time_properties(openapi).items()
        if key[0] in answered
    }
    assert set(shown) >= DAY_FIELDS
    wrong = {
        key: found
        for key, found in shown.items()
        if found != ("date" if key in DAY_FIELDS else "date-time")
    }
    assert wrong == {}, "times answered as something else than an ISO day / instant"
    # the usual suspects, by name: nothing answers Unix seconds any more
    for key in [
        ("FinancingPublic", "expires_at"),
        ("DocumentPublic", "created_at"),
        ("ExposureReport", "as_of"),
        ("AgingReport", "as_of"),
        ("AlertPublic", "created_at"),
        ("OperationPublic", "completed_at"),
        ("DeliveryPublic", "next_attempt_at"),
        ("ProposalPublic", "deadline"),
        ("HealthPublic", "head_time"),
    ]:
        assert shown[key] == "date-time", key


def test_requests_keep_taking_iso_days_and_offsets(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["InvoiceCreate"]["properties"]["due_date"]["format"] == "date"
    assert schemas["CertificateCreate"]["properties"]["maturity"]["format"] == "date"
    assert schemas["CreditLineCreate"]["properties"]["expires_on"]["format"] == "date"
    assert schemas["FinancingCreate"]["properties"]["expires_at"]["format"] == "date-time"


class _Answer(BaseModel):
    at: UtcDateTime


def test_an_instant_is_answered_in_utc_with_z() -> None:
    beijing = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 26, 1, 12, 55, tzinfo=beijing)
    assert _Answer(at=moment).model_dump_json() == '{"at":"2026-11-25T17:12:55Z"}'
    assert _Answer(at=utc_datetime(1_795_627_215)).model_dump(mode="json") == {
        "at": iso_instant(1_795_627_215)
    }
    with pytest.raises(ValidationError, match="no time zone"):
        _Answer(at=datetime(2026, 11, 25, 17, 12, 55))  # naive: ambiguous, never answered


@pytest.mark.parametrize(
    "day", [date(1970, 1, 1), date(2027, 1, 31), date(2028, 2, 29), date(2099, 12, 31)]
)
def test_a_stored_day_reads_back_as_the_day_it_was_given(day: date) -> None:
    assert utc_day(utc_midnight(day)) == day
    assert utc_day(utc_midnight(day) + 86_399) == day  # any time of that UTC day
    assert utc_datetime(utc_midnight(day)) == datetime(day.year, day.month, day.day, tzinfo=UTC)
