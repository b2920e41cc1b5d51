"""Webhooks are no way into the operator's network (SSRF): loopback, private,
link-local … targets are refused at registration and at every delivery, unless the
operator allows their network; a delivery connects to the very address it checked,
under the URL's name (Host header, TLS SNI and certificate)."""

from __future__ import annotations

import datetime
import ipaddress
import random
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.services.webhook_targets import TargetPolicy, parse_networks, refusal
from api.services.webhooks import RetryPolicy, WebhookDispatcher
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.webhook_world import LOOPBACK, Hooks, Receiver, allowing, running_receiver
from tests.helpers import register_invoice

NAME = "hooks.scf.test"  # .test never resolves (RFC 6761): only the tests' resolver knows it


class Resolver:
    """A resolver the test scripts: ``answers[host]``, each call recorded."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[host]


def dispatcher(
    api_world: ApiWorld, targets: TargetPolicy, client: httpx.Client
) -> WebhookDispatcher:
    vault = node_vault(api_world.client.app)
    policy = RetryPolicy(max_attempts=3, base_seconds=10)
    return WebhookDispatcher(
        api_world.sessions, client, vault, targets, policy=policy, rng=random.Random(3)
    )


@pytest.fixture(scope="module", autouse=True)
def local_receivers_allowed(api_world: ApiWorld) -> Iterator[None]:
    """The receivers here listen on loopback: this module's operator allows it, unless a
    test says otherwise."""
    with allowing(api_world.client.app, LOOPBACK):  # type: ignore[arg-type]
        yield


@pytest.fixture
def hooks(api_world: ApiWorld) -> Iterator[Hooks]:
    """Registration through the API; the dispatcher allows loopback, as the operator of a
    node with a local receiver would. Each test's webhooks are deleted afterwards."""
    with httpx.Client(timeout=5) as client:
        local = dispatcher(api_world, TargetPolicy(parse_networks(LOOPBACK)), client)
        hooks = Hooks(api_world, local)
        hooks.settle()
        yield hooks
        hooks.clean_up()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "0.0.0.0",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.5",
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "2001:db8::1",
    ],
)
def test_addresses_outside_the_public_internet_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8545/",  # the ledger's JSON-RPC
        "http://0.0.0.0:8545/",
        "http://[::1]:8545/",
        "http://localhost:8545/",  # a name that resolves to loopback
        "http://2130706433/",  # 127.0.0.1 in one number
        "http://10.0.0.5/hook",
        "http://172.16.3.4/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:8545/",
        "http://[fe80::1]/hook",
        "http://[fd12:3456::1]/hook",
        "http://[64:ff9b::a00:5]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_registering_a_target_inside_the_network_is_refused(hooks: Hooks, url: str) -> None:
    with allowing(hooks.api_world.client.app, ""):  # type: ignore[arg-type]
        answer = hooks.post("tier1", {"url": url})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "webhook_target_forbidden"
    assert "SCF_WEBHOOK_ALLOWED_NETWORKS" in error["message"]
    assert [h for h in hooks.listed("tier1") if h["url"] == url] == []


def test_the_operator_allows_networks_explicitly(hooks: Hooks, receiver: Receiver) -> None:
    app = hooks.api_world.client.app
    private = "http://10.0.0.5/hook"
    hooks.create("tier1", receiver.url)  # the module's operator allows 127.0.0.0/8
    assert hooks.post("tier1", {"url": private}).status_code == 422  # not that one
    assert hooks.post("tier1", {"url": "http://[::1]/hook"}).status_code == 422
    with allowing(app, "10.0.0.0/24, ::1"):  # type: ignore[arg-type]
        hooks.create("tier1", private)
        hooks.create("tier1", "http://[::1]/hook")


def test_a_delivery_to_a_refused_address_is_not_sent(
    api_world: ApiWorld, hooks: Hooks, receiver: Receiver
) -> None:
    """Registered while the operator allowed loopback; now it does not: nothing goes."""
    w = api_world.world
    hook = hooks.create("tier2", receiver.url)
    with httpx.Client(timeout=5) as client:
        strict = dispatcher(api_world, TargetPolicy(), client)
        register_invoice(w, w.tier2, w.core, 12_00)
        api_world.sync()
        report = strict.dispatch_once(int(time.time()))
    assert (report.attempted, report.delivered) == (1, 0)
    assert receiver.requests == []
    (delivery,) = hooks.deliveries("tier2", hook["id"]).json()["items"]
    assert (delivery["state"], delivery["attempts"]) == ("pending", 1)
    assert "127.0.0.1" in delivery["last_error"]
    assert "loopback" in delivery["last_error"]


def test_each_attempt_resolves_once_and_connects_to_the_address_it_checked(
    api_world: ApiWorld, hooks: Hooks, receiver: Receiver
) -> None:
    """The name resolves only through the dispatcher's resolver, once per attempt; the
    request reaches that address under the name. Re-pointed at a private address (DNS
    rebinding), the next attempt sends nothing."""
    w = api_world.world
    url = f"http://{NAME}:{receiver.port}/hooks/named"
    hook = hooks.create("tier3", url)  # it does not resolve yet: accepted
    resolver = Resolver({NAME: ["127.0.0.1"]})
    with httpx.Client(timeout=5) as client:
        pinned = dispatcher(api_world, TargetPolicy(parse_networks(LOOPBACK), resolver), client)
        register_invoice(w, w.tier3, w.core, 13_00)
        api_world.sync()
        moment = int(time.time())
        assert pinned.dispatch_once(moment).delivered == 1
        assert resolver.calls == [(NAME, receiver.port)]
        (request,) = receiver.requests
        assert request.path == "/hooks/named"
        assert request.headers["Host"] == f"{NAME}:{receiver.port}"

        resolver.answers[NAME] = ["10.0.0.5"]  # re-pointed inside the network
        register_invoice(w, w.tier3, w.core, 14_00)
        api_world.sync()
        assert pinned.dispatch_once(moment).attempted == 1
    assert len(receiver.requests) == 1
    assert len(resolver.calls) == 2
    newest = hooks.deliveries("tier3", hook["id"]).json()["items"][0]
    assert newest["state"] == "pending"
    assert "10.0.0.5" in newest["last_error"]


# --- TLS: the certificate is checked for the name, not the address ------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "receiver.pem", directory / "receiver.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_an_https_delivery_presents_and_verifies_the_urls_name(
    api_world: ApiWorld, hooks: Hooks, tmp_path: Path
) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server_names: list[str | None] = []
    hosts: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w = api_world.world
    try:
        hooks.create("bank", f"https://{NAME}:{port}/hooks/tls")
        trust = ssl.create_default_context(cafile=str(cert_file))
        resolver = Resolver({NAME: ["127.0.0.1"]})
        with httpx.Client(timeout=5, verify=trust) as client:
            pinned = dispatcher(api_world, TargetPolicy(parse_networks(LOOPBACK), resolver), client)
            settlement = w.consortium.settlement
            settlement.transact(w.bank.signer, "mint", w.bank.address, 1_00, b"\7" * 32)
            api_world.sync()
            report = pinned.dispatch_once(int(time.time()))
    finally:
        server.shutdown()
        server.server_close()
    assert report.attempted == report.delivered > 0
    assert set(server_names) == {NAME}
    assert set(hosts) == {f"{NAME}:{port}"}
