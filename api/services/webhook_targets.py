"""Where webhooks may deliver: the public internet, unless the operator allows more.

A webhook URL is chosen by a member, and the node POSTs to it from inside the
operator's network. Left open, that makes the node a port scanner and a proxy
into whatever it can reach: its own JSON-RPC on loopback, a database on the
private network, a cloud metadata service on 169.254.169.254. So a target
address must be globally routable: loopback, unspecified, link-local, private,
shared (100.64.0.0/10), multicast and reserved addresses are refused, for IPv4
and IPv6 alike, and an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is
judged as the IPv4 address it carries. The operator allows networks explicitly
with ``SCF_WEBHOOK_ALLOWED_NETWORKS`` (a receiver on the same private network).

A name is judged by what it resolves to; if any of its addresses is refused,
the target is. Checked twice:

- at registration, so a member learns at once (``422 webhook_target_forbidden``);
  a name that does not resolve yet is accepted;
- at every delivery attempt, which resolves the name once and connects to the
  address it checked (``pin``): a name re-pointed at 127.0.0.1 after its
  registration (DNS rebinding) gets nothing. The request still names the host:
  the ``Host`` header, TLS SNI and certificate verification use the URL's name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from chain.errors import ScfError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses, best first

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are IPv4


class WebhookTargetForbidden(ScfError):
    code = "webhook_target_forbidden"
    http_status = 422


class WebhookTargetUnresolvable(ScfError):
    code = "webhook_target_unresolvable"
    http_status = 422


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the operating system's resolver (``getaddrinfo``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookTargetUnresolvable(
            f"webhook host {host} does not resolve: {exc}", details={"host": host}
        ) from exc
    return [str(info[4][0]) for info in infos]


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, 10.1.2.3, ::1"`` as networks (a bare address is a /32 or /128)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)
    except ValueError as exc:
        raise ValueError(f"not an address or network: {exc}") from exc


def refusal(address: IPAddress) -> str | None:
    """Why deliveries to ``address`` are refused by default; None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal(embedded)
            if reason is not None or address.ipv4_mapped is not None:
                return reason
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


@dataclass(frozen=True)
class PinnedTarget:
    """One delivery attempt's request target: the checked address in place of the name."""

    url: httpx.URL
    address: IPAddress
    host_header: str  # the URL's own host[:port], as the receiver expects it
    sni_hostname: str | None  # https: the name TLS presents and verifies

    @property
    def extensions(self) -> dict[str, str]:
        return {} if self.sni_hostname is None else {"sni_hostname": self.sni_hostname}


class TargetPolicy:
    """Which addresses webhooks may reach: public ones, and ``allowed`` networks."""

    def __init__(
        self, allowed: Iterable[IPNetwork] = (), resolver: Resolver = system_resolver
    ) -> None:
        self.allowed = tuple(allowed)
        self._resolve = resolver

    @classmethod
    def from_setting(cls, allowed_networks: str) -> TargetPolicy:
        return cls(parse_networks(allowed_networks))

    def is_allowed(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in network for a in candidates for network in self.allowed)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """``host``'s addresses (itself, for a literal address), every one checked."""
        literal = _literal_address(host)
        found = [literal] if literal is not None else self._resolved(host, port)
        if not found:
            raise WebhookTargetUnresolvable(
                f"webhook host {host} has no address", details={"host": host}
            )
        for address in found:
            reason = refusal(address)
            if reason is not None and not self.is_allowed(address):
                shown = host if literal is not None else f"{host} ({address})"
                raise WebhookTargetForbidden(
                    f"webhooks may not deliver to {shown}: the address is {reason}; "
                    "the node's operator can allow a network with "
                    "SCF_WEBHOOK_ALLOWED_NETWORKS",
                    details={"host": host, "address": str(address), "reason": reason},
                )
        return found

    def check_registration(self, url: str) -> None:
        """Refuse ``url`` if its host is, or resolves to, a refused address. A name that
        does not resolve now is let through: every delivery checks again."""
        parsed = httpx.URL(url)
        with contextlib.suppress(WebhookTargetUnresolvable):
            self.addresses(_host_of(parsed), _port_of(parsed))

    def pin(self, url: str) -> PinnedTarget:
        """Resolve ``url``'s host once, check it, and aim the request at that address."""
        parsed = httpx.URL(url)
        host = _host_of(parsed)
        address = self.addresses(host, _port_of(parsed))[0]
        return PinnedTarget(
            url=parsed.copy_with(host=str(address)),
            address=address,
            host_header=parsed.netloc.decode("ascii"),
            sni_hostname=host if parsed.scheme == "https" else None,
        )

    def _resolved(self, host: str, port: int) -> list[IPAddress]:
        found: list[IPAddress] = []
        for text in self._resolve(host, port):
            address = ipaddress.ip_address(text.partition("%")[0])  # drop an IPv6 scope
            if address not in found:
                found.append(address)
        return found


def _host_of(url: httpx.URL) -> str:
    """The host as sent on the wire (IDNA ``xn--`` form), without IPv6 brackets."""
    return url.raw_host.decode("ascii")


def _port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
