"""What `scf-node start` refuses: one line saying what to do, and nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nodes.cli import app
from nodes.connect import LOCK_FILE, RUNTIME_FILE
from nodes.home import NodeHome
from nodes.runtime import ports
from nodes.runtime.ports import free_ports
from tests.nodes.test_cli_governance import init_dev_home, said

runner = CliRunner()
STRONG = "correct horse battery staple"
START_TIMEOUT = 120  # seconds: a start that was not refused would run until stopped


def start(home: Path, ports: list[int], *options: str) -> str:
    """`scf-node start` as a process, without a passphrase or a terminal; it must fail.
    What it said, on one line."""
    api_port, rpc_port, read_port = (str(port) for port in ports)
    done = subprocess.run(
        [sys.executable, "-m", "nodes", "start", "--home", str(home), "--api-port", api_port,
         "--rpc-port", rpc_port, "--read-port", read_port, *options],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200", "SCF_PASSPHRASE": ""},
        timeout=START_TIMEOUT,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output
    return said(output)


def ledger_children() -> list[int]:
    """Ledger processes this test process started and that still run."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline")
            if cmdline.exists() and b"nodes.runtime.ledger_process" in cmdline.read_bytes():
                found.append(int(pid))
    return found


def left_behind(home: NodeHome) -> list[str]:
    return [name for name in (LOCK_FILE, RUNTIME_FILE) if (home.path / name).exists()]


@pytest.mark.parametrize(
    ("which", "what", "option"),
    [
        (0, "REST API", "--api-port"),
        (1, "JSON-RPC", "--rpc-port"),
        (2, "read replica", "--read-port"),
    ],
)
def test_a_taken_port_is_named_with_its_option_before_anything_starts(
    tmp_path: Path, which: int, what: str, option: str
) -> None:
    ports = free_ports(3)
    home = tmp_path / "home"
    with socket.create_server(("127.0.0.1", ports[which])):  # another program holds it
        message = start(home, ports, "--dev")
    assert message == (
        f"The node cannot start: port {ports[which]} ({what}) on 127.0.0.1 is already in use: "
        f"stop the program that uses it, or choose another port with {option}"
    )
    assert not home.exists()  # checked before the home was made


def test_one_port_for_two_servers_is_refused(tmp_path: Path) -> None:
    api_port, _, read_port = free_ports(3)
    message = start(tmp_path / "home", [api_port, api_port, read_port], "--dev")
    assert message == (
        f"The node cannot start: --api-port and --rpc-port are both {api_port}: give each "
        "server its own port"
    )


def test_without_a_passphrase_or_a_terminal_start_says_to_set_it(tmp_path: Path) -> None:
    new = tmp_path / "new"
    message = start(new, free_ports(3))
    assert message == (
        "error: no keystore passphrase: set SCF_PASSPHRASE to it (there is no terminal to ask "
        "on), or use --dev for a development home"
    )
    assert not new.exists()

    home = NodeHome(tmp_path / "prod")
    made = runner.invoke(app, ["init", "--home", str(home.path)], env={"SCF_PASSPHRASE": STRONG})
    assert made.exit_code == 0, made.output
    assert "no keystore passphrase: set SCF_PASSPHRASE" in start(home.path, free_ports(3))
    assert left_behind(home) == []
    governing = runner.invoke(
        app,
        ["member", "propose-suspend", "1", "--home", str(home.path)],
        env={"SCF_PASSPHRASE": ""},
    )
    assert governing.exit_code == 2
    assert "no keystore passphrase: set SCF_PASSPHRASE" in said(governing.output)


@pytest.fixture
def unchecked_ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Another program takes a port after start checked it: the server finds it taken.
    Should the node start all the same, a watchdog stops it as Ctrl-C would."""
    monkeypatch.setattr(ports, "check_free", lambda listeners: None)
    handlers: list[Callable[[int, Any], None]] = []
    monkeypatch.setattr(signal, "signal", lambda sig, handler: handlers.append(handler))
    watchdog = threading.Timer(START_TIMEOUT, lambda: [h(signal.SIGINT, None) for h in handlers])
    watchdog.start()
    yield
    watchdog.cancel()


@pytest.mark.usefixtures("unchecked_ports")
def test_a_port_taken_after_the_check_stops_everything_that_started(tmp_path: Path) -> None:
    home = init_dev_home(tmp_path)
    api_port, rpc_port, read_port = (str(port) for port in free_ports(3))
    with socket.create_server(("127.0.0.1", int(api_port))):
        result = runner.invoke(
            app,
            ["start", "--home", str(home.path), "--api-port", api_port, "--rpc-port", rpc_port,
             "--read-port", read_port],
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert said(result.output).endswith(
        f"The node cannot start: port {api_port} (REST API) on 127.0.0.1 is already in use: "
        "stop the program that uses it, or choose another port with --api-port"
    ), result.output
    assert ledger_children() == []  # the ledger child that had started was stopped
    assert left_behind(home) == []
