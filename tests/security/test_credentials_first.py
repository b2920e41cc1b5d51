"""A stranger's write body is never read: against a real node, a client that declares or
streams a large body and sends only its headers and a few KB is answered 401 (or 413)
before it sends the rest, so the API never holds it. (The idempotency middleware once
read every POST body whole before anything checked who sent it: a 300 MB chunked POST
took the API from 164 MB to 761 MB, and a second to 1,365 MB.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nodes.runtime.dev_node import ChildNode, dev_node
from tests.security.node import chunked_post, declared_post

MB = 1024 * 1024
CHUNK = b" " * 65536
FEW_KB = b'{"content": "' + b"A" * 4096


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("credentials-first") / "home"


@pytest.fixture(scope="module")
def node(home: Path) -> Iterator[ChildNode]:
    with dev_node(home, home.parent / "node.log") as running:
        yield running


@pytest.fixture(scope="module")
def operator_key(node: ChildNode, home: Path) -> str:
    return (home / "operator-api-key").read_text().strip()


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/webhooks", "/v1/nowhere"])
def test_a_stranger_is_answered_before_it_sends_its_body(node: ChildNode, path: str) -> None:
    # within every limit (documents take ~14 MB): only the credentials can refuse it, and
    # the answer comes while the client has sent a few KB of what it declared
    for headers in ({}, {"Authorization": "Bearer scf_forged"}):
        status, answer = declared_post(node.api_url, path, 900_000, headers, first=FEW_KB)
        assert (status, answer["error"]["code"]) == (401, "unauthenticated"), headers


def test_a_declared_300_mb_body_is_refused_before_it_is_sent(
    node: ChildNode, operator_key: str
) -> None:
    for headers in ({}, {"Authorization": f"Bearer {operator_key}"}):
        status, answer = declared_post(
            node.api_url, "/v1/documents", 300 * MB, headers, first=FEW_KB
        )
        assert (status, answer["error"]["code"]) == (413, "payload_too_large"), headers


def test_a_strangers_chunked_body_is_not_read(node: ChildNode) -> None:
    status, answer, sent = chunked_post(node.api_url, "/v1/documents", CHUNK, 300 * MB)
    assert (status, answer["error"]["code"]) == (401, "unauthenticated")
    assert sent < 14 * MB  # answered long before the document limit, let alone 300 MB


def test_a_members_chunked_body_is_cut_off_at_the_limit(node: ChildNode, operator_key: str) -> None:
    headers = {"Authorization": f"Bearer {operator_key}", "Idempotency-Key": "chunked-member-1"}
    status, answer, sent = chunked_post(node.api_url, "/v1/webhooks", CHUNK, 300 * MB, headers)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert sent < 300 * MB
