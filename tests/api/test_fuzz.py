"""schemathesis over /openapi.json: whatever the input, no 5xx and answers match the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.schemas import BaseSchema

from tests.api.conftest import ApiWorld


@pytest.fixture(scope="module")
def api_schema(api_world: ApiWorld) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", api_world.client.app)


# The event stream answers for as long as the client listens: tests/api/test_events.py
# covers it with bounded reads; a fuzzer's open-ended request would never end.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/events")


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_schema_conformance(
    case: schemathesis.Case[Any], api_world: ApiWorld
) -> None:
    response = case.call(headers=api_world.auth("tier1"))
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
