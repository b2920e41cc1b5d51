"""Run real etcd members (Debian's ``etcd-server``) on loopback for a test.

``EtcdCluster(size, directory)`` starts ``size`` members on free 127.0.0.1 ports with data
directories under ``directory`` (``nodes.consortium.local_etcd``, as a local consortium
does), waits until each reports healthy, and can kill -9 and restart single members.
Without the etcd binary the test is skipped, except under ``CI=true``: CI installs it
(``.ci/run``), so there its absence is a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chain.consortium.etcd import EtcdTls
from nodes.consortium import local_etcd
from nodes.consortium.local_etcd import EtcdMember, LocalEtcd, ServerTls
from nodes.consortium.local_process import LocalClusterError
from nodes.runtime.ports import free_port as _free_port

__all__ = ["EtcdCluster", "EtcdMember", "ServerTls", "_free_port", "etcd_binary"]

STARTUP_TIMEOUT = 30.0  # seconds until every member reports healthy (a busy 2-core box)


def etcd_binary() -> str:
    """The etcd executable; skips the test without it (fails it under CI)."""
    try:
        return local_etcd.etcd_binary()
    except LocalClusterError as exc:
        reason = f"{exc} (Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must install it (.ci/run)")
        pytest.skip(reason)


@dataclass
class EtcdCluster:
    size: int
    directory: Path
    tls: ServerTls | None = None
    client_tls: EtcdTls | None = None  # what the harness itself uses to check health
    etcd: LocalEtcd = field(init=False)

    def __post_init__(self) -> None:
        etcd_binary()
        verify = self.client_tls.context() if self.client_tls else True
        names = [f"m{index}" for index in range(self.size)]
        self.etcd = LocalEtcd.start(self.directory, names, self.tls, verify)

    @property
    def members(self) -> list[EtcdMember]:
        return self.etcd.members

    @property
    def endpoints(self) -> list[str]:
        return self.etcd.urls

    def wait_healthy(self, members: list[EtcdMember], timeout: float = STARTUP_TIMEOUT) -> None:
        self.etcd.wait_healthy(members, timeout)

    def log_tail(self, member: EtcdMember) -> str:
        return member.log_tail()

    def kill(self, member: EtcdMember) -> None:
        """kill -9: no chance to hand over leadership or flush anything."""
        self.etcd.kill(member)

    def restart(self, member: EtcdMember) -> None:
        """Start a killed member again on its data directory (it rejoins the cluster)."""
        self.etcd.launch(member)

    def stop(self) -> None:
        """Kill every member: their data directories are thrown away, and a graceful stop
        of a cluster's leader waits seconds for a leadership transfer."""
        self.etcd.stop()
