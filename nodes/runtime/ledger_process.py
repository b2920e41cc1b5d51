"""The embedded ledger in a process of its own, as ``scf-node start`` runs it.

The block producer (py-evm) and the REST API each need a core: in one process they
shared one interpreter lock, and REST writes and reads waited for blocks being built.
``start`` now runs this module as a child process (``spawn_ledger``): it opens the
home's ledger with node-level permissioning, serves its JSON-RPC, reports its port
through a pipe, and stops, sealing what is queued, on SIGTERM. The child dies with its
parent (``PR_SET_PDEATHSIG``): a killed node never leaves a ledger running behind it,
and a lock file keeps a second ledger process off the same store.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.embedded.calls import (
    DEFAULT_MAX_CALL_GAS,
    DEFAULT_MAX_CALL_SECONDS,
    check_max_call_gas,
    check_max_call_seconds,
)
from chain.embedded.core import EmbeddedCore
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS, check_max_transaction_gas
from chain.errors import ScfError
from nodes.connect import local_url
from nodes.home import NodeHome
from nodes.rpc_token import ensure_token, needs_token
from nodes.runtime.heap import freeze_startup
from nodes.runtime.placement import ANYWHERE, ProcessPlacement
from nodes.runtime.ports import json_rpc
from nodes.runtime.spawn import (
    child_arguments,
    place_child,
    report_cannot_listen,
    report_port,
    spawn_child,
    stop_process,
)

if TYPE_CHECKING:
    from chain.backends.embedded import EmbeddedLedger
    from nodes.consortium.stack import ConsortiumStack
    from nodes.runtime.supervisor import Supervisor

STOP_TIMEOUT = 60.0  # seconds to seal the queue and close the store
LOCK_WAIT = 10.0  # seconds to wait for a ledger process that is still exiting
LOCK_FILE = "ledger.lock"
# The in-process ledger waits 50 ms for a block to fill: there the clients submit while
# the producer waits, under one interpreter lock. Here the producer has a process of its
# own and waiting only idles it; 10 ms still gathers what arrives together (the windows
# tried are in docs/benchmarks.md).
BLOCK_WINDOW_MS = 10
RESTART_DELAY = 1.0  # a ledger that ended is started again at once, then after 1 s, 2 s ...
RESTART_DELAY_MAX = 60.0  # ... while it keeps ending


class LedgerProcessFailed(ScfError):
    code = "ledger_failed"


@dataclass
class LedgerProcess:
    """A running child ledger: its JSON-RPC URL and how to stop it."""

    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def url(self) -> str:
        return local_url("http", self.host, self.port)

    def stop(self) -> None:
        """Ask the ledger to seal its queue and close; kill it if it does not in time."""
        stop_process(self.process, STOP_TIMEOUT)


def spawn_ledger(
    home: NodeHome,
    *,
    dev: bool,
    host: str,
    port: int,
    placement: ProcessPlacement = ANYWHERE,
    passphrase: str | None = None,
) -> LedgerProcess:
    """Start the home's ledger as a child process (placed as ``placement`` says); return
    once its JSON-RPC listens. ``passphrase``: a consortium node's, which opens its node
    key (given on stdin, never on the command line)."""
    settings = home.read_settings()
    block_window(settings)  # a bad setting is refused here, not in the child
    max_transaction_gas(settings)
    call_limits(settings)
    arguments = ["--home", str(home.path), "--host", host, "--port", str(port)]
    arguments += ["--dev"] if dev else []
    secrets = None
    if passphrase is not None:
        arguments += ["--consortium"]
        secrets = json.dumps({"passphrase": passphrase}).encode() + b"\n"
    process, listening = spawn_child(
        "nodes.runtime.ledger_process",
        arguments,
        "the ledger process",
        LedgerProcessFailed,
        secrets,
        placement=placement,
        listener=json_rpc(host, port),
    )
    return LedgerProcess(process, host, listening)


def ledger_supervisor(
    first: LedgerProcess,
    home: NodeHome,
    *,
    dev: bool,
    placement: ProcessPlacement,
    report: Callable[[str], None],
    passphrase: str | None = None,
) -> Supervisor[LedgerProcess]:
    """Keeps the ledger child running (``nodes.runtime.supervisor``), on the port ``first`` took:
    the API and the node's clients reach it there."""
    from nodes.runtime.supervisor import Supervisor  # the parent's: the child needs no FastAPI

    return Supervisor(
        "ledger",
        lambda: spawn_ledger(
            home,
            dev=dev,
            host=first.host,
            port=first.port,
            placement=placement,
            passphrase=passphrase,
        ),
        report,
        LedgerProcessFailed,
        first_delay=RESTART_DELAY,
        max_delay=RESTART_DELAY_MAX,
        first=first,
    )


@contextmanager
def _store_lock(home: NodeHome) -> Iterator[None]:
    """Exclusive use of the ledger store, waiting briefly for an exiting predecessor."""
    home.chain_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(home.chain_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LedgerProcessFailed(
                        f"another ledger process uses {home.chain_dir}"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def block_window(settings: dict[str, Any]) -> float:
    """Seconds the producer of this process waits for more transactions to join a block:
    the home's ``block_window_ms``, else ``BLOCK_WINDOW_MS``."""
    window = settings.get("block_window_ms", BLOCK_WINDOW_MS)
    if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
        raise LedgerProcessFailed(
            f"the setting block_window_ms must be a number of milliseconds >= 0, not {window!r}",
            details={"block_window_ms": window},
        )
    return float(window) / 1000


def max_transaction_gas(settings: dict[str, Any]) -> int:
    """The most gas the node admits in one transaction: the home's ``max_transaction_gas``,
    else ``DEFAULT_MAX_TRANSACTION_GAS`` (``chain.embedded.rules``)."""
    value = settings.get("max_transaction_gas", DEFAULT_MAX_TRANSACTION_GAS)
    try:
        return check_max_transaction_gas(value)
    except ValueError as exc:
        raise LedgerProcessFailed(
            f"the setting max_transaction_gas: {exc}", details={"max_transaction_gas": value}
        ) from None


def call_limits(settings: dict[str, Any]) -> tuple[int, float]:
    """The gas cap and the time limit of one ``eth_call``/``eth_estimateGas``: the home's
    ``max_call_gas`` and ``max_call_seconds``, else ``chain.embedded.calls``' defaults."""
    gas = settings.get("max_call_gas", DEFAULT_MAX_CALL_GAS)
    seconds = settings.get("max_call_seconds", DEFAULT_MAX_CALL_SECONDS)
    try:
        return check_max_call_gas(gas), check_max_call_seconds(seconds)
    except ValueError as exc:
        raise LedgerProcessFailed(
            f"the settings max_call_gas/max_call_seconds: {exc}",
            details={"max_call_gas": gas, "max_call_seconds": seconds},
        ) from None


def serve(
    home: NodeHome, *, dev: bool, host: str, port: int, ready_fd: int, consortium: bool = False
) -> None:
    """Open the ledger, serve JSON-RPC, report the port on ``ready_fd``; until SIGTERM.
    ``consortium``: the ledger follows and mints through etcd (``nodes.consortium``);
    the passphrase that opens the node key comes on stdin."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settings = home.read_settings()
    max_call_gas, max_call_seconds = call_limits(settings)
    stack = _consortium_stack(home) if consortium else None
    with _store_lock(home):
        # With the deployment known, the node admits only active members and governors.
        options = _LedgerOptions(
            chain_id=settings["chain_id"],
            dev=dev,
            deployment=home.deployment,
            block_time=block_window(settings),
            max_transaction_gas=max_transaction_gas(settings),
            max_call_gas=max_call_gas,
            max_call_seconds=max_call_seconds,
            genesis_timestamp=settings.get("genesis_timestamp"),
        )
        # A single node serves the core alone; the consortium stack reads through web3.py.
        ledger = _consortium_ledger(home, options, stack) if stack is not None else None
        core = ledger.core if ledger is not None else _open_core(home, options)
        try:
            try:
                # beyond loopback, every request needs the home's token (nodes.rpc_token)
                token = ensure_token(home) if needs_token(host) else None
                handler = core.handler if stack is None else stack.rpc(core.handler)
                # a peer's forward is signed with its node key: it needs no token
                open_methods = frozenset() if stack is None else stack.open_methods
                server = make_server(handler, host, port, token=token, open_methods=open_methods)
            except OSError as exc:
                report_cannot_listen(ready_fd, exc)
            if stack is not None and ledger is not None:
                stack.attach(ledger, local_url("http", host, server.server_address[1]))
            freeze_startup()
            serve_in_background(server)
            report_port(ready_fd, server.server_address[1])
            stop.wait()
            server.shutdown()
            server.server_close()
        finally:
            if stack is None or ledger is None:
                core.close()  # seals what is queued
            else:
                stack.close_with(ledger)


@dataclass(frozen=True)
class _LedgerOptions:
    chain_id: int
    dev: bool
    deployment: Path
    block_time: float
    max_transaction_gas: int
    max_call_gas: int
    max_call_seconds: float
    genesis_timestamp: int | None


def _open_core(home: NodeHome, options: _LedgerOptions) -> EmbeddedCore:
    return EmbeddedCore.open(
        home.chain_dir,
        window_from_arrival=True,  # waiting idles this process's producer
        **vars(options),
    )


def _consortium_ledger(
    home: NodeHome, options: _LedgerOptions, stack: ConsortiumStack
) -> EmbeddedLedger:
    from chain.backends.embedded import EmbeddedLedger

    return EmbeddedLedger(
        home.chain_dir,
        window_from_arrival=True,  # waiting idles this process's producer
        finality=stack.node_finality,
        **vars(options),
    )


def _consortium_stack(home: NodeHome) -> ConsortiumStack:
    from nodes.consortium.stack import ConsortiumStack

    passphrase = str(json.loads(sys.stdin.readline())["passphrase"])
    return ConsortiumStack.open(home, passphrase)


def main(argv: list[str] | None = None) -> None:
    parser = child_arguments("the embedded ledger of scf-node start", default_port=8545)
    parser.add_argument("--dev", action="store_true")
    parser.add_argument("--consortium", action="store_true")
    args = parser.parse_args(argv)
    place_child(args)
    serve(
        NodeHome(args.home),
        dev=args.dev,
        host=args.host,
        port=args.port,
        ready_fd=args.ready_fd,
        consortium=args.consortium,
    )


if __name__ == "__main__":
    main()
