"""Forwarded headers are believed only from the proxies the operator names.

Applications are rate-limited per client address; a caller that could set the address
it is counted under with ``X-Forwarded-For`` would have no limit at all.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from nodes.runtime.service import proxy_options


async def client_address(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse(Request(scope).client.host)  # type: ignore[union-attr]
    await response(scope, receive, send)


def _seen_address(trusted_proxies: str, peer: str, forwarded_for: str) -> str:
    """The client address the app sees, served through uvicorn's own wrapping."""
    config = uvicorn.Config(client_address, **proxy_options(trusted_proxies))
    config.load()
    transport = httpx.ASGITransport(config.loaded_app, client=(peer, 40000))

    async def get() -> str:
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            response = await client.get("/", headers={"X-Forwarded-For": forwarded_for})
            return response.text

    return asyncio.run(get())


@pytest.mark.parametrize("peer", ["127.0.0.1", "10.1.2.3"])
def test_by_default_no_caller_poses_as_another_address(peer: str) -> None:
    assert _seen_address("", peer, forwarded_for="203.0.113.9") == peer


def test_a_named_proxy_passes_on_its_clients_address() -> None:
    assert _seen_address("10.1.2.3", "10.1.2.3", forwarded_for="203.0.113.9") == "203.0.113.9"


def test_anyone_else_is_taken_at_its_own_address_even_beside_a_named_proxy() -> None:
    assert _seen_address("10.1.2.3", "127.0.0.1", forwarded_for="203.0.113.9") == "127.0.0.1"
