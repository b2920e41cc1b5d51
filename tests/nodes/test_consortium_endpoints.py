"""Which etcd endpoints a consortium node takes: plain http on loopback only, https with
the node's certificate from the consortium CA (docs/decisions/0023)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.errors import ConfigurationError, ScfError
from nodes.consortium.descriptor import (
    ConsortiumSettings,
    PlainEtcdBeyondLoopback,
    parse_endpoints,
    uses_tls,
)
from nodes.consortium.stack import etcd_tls
from nodes.home import NodeHome


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:2379",
        "http://localhost:2379/,http://127.0.0.2:2379",
        "http://[::1]:2379",
        "https://etcd-a.example.org:2379,https://10.0.0.2:2379",
    ],
)
def test_loopback_http_and_any_https_are_taken(given: str) -> None:
    endpoints = parse_endpoints(given)
    assert all(not e.endswith("/") for e in endpoints)
    assert uses_tls(endpoints) == given.startswith("https")


@pytest.mark.parametrize(
    "given",
    ["http://10.0.0.2:2379", "http://etcd.example.org:2379", "http://0.0.0.0:2379"],
)
def test_plain_http_beyond_loopback_is_refused_naming_the_rule(given: str) -> None:
    with pytest.raises(PlainEtcdBeyondLoopback, match=r"plain http only on 127\.0\.0\.1"):
        parse_endpoints(given)


def test_a_mix_and_no_url_are_refused() -> None:
    with pytest.raises(ScfError, match="not a mix"):
        parse_endpoints("https://10.0.0.2:2379,http://127.0.0.1:2379")
    with pytest.raises(ScfError, match=r"http\(s\) URLs"):
        parse_endpoints("etcd:2379")


def test_a_node_reaches_https_etcd_only_with_its_certificate(tmp_path: Path) -> None:
    home = NodeHome(tmp_path)
    assert etcd_tls(home, ConsortiumSettings(["http://127.0.0.1:2379"]), "x") is None
    # https endpoints mean TLS even where node.json says nothing of it
    with pytest.raises(ConfigurationError, match="install-certificate"):
        etcd_tls(home, ConsortiumSettings(["https://10.0.0.2:2379"]), "x")
    # a hand-edited node.json is held to the same rule as init and join
    with pytest.raises(PlainEtcdBeyondLoopback):
        etcd_tls(home, ConsortiumSettings(["http://10.0.0.2:2379"]), "x")
