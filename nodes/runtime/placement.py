"""Where the processes of ``scf-node start`` run: a CPU each, and reads before writes.

The ledger, the REST API and the read replica are Python processes whose work mostly
holds their interpreter lock. Left to the OS, their threads hop between CPUs and the lock
is handed over from core to core, each time to a cold cache: on a 2-CPU machine the end to
end write rate was clearly higher with the ledger on one CPU and the API on the other
(docs/benchmarks.md). So with two CPUs or more the ledger gets one of its own, the
API another, and the read replica the rest (with only two, it may run on either).

Where no CPU is left for the read replica alone (fewer than three, or two on a node that
follows an external network and so runs no ledger), it competes with the busy writers.
Its requests are members' short queries; writes are throughput work, each already waiting
for its block. The writers then run ``WRITER_NICENESS`` steps lower in priority than the
replica, so a contended CPU serves the read first, and a CPU the replica does not need is
the writers' as before. Without a replica nothing is lowered.

``--cpus`` chooses: ``auto`` (the CPUs this process may use), a list such as ``2,3,6-7``
(in that order: ledger, API, replica), or ``off`` (the OS decides, no priorities changed).

Pinning needs the OS to let a process choose its CPUs (``os.sched_getaffinity``), which
Linux does and macOS does not: there ``--cpus`` is ignored with one warning, and the OS
places the processes as with ``off``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from chain.errors import ConfigurationError

log = logging.getLogger(__name__)

WRITER_NICENESS = 2
AUTO = "auto"
OFF = "off"


@dataclass(frozen=True)
class ProcessPlacement:
    """The CPUs one process may run on (None: wherever the OS puts it) and how many steps
    it lowers its priority by."""

    cpus: frozenset[int] | None = None
    niceness: int = 0

    def arguments(self) -> list[str]:
        """The command line that carries this placement to a child (``child_arguments``)."""
        found = ["--cpus", format_cpus(self.cpus)] if self.cpus is not None else []
        return found + (["--niceness", str(self.niceness)] if self.niceness else [])


@dataclass(frozen=True)
class NodePlacement:
    ledger: ProcessPlacement
    api: ProcessPlacement
    replica: ProcessPlacement


ANYWHERE = ProcessPlacement()  # where the OS puts it, at the priority it inherits
UNPLACED = NodePlacement(ANYWHERE, ANYWHERE, ANYWHERE)


def plan(cpus: Sequence[int], *, replica: bool, ledger: bool = True) -> NodePlacement:
    """The node's processes on ``cpus``, in order: the ledger (unless the node follows an
    external network, ``ledger=False``), the API, the replica."""
    others = cpus[1:] if ledger else cpus  # what the ledger leaves to the API and replica
    # the replica shares a CPU with the writers when nothing is left for it alone
    niceness = WRITER_NICENESS if replica and len(others) < 2 else 0
    return NodePlacement(
        ProcessPlacement(frozenset(cpus[:1]), niceness) if ledger else ANYWHERE,
        ProcessPlacement(frozenset(others[:1] or cpus[:1]), niceness),
        ProcessPlacement(frozenset(others[1:] or cpus)),
    )


def pinning_supported() -> bool:
    """Whether this OS lets a process choose the CPUs it runs on (Linux does)."""
    return hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity")


def cpus_for(choice: str) -> list[int] | None:
    """The CPUs ``--cpus choice`` gives the node, in order; None for ``off``, and where
    the OS cannot pin processes (said once in the log)."""
    choice = choice.strip().lower()
    if choice == OFF:
        return None
    cpus = None if choice == AUTO else parse_cpus(choice)  # a bad list is refused anywhere
    if not pinning_supported():
        log.warning(
            "--cpus %s is ignored: this OS cannot pin processes to CPUs (Linux can); "
            "the OS places the node's processes",
            choice,
        )
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is None:
        return allowed
    outside = [cpu for cpu in cpus if cpu not in allowed]
    if outside:
        raise ConfigurationError(
            f"--cpus names CPUs this process may not use: {format_cpus(frozenset(outside))} "
            f"(it may use {format_cpus(frozenset(allowed))})",
            details={"cpus": choice},
        )
    return cpus


def parse_cpus(text: str) -> list[int]:
    """``"2,3,6-7"`` → ``[2, 3, 6, 7]``, in the order given, each CPU once."""
    cpus: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ConfigurationError(
                f"--cpus takes {AUTO!r}, {OFF!r} or CPU numbers such as 0,2-3; not {text!r}",
                details={"cpus": text},
            ) from None
        if low < 0 or high < low:
            raise ConfigurationError(
                f"--cpus: {part.strip()!r} is no CPU range", details={"cpus": text}
            )
        cpus += [cpu for cpu in range(low, high + 1) if cpu not in cpus]
    return cpus


def from_arguments(cpus: str | None, niceness: int) -> ProcessPlacement:
    """What ``ProcessPlacement.arguments`` put on a child's command line."""
    return ProcessPlacement(frozenset(parse_cpus(cpus)) if cpus else None, niceness)


def format_cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def apply(placement: ProcessPlacement) -> None:
    """Place this whole process: every thread it has, and so every thread they start. A
    placement the system refuses (a container's limits) is logged; the process runs on."""
    if placement == ANYWHERE:
        return  # nothing to change (and nothing this OS may not support)
    try:
        for task in (int(name) for name in os.listdir("/proc/self/task")):
            if placement.cpus is not None:
                os.sched_setaffinity(task, placement.cpus)
            if placement.niceness:
                _lower(task, placement.niceness)
    except OSError as exc:
        log.warning("could not place this process (%s): %s", placement, exc)


def lower_this_thread(niceness: int) -> None:
    """Lower the calling thread's priority by ``niceness`` steps; the threads it starts
    inherit it, the rest of the process does not (Linux keeps a niceness per thread)."""
    if niceness:
        try:
            _lower(threading.get_native_id(), niceness)
        except OSError as exc:
            log.warning("could not lower the priority of this thread: %s", exc)


def _lower(thread: int, niceness: int) -> None:
    os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + niceness)


@contextmanager
def pinned_thread(cpus: frozenset[int]) -> Iterator[None]:
    """The calling thread, and the threads it starts meanwhile, on ``cpus`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
