"""The read replica of ``scf-node start``: the API's reads in a process of their own.

Writes are heavy for the API process: signing, the transaction store, the indexer. Under
sustained writes its interpreter lock is busy most of the time, and a read queued behind
them waited many times longer than its own work took. The replica serves the same API over the
same read model on a second port (``--read-port``, 8001 by default): every GET route,
answering writes with 503 ``writes_unavailable``; its synchronous routes run on the event
loop thread (``api.replica``). Reads there stay fast while the primary port takes writes,
and heavy queries (risk reports, lineage trees) no longer slow the writers down.

``spawn_replica`` starts it as a child process that dies with its parent;
``ReplicaSupervisor`` starts it again if it ends while the node runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from api.services.container import services_of
from api.settings import get_settings
from chain.errors import ScfError
from nodes.connect import connect, database_url, local_url
from nodes.home import NodeHome
from nodes.pki.ca import NodePki
from nodes.runtime.heap import freeze_startup
from nodes.runtime.placement import ANYWHERE, ProcessPlacement
from nodes.runtime.ports import listen, read_replica
from nodes.runtime.service import build_read_api, proxy_options, tls_options
from nodes.runtime.spawn import (
    child_arguments,
    place_child,
    report_cannot_listen,
    report_port,
    spawn_child,
    stop_process,
)
from nodes.runtime.supervisor import Supervisor

STOP_TIMEOUT = 10.0  # seconds for the replica to finish the requests in flight
RESTART_DELAY = 5.0  # seconds before starting again a replica that ended ...
RESTART_DELAY_MAX = 60.0  # ... doubling while it keeps failing (a port held by another program)


class ReplicaFailed(ScfError):
    code = "read_replica_failed"


@dataclass
class ReplicaProcess:
    """A running read replica: where it answers and how to stop it."""

    process: subprocess.Popen[bytes]
    url: str

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT)


def spawn_replica(
    home: NodeHome,
    *,
    host: str,
    port: int,
    tls: bool,
    passphrase: str,
    primary_url: str,
    placement: ProcessPlacement = ANYWHERE,
) -> ReplicaProcess:
    """Start the home's read replica (placed as ``placement`` says); return once it
    listens. Needs the node's ledger published (``node.run.json``) and the read model
    migrated, as ``start`` does first."""
    arguments = ["--home", str(home.path), "--host", host, "--port", str(port)]
    arguments += ["--tls"] if tls else []
    # the passphrase opens the node's TLS key and the CA: on stdin, not the command line
    secrets = json.dumps({"passphrase": passphrase, "primary_url": primary_url})
    process, listening = spawn_child(
        "nodes.runtime.read_replica",
        arguments,
        "the read replica",
        ReplicaFailed,
        secrets.encode() + b"\n",
        placement,
        listener=read_replica(host, port),
    )
    return ReplicaProcess(process, local_url("https" if tls else "http", host, listening))


class ReplicaSupervisor(Supervisor[ReplicaProcess]):
    """Keeps a read replica running beside the node (``nodes.runtime.supervisor``): started
    again ``RESTART_DELAY`` seconds after its last start, twice as long after each
    attempt that failed, up to ``RESTART_DELAY_MAX``."""

    def __init__(
        self,
        start: Callable[[], ReplicaProcess],
        report: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            "read_replica",
            start,
            report,
            ReplicaFailed,
            first_delay=RESTART_DELAY,
            max_delay=RESTART_DELAY_MAX,
            clock=clock,
        )

    @property
    def replica(self) -> ReplicaProcess | None:
        return self.child


def serve(home: NodeHome, *, host: str, port: int, tls: bool, ready_fd: int) -> None:
    """Serve the read API on ``host:port``, report the port on ``ready_fd``; until SIGTERM."""
    given = json.loads(sys.stdin.readline())
    passphrase, primary_url = str(given["passphrase"]), str(given["primary_url"])
    connection = connect(home)  # the node's ledger, over its JSON-RPC (or the external one)
    try:
        app = build_read_api(
            home, connection.consortium, passphrase, database_url(home), primary_url
        )
        pki = services_of(app).certificate_authority
        assert pki is None or isinstance(pki, NodePki), "build_read_api gives the home's CA"
        options = tls_options(pki, passphrase) if tls else {}
        options |= proxy_options(get_settings().trusted_proxies)
        try:
            listener = listen(host, port)
        except OSError as exc:
            report_cannot_listen(ready_fd, exc)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
        freeze_startup()
        report_port(ready_fd, listener.getsockname()[1])
        server.run(sockets=[listener])  # stops on SIGTERM / SIGINT
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = child_arguments("the read replica of scf-node start", default_port=8001)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args(argv)
    place_child(args)
    serve(NodeHome(args.home), host=args.host, port=args.port, tls=args.tls, ready_fd=args.ready_fd)


if __name__ == "__main__":
    main()
