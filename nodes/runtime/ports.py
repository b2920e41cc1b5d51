"""The ports ``scf-node start`` listens on, and one clear line when one cannot be had.

``start`` checks every port before it starts anything (``check_free``). Another program
may still take a port between that check and the server binding it: the server then
fails with the same message (``Listener.unavailable``), which names the port and the
option that moves it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from chain.errors import ConfigurationError

BACKLOG = 2048  # connections the kernel queues before the server accepts them


class PortUnavailable(ConfigurationError):
    code = "port_unavailable"


@dataclass(frozen=True)
class Listener:
    """One server of the node: what it is, where it listens and the option that moves it."""

    what: str
    option: str
    host: str
    port: int
    host_option: str = "--host"

    def unavailable(self, error_number: int | None, reason: str) -> PortUnavailable:
        """The error for this listener's port refused with ``error_number`` (``reason``)."""
        details = {"host": self.host, "port": self.port, "option": self.option}
        if error_number == errno.EADDRINUSE:
            return PortUnavailable(
                f"port {self.port} ({self.what}) on {self.host} is already in use: stop the "
                f"program that uses it, or choose another port with {self.option}",
                details=details,
            )
        return PortUnavailable(
            f"{self.what} cannot listen on {self.host}:{self.port} ({reason}): choose another "
            f"port with {self.option}, or another {self.host_option}",
            details=details,
        )


def json_rpc(host: str, port: int) -> Listener:
    return Listener("JSON-RPC", "--rpc-port", host, port, "--rpc-host")


def rest_api(host: str, port: int) -> Listener:
    return Listener("REST API", "--api-port", host, port)


def read_replica(host: str, port: int) -> Listener:
    return Listener("read replica", "--read-port", host, port)


def check_free(listeners: Sequence[Listener]) -> None:
    """Raise ``PortUnavailable`` for the first port that is taken or given twice (port 0
    asks for any free port: nothing to check)."""
    taken: dict[int, Listener] = {}
    for listener in listeners:
        if listener.port == 0:
            continue
        other = taken.get(listener.port)
        if other is not None:
            raise PortUnavailable(
                f"{other.option} and {listener.option} are both {listener.port}: give each "
                "server its own port",
                details={"port": listener.port},
            )
        taken[listener.port] = listener
        bind(listener, backlog=1).close()


def bind(listener: Listener, backlog: int = BACKLOG) -> socket.socket:
    """``listener``'s socket, listening; ``PortUnavailable`` when its port cannot be had."""
    try:
        return listen(listener.host, listener.port, backlog)
    except OSError as exc:
        raise listener.unavailable(exc.errno, exc.strerror or str(exc)) from None


def listen(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket, bound as the node's servers bind theirs (``SO_REUSEADDR``:
    connections of a stopped node waiting out TIME_WAIT do not hold the port). Made with
    an explicit ``IPPROTO_TCP``: asyncio sets TCP_NODELAY only on sockets whose protocol
    says TCP, and without it a response written in two parts waited for the client's
    delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    return listener


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: each probe stays bound until all are
    chosen (probing one at a time, the kernel may hand out the same port twice)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
