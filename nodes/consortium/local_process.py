"""What the local consortium's launcher (``nodes.consortium.local_cluster``) needs of
processes: ``scf-node`` commands run as their own processes, waiting on a condition, and
ending a process by its pid, which may belong to another program (a demo attached to a
consortium the test suite started kills and restarts its nodes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain.errors import ScfError

CLI_TIMEOUT = 600.0
STOP_TIMEOUT = 60.0
POLL = 0.05  # seconds between looks at something that is starting or ending

Progress = Callable[[str], None]


class LocalClusterError(ScfError):
    code = "local_cluster_failed"


def quiet(_message: str) -> None:
    """No progress report."""


def child_env() -> dict[str, str]:
    """The CLI's environment: a dev home's passphrase and its own SQLite read model, not
    whatever this shell sets for another node."""
    drop = ("SCF_PASSPHRASE", "SCF_DATABASE_URL")
    return {k: v for k, v in os.environ.items() if k not in drop} | {"COLUMNS": "200"}


def scf_node(*args: str) -> str:
    """Run ``scf-node ARGS`` as its own process; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise LocalClusterError(
            f"scf-node {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def scf_node_json(*args: str) -> Any:
    return json.loads(scf_node(*args, "--json"))


def wait_until(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(POLL)  # bounded by the deadline
    raise LocalClusterError(f"timed out after {timeout:.0f} s waiting for {what}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs. A zombie (ended, its parent has not yet collected
    it) does not: the parent may be another program."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("utf-8")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return False
        try:  # no procfs: ask the kernel
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def end(pid: int, sig: signal.Signals, timeout: float) -> bool:
    """Send ``sig`` to ``pid`` and wait up to ``timeout`` seconds for it to end; whether
    it did."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True
