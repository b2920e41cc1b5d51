"""The network descriptor, and a consortium home's settings.

The founding institution writes the descriptor (``scf-node init --consortium``, or
``init --ledger-url``); every institution that joins makes its home from it (``scf-node
join``). Its ``route`` says which kind of network it describes:

- ``etcd`` (``NetworkDescriptor``): what a node needs to rebuild the same genesis and to
  trust the same log: the chain id, the genesis parameters and hash, the contracts'
  addresses (NodeRegistry among them), the consortium CA certificate, the etcd endpoints
  and the bootstrap sealers (node ids allowed while the NodeRegistry allows no node;
  ``chain.consortium.allow_list``).
- ``rpc`` (``ExternalNetworkDescriptor``): an external JSON-RPC network (Besu, GoQuorum;
  anvil in tests) the consortium was deployed to. The network runs its own ledger, so
  there is no genesis to rebuild: it is known by its chain id and the hash of its block 0;
  with the contracts' addresses, the block the deployment began at (where an indexer
  starts) and the consortium CA certificate.

Nothing in it is secret. Version 1 descriptors (an etcd network's, before the route was
named) are still read.

A consortium home keeps the descriptor as ``network.json`` and says in ``node.json``
under ``consortium`` how this node takes part: its etcd endpoints, whether it is a
learner (never stands for minter), the URL peers forward transactions to, the lease TTL,
and, between machines, the peer endpoint that serves history over mutual TLS
(``peer_listen``, ``advertise_peer_url``; docs/decisions/0023).

etcd is reached over plain http only on loopback (one machine, tests, the local
cluster); any other endpoint must be https, which the node reaches with its certificate
from the consortium CA (``etcd_tls``): ``parse_endpoints`` refuses anything else.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chain.errors import ScfError
from nodes.home import NodeHome

DESCRIPTOR_FILE = "network.json"
DESCRIPTOR_VERSION = 2
READABLE_VERSIONS = (1, DESCRIPTOR_VERSION)  # 1: an etcd network's, with no ``route``
ETCD_ROUTE = "etcd"
RPC_ROUTE = "rpc"
DEFAULT_LEASE_TTL = 5  # seconds: how long a dead minter holds the election


class DescriptorInvalid(ScfError):
    code = "descriptor_invalid"


@dataclass(frozen=True)
class NetworkDescriptor:
    chain_id: int
    genesis_timestamp: int
    genesis_hash: str  # 0x-hex, what the genesis parameters must give
    dev: bool  # a development network: the faucet is funded at genesis
    contracts: dict[str, str]
    ca_certificate: str  # PEM of the consortium CA
    etcd_endpoints: list[str]
    bootstrap_nodes: list[str]  # 0x-hex node ids (keccak256 of the node public key)
    version: int = DESCRIPTOR_VERSION
    # JSON-RPC URLs of nodes to fetch blocks older than etcd's window from (the founder's)
    peers: list[str] = field(default_factory=list)
    route: str = ETCD_ROUTE

    @property
    def registry(self) -> bytes:
        return bytes.fromhex(self.contracts["NodeRegistry"].removeprefix("0x"))

    @property
    def bootstrap(self) -> list[bytes]:
        return [bytes.fromhex(n.removeprefix("0x")) for n in self.bootstrap_nodes]

    def save(self, path: Path) -> None:
        _save(self, path)

    @classmethod
    def load(cls, path: Path) -> NetworkDescriptor:
        descriptor = read_descriptor(path)
        if not isinstance(descriptor, NetworkDescriptor):
            raise DescriptorInvalid(
                f"{path} describes an external JSON-RPC network, not an etcd consortium: "
                "join it with --ledger-url"
            )
        return descriptor


@dataclass(frozen=True)
class ExternalNetworkDescriptor:
    """A consortium deployed to an external JSON-RPC network (``init --ledger-url``)."""

    chain_id: int
    genesis_hash: str  # 0x-hex hash of the network's block 0: which network it is
    deployment_block: int  # the first block that can hold the consortium's transactions
    dev: bool
    contracts: dict[str, str]
    ca_certificate: str  # PEM of the consortium CA
    route: str = RPC_ROUTE
    version: int = DESCRIPTOR_VERSION

    def save(self, path: Path) -> None:
        _save(self, path)


# what a deployment names (chain.deploy.Consortium's handles): a descriptor lacking one
# cannot serve an API node
CONTRACT_NAMES = frozenset(
    {
        "ConsortiumGovernance",
        "MemberRegistry",
        "NodeRegistry",
        "InvoiceRegistry",
        "CreditLines",
        "CreditCertificates",
        "SettlementToken",
        "FinancingHub",
        "Maturity",
    }
)


def _save(descriptor: NetworkDescriptor | ExternalNetworkDescriptor, path: Path) -> None:
    fields = asdict(descriptor) | {"version": DESCRIPTOR_VERSION}  # a version 1 one, as 2
    text = json.dumps(fields, indent=2, sort_keys=True) + "\n"
    path.write_text(text, "utf-8")


def read_descriptor(path: Path) -> NetworkDescriptor | ExternalNetworkDescriptor:
    """The descriptor in ``path``, of whichever route; ``DescriptorInvalid`` for a file that
    is none, of a version this node does not read, or missing what its route needs."""
    try:
        raw = json.loads(path.read_text("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        version = raw.get("version", DESCRIPTOR_VERSION)
        route = raw.setdefault("route", ETCD_ROUTE)  # version 1 named no route
        kinds: dict[str, type[NetworkDescriptor] | type[ExternalNetworkDescriptor]] = {
            ETCD_ROUTE: NetworkDescriptor,
            RPC_ROUTE: ExternalNetworkDescriptor,
        }
        kind = kinds.get(route)
        if version not in READABLE_VERSIONS:
            raise DescriptorInvalid(
                f"{path}: descriptor version {version}, this node reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        if kind is None:
            raise ValueError(f"route {route!r} is neither {ETCD_ROUTE!r} nor {RPC_ROUTE!r}")
        descriptor = kind(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise DescriptorInvalid(f"{path} is no network descriptor: {exc}") from None
    if isinstance(descriptor, NetworkDescriptor):
        if "NodeRegistry" not in descriptor.contracts or not descriptor.etcd_endpoints:
            raise DescriptorInvalid(f"{path} names no NodeRegistry or no etcd endpoint")
        return descriptor
    missing = sorted(CONTRACT_NAMES - set(descriptor.contracts))
    if missing:
        raise DescriptorInvalid(f"{path} names no address for {', '.join(missing)}")
    if not all(_is_hex(a, 20) for a in descriptor.contracts.values()):
        raise DescriptorInvalid(f"{path}: a contract address is not 20 bytes of 0x-hex")
    if not _is_hex(descriptor.genesis_hash, 32):
        raise DescriptorInvalid(f"{path}: the genesis hash is not 32 bytes of 0x-hex")
    numbers = (descriptor.chain_id, descriptor.deployment_block)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise DescriptorInvalid(f"{path}: the chain id and deployment block are whole numbers")
    return descriptor


def _is_hex(value: object, size: int) -> bool:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        return False
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ConsortiumSettings:
    """How this home's node takes part (``node.json``'s ``consortium``)."""

    etcd: list[str]
    learner: bool = False
    advertise_rpc_url: str | None = None  # where peers forward to; default: the RPC's URL
    lease_ttl: int = DEFAULT_LEASE_TTL
    etcd_tls: bool = False  # client TLS to etcd with the node certificate (``pki/consortium``)
    # blocks etcd keeps while this node mints (None: ``chain.consortium.retention``'s default)
    retain_blocks: int | None = None
    # host:port of the history peer endpoint (mutual TLS; None: history on the JSON-RPC only)
    peer_listen: str | None = None
    advertise_peer_url: str | None = None  # how other institutions reach it (https)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        shown = asdict(self)
        shown.pop("extra")
        return {k: v for k, v in shown.items() if v is not None}


def settings_of(home: NodeHome) -> ConsortiumSettings | None:
    """The home's consortium settings; None for a single node or an external network."""
    if not home.settings.exists():
        return None
    raw = home.read_settings().get("consortium")
    if raw is None:
        return None
    known = {
        "etcd",
        "learner",
        "advertise_rpc_url",
        "lease_ttl",
        "etcd_tls",
        "retain_blocks",
        "peer_listen",
        "advertise_peer_url",
    }
    return ConsortiumSettings(
        **{k: v for k, v in raw.items() if k in known},
        extra={k: v for k, v in raw.items() if k not in known},
    )


def descriptor_of(home: NodeHome) -> NetworkDescriptor:
    return NetworkDescriptor.load(home.path / DESCRIPTOR_FILE)


def is_consortium(home: NodeHome) -> bool:
    return settings_of(home) is not None


class PlainEtcdBeyondLoopback(ScfError):
    code = "etcd_plain_http_beyond_loopback"


def parse_endpoints(value: str) -> list[str]:
    """``https://a:2379,https://b:2379`` as a list; refuses an empty one, a mix of http
    and https, and plain http to anything but loopback."""
    endpoints = [e.strip().rstrip("/") for e in value.split(",") if e.strip()]
    if not endpoints or not all(e.startswith(("http://", "https://")) for e in endpoints):
        raise ScfError(f"etcd endpoints are http(s) URLs separated by commas, not {value!r}")
    plain = [e for e in endpoints if e.startswith("http://")]
    if plain and len(plain) < len(endpoints):
        raise ScfError(f"etcd endpoints are all https or all http, not a mix: {value!r}")
    beyond = [e for e in plain if not is_loopback(urlsplit(e).hostname or "")]
    if beyond:
        raise PlainEtcdBeyondLoopback(
            f"etcd at {', '.join(beyond)} is plain http beyond loopback: the rule is plain "
            "http only on 127.0.0.1, ::1 or localhost; between machines etcd is reached "
            "over https with the node's certificate from the consortium CA "
            "(docs/operations.md, Running a consortium)"
        )
    return endpoints


def uses_tls(endpoints: list[str]) -> bool:
    """Whether this node reaches etcd over https (with its node certificate)."""
    return all(e.startswith("https://") for e in endpoints)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: whatever it resolves to, it may be another machine
