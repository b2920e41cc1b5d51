"""A development node, started as a child process: ``scf-node start --dev`` on free
loopback ports.

The demo and the REST benchmark both need a real node they start and stop themselves;
this is that node, started the way a user starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from chain.errors import ScfError
from nodes.runtime.ports import free_ports

START_TIMEOUT = 180.0  # seconds for the node to answer /healthz (a first start deploys)
STOP_TIMEOUT = 60.0


class ChildNodeFailed(ScfError):
    """The child node exited, or did not answer in time; the message quotes its log."""

    code = "node_failed"


@dataclass(frozen=True)
class ChildNode:
    api_url: str
    rpc_url: str
    read_url: str  # the read replica


@contextmanager
def dev_node(
    home: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[ChildNode]:
    """Start a development node on ``home`` (initializing it if empty) with more ``start``
    ``options``, yield its URLs once ``/healthz`` answers, and stop it with SIGINT, as
    Ctrl-C does. ``env``: variables set for the node besides this process's own (e.g. an
    ``SCF_*`` setting)."""
    api_port, rpc_port, read_port = free_ports(3)
    command = [sys.executable, "-m", "nodes", "start", "--home", str(home), "--dev"]
    command += ["--rpc-port", str(rpc_port), "--api-port", str(api_port)]
    command += ["--read-port", str(read_port), *options]
    # a fresh development home: not the caller's database, and the development passphrase
    not_inherited = ("SCF_DATABASE_URL", "SCF_PASSPHRASE")
    environment = {k: v for k, v in os.environ.items() if k not in not_inherited}
    environment.update(env or {})
    with open(log_file, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    node = ChildNode(*(f"http://127.0.0.1:{port}" for port in (api_port, rpc_port, read_port)))
    try:
        _wait_healthy(process, node.api_url, log_file)
        _wait_healthy(process, node.read_url, log_file)
        yield node
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise ChildNodeFailed(f"scf-node start exited ({code}): {_tail(log_file)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise ChildNodeFailed(
        f"scf-node start did not answer in {START_TIMEOUT:.0f}s: {_tail(log_file)}"
    )


def _tail(log_file: Path, lines: int = 15) -> str:
    return "\n".join(log_file.read_text("utf-8", "replace").splitlines()[-lines:])
