"""A request is authenticated once, however many layers need its member: the body limits
(a write's credentials before its body), the idempotency middleware (a key's scope) and
the route (``api.authentication``). Counted as the statements that look an API key up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from api.readmodel.database import engine_of
from tests.api.conftest import ApiWorld

NO_SUCH_INVOICE = "0x" + "ab" * 32
DISPUTE = {"reason_hash": "0x" + "cd" * 32}


@contextmanager
def key_lookups(api_world: ApiWorld) -> Iterator[list[str]]:
    """The SQL statements that read the API key table while the block runs."""
    engine = engine_of(api_world.sessions)
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_read_looks_its_key_up_once(api_world: ApiWorld) -> None:
    with key_lookups(api_world) as lookups:
        response = api_world.client.get("/v1/members/me", headers=api_world.auth("tier1"))
    assert response.status_code == 200
    assert len(lookups) == 1


@pytest.mark.parametrize("keyed", [False, True])
def test_a_write_with_a_body_looks_its_key_up_once(api_world: ApiWorld, keyed: bool) -> None:
    """Body limits, the idempotency middleware (with a key) and the route: one lookup."""
    headers = api_world.auth("tier1") | ({"Idempotency-Key": f"once-body-{keyed}"} if keyed else {})
    with key_lookups(api_world) as lookups:
        response = api_world.client.post(
            f"/v1/invoices/{NO_SUCH_INVOICE}/dispute", json=DISPUTE, headers=headers
        )
    assert response.status_code == 404, response.text  # the route ran, as the member
    assert len(lookups) == 1


def test_a_keyed_write_without_a_body_looks_its_key_up_once(api_world: ApiWorld) -> None:
    """The idempotency middleware and the route: one lookup."""
    headers = api_world.auth("tier1") | {"Idempotency-Key": "once-no-body"}
    with key_lookups(api_world) as lookups:
        response = api_world.client.post(f"/v1/invoices/{NO_SUCH_INVOICE}/confirm", headers=headers)
    assert response.status_code == 404, response.text
    assert len(lookups) == 1


@pytest.mark.parametrize("body", [None, DISPUTE])
def test_a_wrong_key_is_refused_after_one_lookup(
    api_world: ApiWorld, body: dict[str, str] | None
) -> None:
    """The refusal is kept as well: the route answers it without looking again."""
    headers = {"Authorization": "Bearer scf_not-a-key", "Idempotency-Key": "once-refused"}
    path = f"/v1/invoices/{NO_SUCH_INVOICE}/" + ("dispute" if body else "confirm")
    with key_lookups(api_world) as lookups:
        response = api_world.client.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert len(lookups) == 1
