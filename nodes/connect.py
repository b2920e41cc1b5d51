"""Reach a home's ledger whether or not its node is running.

The embedded ledger (LMDB plus py-evm's in-memory view of it) belongs to one
process at a time. Whoever opens it holds an exclusive ``flock`` on the home's
``ledger.lock``: ``scf-node start`` for as long as the node runs, a command for
as long as it works on a stopped home. A running node also publishes where it
listens in ``node.run.json``. So a command:

- takes the lock when it can, and opens the embedded ledger itself;
- otherwise talks to the running node over its JSON-RPC (the ``rpc`` backend),
  at the URL the node published.

The kernel drops the lock when its process dies, so a ``kill -9`` never leaves
a home locked; a stale ``node.run.json`` is ignored once the lock is free.

A home whose ledger is an external JSON-RPC network (``"ledger": "rpc"`` in
``node.json``) has no ledger of its own to hold: commands always reach the
network at its ``ledger_url``, whether or not the home's API node runs (which
still holds the lock, so that one process owns the read model and the nonces).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.errors import LedgerError, ScfError
from nodes.home import RPC_LEDGER, NodeHome

if TYPE_CHECKING:  # the ledger's modules are imported when a command opens it
    from chain.deploy import Consortium
    from chain.ledger import Ledger

LOCK_FILE = "ledger.lock"
RUNTIME_FILE = "node.run.json"
# Files that describe a running process, never part of a home's data (backups skip them).
RUNTIME_FILES = frozenset({LOCK_FILE, RUNTIME_FILE})


class HomeNotInitialized(ScfError):
    code = "home_not_initialized"
    http_status = 409


class HomeInUse(LedgerError):
    """Another process holds the home's ledger and does not (yet) answer on JSON-RPC."""

    code = "home_in_use"


def database_url(home: NodeHome) -> str:
    """The read model's database, as the node uses it: ``SCF_DATABASE_URL`` or the home's
    SQLite file."""
    return os.environ.get("SCF_DATABASE_URL") or f"sqlite:///{home.path / 'scf.db'}"


@dataclass
class LedgerClaim:
    """The exclusive right to open a home's embedded ledger, held until released."""

    home: NodeHome
    _fd: int | None = field(default=None, repr=False)

    def publish(
        self,
        rpc_url: str,
        api_url: str | None = None,
        read_url: str | None = None,
        *,
        processes: list[dict[str, Any]] | None = None,
        dev: bool = False,
    ) -> None:
        """Tell commands where the running node's ledger, API and read replica answer, how
        its child processes stand (``nodes.runtime.supervisor``) and whether it runs in development
        mode (``nodes.dev_mode``)."""
        payload: dict[str, Any] = {"pid": os.getpid(), "rpc_url": rpc_url, "api_url": api_url}
        payload["dev"] = dev
        if read_url is not None:
            payload["read_url"] = read_url
        if processes is not None:
            payload["processes"] = processes
        path = self.home.path / RUNTIME_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
        tmp.replace(path)

    def release(self) -> None:
        """Give the home back: no runtime file and no lock file stay behind."""
        (self.home.path / RUNTIME_FILE).unlink(missing_ok=True)
        if self._fd is not None:
            # Removed while still locked: whoever opened it meanwhile finds, once it holds the
            # lock, that the file is gone, and locks a new one (``try_claim``).
            (self.home.path / LOCK_FILE).unlink(missing_ok=True)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def local_url(scheme: str, host: str, port: int) -> str:
    """Where this machine reaches a server listening on ``host`` (a wildcard address
    through the loopback interface)."""
    reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"{scheme}://{reachable}:{port}"


def try_claim(home: NodeHome) -> LedgerClaim | None:
    """The home's ledger claim, or None when another process holds it."""
    home.path.mkdir(parents=True, exist_ok=True)
    path = home.path / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if _is_file_at(fd, path):
            break
        os.close(fd)  # its holder released it and removed it meanwhile: lock the new one
    (home.path / RUNTIME_FILE).unlink(missing_ok=True)  # left by a node that was killed
    return LedgerClaim(home, fd)


def _is_file_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the one at ``path``."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (opened.st_dev, opened.st_ino)


def is_claimed(home: NodeHome) -> bool:
    """Whether a process holds the home's claim now (without taking it or touching the
    files of a running node)."""
    try:
        fd = os.open(home.path / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if it was granted
    return False


def claim(home: NodeHome) -> LedgerClaim:
    """The home's ledger claim; ``HomeInUse`` when another process holds it."""
    held = try_claim(home)
    if held is None:
        runtime = read_runtime(home)
        pid = f" (pid {runtime['pid']})" if runtime else ""
        raise HomeInUse(
            f"{home.path} is in use by another process{pid}; stop it first",
            details={"home": str(home.path)},
        )
    return held


def read_runtime(home: NodeHome) -> dict[str, Any] | None:
    path = home.path / RUNTIME_FILE
    try:
        loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None  # not published yet, or being replaced right now
    return loaded


@dataclass
class Connection:
    """A home's ledger and contracts, reached directly or through its running node."""

    home: NodeHome
    ledger: Ledger
    consortium: Consortium
    rpc_url: str | None  # the JSON-RPC the ledger is reached at; None when opened directly
    api_url: str | None
    node_running: bool = False  # whether the home's node (scf-node start) runs
    read_url: str | None = None  # the running node's read replica, if it has one
    _claim: LedgerClaim | None = field(default=None, repr=False)

    def close(self) -> None:
        self.ledger.close()
        if self._claim is not None:
            self._claim.release()


def connect(home: NodeHome, *, wait: float = 15.0) -> Connection:
    """Open the home's ledger: directly when no node runs on it, else over JSON-RPC.

    A node that is still starting has not published its URL yet: wait up to
    ``wait`` seconds for it.
    """
    if not home.is_initialized():
        raise HomeNotInitialized(
            f"{home.path} is not an initialized node home (no {home.deployment.name}); "
            "create one with `scf-node init` or `scf-node start`",
            details={"home": str(home.path)},
        )
    if home.ledger_kind() == RPC_LEDGER:
        return _open_external(home)
    deadline = time.monotonic() + wait
    while True:
        held = try_claim(home)
        if held is not None:
            return _open_directly(home, held)
        runtime = read_runtime(home)
        if runtime is not None:
            return _open_rpc(home, runtime)
        if time.monotonic() >= deadline:
            raise HomeInUse(
                f"a process holds {home.path} but published no JSON-RPC address within "
                f"{wait:.0f}s; is the node still starting?",
                details={"home": str(home.path)},
            )
        time.sleep(0.1)


@contextmanager
def connected(home: NodeHome) -> Iterator[Connection]:
    connection = connect(home)
    try:
        yield connection
    finally:
        connection.close()


def _open_directly(home: NodeHome, held: LedgerClaim) -> Connection:
    from chain.backends.embedded import EmbeddedLedger
    from chain.deploy import Consortium

    try:
        settings = home.read_settings()
        consortium_home = "consortium" in settings
        if consortium_home:  # reads only: its blocks are made through etcd
            from nodes.consortium.offline import NeverMints, refuse_transactions
        ledger = EmbeddedLedger(
            home.chain_dir,
            chain_id=int(settings["chain_id"]),
            dev=bool(settings.get("dev", False)),
            deployment=home.deployment,
            finality=NeverMints() if consortium_home else None,
        )
        if consortium_home:
            ledger.node.admission = refuse_transactions
    except BaseException:
        held.release()
        raise
    consortium = Consortium.load(ledger, home.deployment)
    return Connection(home, ledger, consortium, None, None, _claim=held)


def _open_rpc(home: NodeHome, runtime: dict[str, Any]) -> Connection:
    from chain.backends.rpc import RpcLedger
    from chain.deploy import Consortium
    from nodes.rpc_token import read_token

    url = str(runtime["rpc_url"])
    ledger = RpcLedger(url, timeout=30, token=read_token(home))
    try:
        ledger.block_number()  # fails fast, naming the URL, if the node does not answer
    except LedgerError:
        ledger.close()
        raise
    consortium = Consortium.load(ledger, home.deployment)
    return Connection(
        home, ledger, consortium, url, _url(runtime, "api_url"), True, _url(runtime, "read_url")
    )


def _open_external(home: NodeHome) -> Connection:
    """The home's external network, at the URL in its settings."""
    from nodes.runtime.external import open_consortium, open_network

    ledger = open_network(str(home.ledger_url()))
    try:
        consortium = open_consortium(home, ledger)
    except BaseException:
        ledger.close()
        raise
    running = is_claimed(home)
    runtime = read_runtime(home) if running else None
    return Connection(
        home,
        ledger,
        consortium,
        ledger.url,
        _url(runtime, "api_url"),
        running,
        _url(runtime, "read_url"),
    )


def _url(runtime: dict[str, Any] | None, name: str) -> str | None:
    """A URL the running node published in its runtime file, if it did."""
    found = runtime.get(name) if runtime else None
    return str(found) if found else None
