"""Start anvil (npm ``@foundry-rs/anvil``, pinned in contracts/package.json) for a test.

``with anvil() as url:`` runs anvil on a free port of 127.0.0.1, waits until it
answers ``eth_chainId`` and stops it afterwards. Without the npm package the
test is skipped with the command that installs it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
# npm installs only the platform's package: anvil-linux-amd64, anvil-darwin-arm64, ...
_BINARIES = ("@foundry-rs/anvil-*/bin/anvil", "@foundry-rs/anvil-*/bin/anvil.exe")
STARTUP_TIMEOUT = 15.0
_STARTUP_ATTEMPTS = 3  # a free port can be taken between choosing it and anvil binding it


def anvil_binary() -> Path | None:
    """The anvil executable under contracts/node_modules, if installed."""
    modules = CONTRACTS / "node_modules"
    for pattern in _BINARIES:
        for candidate in sorted(modules.glob(pattern)):
            if candidate.is_file():
                return candidate
    return None


@contextmanager
def anvil(*extra_args: str, timeout: float = STARTUP_TIMEOUT) -> Iterator[str]:
    """Run anvil on a free loopback port; yield its URL; terminate it on exit."""
    binary = anvil_binary()
    if binary is None:
        pytest.skip("anvil is not installed under contracts/node_modules: run npm ci in contracts/")
    with tempfile.TemporaryFile() as log:
        process: subprocess.Popen[bytes] | None = None
        for _ in range(_STARTUP_ATTEMPTS):
            url, process = _start(binary, extra_args, log, timeout)
            if process is not None:
                break
        if process is None:
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"anvil ({binary}) did not answer eth_chainId at {url}:\n{output}")
        try:
            yield url
        finally:
            _stop(process)


def _start(
    binary: Path, extra_args: tuple[str, ...], log: IO[bytes], timeout: float
) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start anvil and wait until it answers; ``None`` if it exited or never answered."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--quiet", *extra_args]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return url, None
        if _answers_chain_id(url) and process.poll() is None:
            return url, process
        time.sleep(0.02)  # poll interval, bounded by the deadline above
    _stop(process)
    return url, None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_chain_id(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1.0) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):  # not listening yet (URLError is an OSError)
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
