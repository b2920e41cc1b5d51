"""Helpers of the idempotency, operations, metrics and concurrency tests."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from api.app import create_app
from api.readmodel.indexer import Indexer
from api.services.custody import Custody
from api.services.documents import DocumentVault
from api.services.writer import LedgerWriter
from chain.events import EventDecoder
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.api.conftest import ApiWorld

DOC = "0x" + "5a" * 32
_numbers = itertools.count(1)
_documents = itertools.count(1)
T = TypeVar("T")


def stored_document(api_world: ApiWorld, owner: str, *parties: str) -> str:
    """The hash of a new document ``owner`` stored on the platform, readable by ``parties``
    (names in ``World``): what invoices and financing requests must anchor."""
    content = f"document {next(_documents)} of {owner} in {id(api_world)}".encode()
    body = {
        "content": base64.b64encode(content).decode(),
        "filename": "document.txt",
        "party_ids": [getattr(api_world.world, p).id for p in parties],
    }
    response = api_world.client.post("/v1/documents", json=body, headers=api_world.auth(owner))
    assert response.status_code == 201, response.text
    digest: str = response.json()["hash"]
    return digest


_agreements: dict[tuple[int, str, str], str] = {}


def agreement(api_world: ApiWorld, requester: str = "tier3", financier: str = "bank") -> str:
    """The hash of a financing agreement ``requester`` stored with ``financier`` as a party
    (one per pair and API world): what a financing request and its approval name."""
    pair = (id(api_world), requester, financier)
    if pair not in _agreements:
        _agreements[pair] = stored_document(api_world, requester, financier)
    return _agreements[pair]


def approval(api_world: ApiWorld, rate_bps: int, **pair: str) -> dict[str, Any]:
    """The body of an approval at ``rate_bps`` under ``agreement(api_world, **pair)``."""
    return {"rate_bps": rate_bps, "agreement_hash": agreement(api_world, **pair)}


def invoice_body(api_world: ApiWorld, seller: str = "tier1", **changes: Any) -> dict[str, Any]:
    """A new invoice of ``seller`` to the core enterprise (a fresh number each call), its
    document stored on the platform."""
    body = {
        "invoice_code": "5100231130",
        "invoice_number": f"{70_000_000 + next(_numbers)}",
        "buyer_id": api_world.world.core.id,
        "amount": "1000.00",
        "issue_date": "2026-11-01",
        "due_date": "2027-02-01",
    }
    if "document_hash" not in changes:
        body["document_hash"] = stored_document(api_world, seller, "core")
    return body | changes


def post(
    api_world: ApiWorld,
    who: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    headers = api_world.auth(who) | ({"Idempotency-Key": key} if key is not None else {})
    response: httpx.Response = api_world.client.post(
        path, json=body, headers=headers, params=params
    )
    return response


def sent_count(api_world: ApiWorld, who: str) -> int:
    """Transactions the ledger has mined from ``who``'s account."""
    member = getattr(api_world.world, who)
    return api_world.world.ledger.get_transaction_count(member.address, "latest")


def wait_for(condition: Callable[[], T | None], timeout: float = 30.0) -> T:
    """The first truthy value of ``condition()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


def finished_operation(api_world: ApiWorld, who: str, operation_id: str) -> dict[str, Any]:
    """GET /v1/operations/{id} once it is no longer pending."""

    def done() -> dict[str, Any] | None:
        response = api_world.client.get(
            f"/v1/operations/{operation_id}", headers=api_world.auth(who)
        )
        assert response.status_code == 200, response.text
        operation: dict[str, Any] = response.json()
        return None if operation["status"] == "pending" else operation

    return wait_for(done)


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on as many threads, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def second_app(api_world: ApiWorld) -> FastAPI:
    """Another API process over the same database, keys and transaction store (a restart)."""
    home = api_world.home
    assert home is not None
    world = api_world.world
    decoder = EventDecoder(world.consortium)
    txm = TransactionManager(world.ledger, TxStore(home / "tx.db"))
    custody = Custody(Path(home) / "keys", passphrase="test passphrase")
    writer = LedgerWriter(txm, custody, Indexer(api_world.sessions, world.ledger, decoder))
    return create_app(
        world.ledger,
        api_world.sessions,
        consortium=world.consortium,
        writer=writer,
        document_vault=DocumentVault.open(home / "keys" / "documents.key"),
    )
