"""Webhooks are no way into the operator's network, on a real node: ``scf-node start
--dev`` as its own process, configured only through its environment, as an operator
runs it. Loopback, private and link-local targets (the ledger's own JSON-RPC among them)
were once accepted and delivered to; now they are refused at registration, unless the
operator allows their network, and then a local receiver gets its signed delivery.
(``tests/api/test_webhook_targets.py`` covers every address class and the pinning in
process.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.services.webhooks import verify_signature
from nodes.runtime.dev_node import ChildNode, dev_node
from scripts.bench.rest import AMOUNT, RestMember, prepare_home
from tests.api.webhook_world import Receiver, running_receiver
from tests.security.node import wait_for

ALLOWED = "SCF_WEBHOOK_ALLOWED_NETWORKS"
KDF_ITERATIONS = 2**10  # keystores cheap to open


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ssrf") / "home"


@pytest.fixture(scope="module")
def members(home: Path) -> list[RestMember]:
    return prepare_home(home, 2, kdf_iterations=KDF_ITERATIONS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def _create(node: ChildNode, member: RestMember, url: str) -> httpx.Response:
    return httpx.post(
        f"{node.api_url}/v1/webhooks", json={"url": url}, headers=member.auth, timeout=30
    )


def _listed(node: ChildNode, member: RestMember) -> list[str]:
    answer = httpx.get(f"{node.api_url}/v1/webhooks", headers=member.auth, timeout=30)
    assert answer.status_code == 200, answer.text
    return [hook["url"] for hook in answer.json()["items"]]


def _assert_refused(node: ChildNode, member: RestMember, url: str) -> None:
    answer = _create(node, member, url)
    assert answer.status_code == 422, (url, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "webhook_target_forbidden", url
    assert ALLOWED in error["message"]


def _inside_the_node(node: ChildNode, receiver: Receiver) -> list[str]:
    """Targets inside the node's host and network: its own JSON-RPC and API by address and
    by name, the receiver on loopback, private and link-local addresses."""
    rpc_port = urlsplit(node.rpc_url).port
    return [
        f"http://127.0.0.1:{rpc_port}/",
        f"http://localhost:{rpc_port}/",  # a name that resolves to loopback
        f"http://[::1]:{rpc_port}/",
        f"http://0.0.0.0:{rpc_port}/",
        f"{node.api_url}/v1/members/me",
        receiver.url,
        "http://10.0.0.5/hook",
        "http://10.255.1.2:8545/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://169.254.1.1/hook",
    ]


def test_targets_inside_the_network_are_refused_by_default(
    home: Path, members: list[RestMember], receiver: Receiver
) -> None:
    member = members[0]
    with dev_node(home, home.parent / "strict.log", env={ALLOWED: ""}) as node:
        for url in _inside_the_node(node, receiver):
            _assert_refused(node, member, url)
        assert _listed(node, member) == []
    assert receiver.requests == []


def test_an_allowed_network_receives_signed_deliveries(
    home: Path, members: list[RestMember], receiver: Receiver
) -> None:
    member = members[1]
    with dev_node(home, home.parent / "allowing.log", env={ALLOWED: "127.0.0.0/8"}) as node:
        # only the network allowed: IPv6 loopback, private and link-local stay refused
        for url in ("http://[::1]:8545/", "http://10.0.0.5/hook", "http://169.254.169.254/"):
            _assert_refused(node, member, url)
        created = _create(node, member, receiver.url)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert _listed(node, member) == [receiver.url]

        # an event of the member: it splits its certificate
        transfer = httpx.post(
            f"{node.api_url}/v1/certificates/{member.certificate_id}/transfers",
            json={"to_member_id": member.recipient_id, "amount": AMOUNT},
            headers={**member.auth, "Idempotency-Key": "ssrf-allowed-1"},
            timeout=60,
        )
        assert transfer.status_code == 201, transfer.text
        wait_for(lambda: receiver.requests, "the local receiver gets a delivery")

    delivery = receiver.requests[0]
    assert delivery.path == urlsplit(receiver.url).path
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    assert verify_signature(
        secret,
        headers["x-scf-timestamp"],
        delivery.body,
        headers["x-scf-signature"],
        now=int(time.time()),
    )
    # the member's own split of its certificate
    child = transfer.json()["id"]
    splits = [r.json for r in receiver.requests if r.json["name"] == "CertificateSplit"]
    assert [int(e["args"]["childId"]) for e in splits] == [child], splits
    assert int(splits[0]["args"]["sourceId"]) == member.certificate_id
