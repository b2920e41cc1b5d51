"""How ``scf-node start`` spawns its child processes (the ledger, the read replica), tells
them to stop, and learns the port each listens on; and the child's side of that.

A child runs ``python -m <module> --home H --host A --port P --ready-fd F``, writes
``{"port": N}`` on descriptor F once it listens (port 0 picks a free one), or why it
cannot listen (``report_cannot_listen``), and stops on SIGTERM. On Linux it dies with
its parent (``PR_SET_PDEATHSIG``): a killed node leaves nothing running behind it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, NoReturn

from chain.errors import ScfError
from nodes.runtime.placement import ANYWHERE, ProcessPlacement, apply, from_arguments
from nodes.runtime.ports import Listener

START_TIMEOUT = 120.0  # seconds for a child to open what it serves and listen
_PR_SET_PDEATHSIG = 1


def spawn_child(
    module: str,
    arguments: list[str],
    name: str,
    failure: type[ScfError],
    stdin_line: bytes | None = None,
    placement: ProcessPlacement = ANYWHERE,
    *,
    listener: Listener,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``python -m module arguments --ready-fd F``, the server ``listener``; once it
    listens, the process and its port. ``stdin_line`` (secrets, never on the command line)
    goes to its stdin; the child places itself as ``placement`` says (``nodes.runtime.placement``)
    before anything else. ``failure`` (naming the child ``name``) if it cannot listen, ends
    or takes too long; it is stopped."""
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", module, *arguments, *placement.arguments()]
    command += ["--ready-fd", str(write_end)]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin_line is not None else None,
            pass_fds=(write_end,),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        os.close(write_end)
    try:
        if process.stdin is not None:
            with process.stdin:
                process.stdin.write(stdin_line or b"")
        with os.fdopen(read_end, "rb") as ready:
            return process, _read_ready(ready, process, name, listener, failure)
    except BaseException:
        stop_process(process, timeout=5.0)
        raise


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM; SIGKILL if the child has not ended ``timeout`` seconds later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_arguments(description: str, default_port: int) -> argparse.ArgumentParser:
    """The command line every child takes; add its own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument(
        "--cpus", help="the CPUs to run on, e.g. 0 or 2-3 (nodes.runtime.placement)"
    )
    parser.add_argument("--niceness", type=int, default=0, help="steps to lower the priority by")
    return parser


def place_child(args: argparse.Namespace) -> None:
    """In the child, first thing: run where ``spawn_child``'s placement said."""
    apply(from_arguments(args.cpus, args.niceness))


def report_port(ready_fd: int, port: int) -> None:
    """In the child, once it listens: the port, for ``spawn_child``."""
    _report(ready_fd, {"port": port})


def report_cannot_listen(ready_fd: int, error: OSError) -> NoReturn:
    """In the child, when its port cannot be had: why, for ``spawn_child`` to say in one
    line; then exit without a traceback."""
    _report(ready_fd, {"errno": error.errno, "reason": error.strerror or str(error)})
    raise SystemExit(1)


def _report(ready_fd: int, message: dict[str, Any]) -> None:
    with os.fdopen(ready_fd, "w") as ready:
        ready.write(json.dumps(message) + "\n")


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the parent exits (a Linux
    call: elsewhere a child outlives a parent that was killed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_ready(
    ready: IO[bytes],
    process: subprocess.Popen[bytes],
    name: str,
    listener: Listener,
    failure: type[ScfError],
) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    ended = False
    while time.monotonic() < deadline:
        readable, _, _ = select.select([ready], [], [], 0.2)
        if readable:
            line = ready.readline()
            if line:
                return _port_or_raise(json.loads(line), listener, failure)
            ended = True  # the pipe closed without a word: the child is ending
            break
        if process.poll() is not None:
            ended = True
            break
    if ended:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)  # the pipe closes a moment before the exit code is there
    raise failure(
        f"{name} exited before it listened"
        if ended
        else f"{name} did not listen within {START_TIMEOUT:.0f}s",
        details={"exit_code": process.poll()},
    )


def _port_or_raise(message: dict[str, Any], listener: Listener, failure: type[ScfError]) -> int:
    if "port" in message:
        return int(message["port"])
    refused = listener.unavailable(message.get("errno"), str(message.get("reason")))
    raise failure(refused.message, details=refused.details)
