"""Run real etcd members (Debian's ``etcd-server``) on loopback for a test.

``EtcdCluster(size, directory)`` starts ``size`` members on free 127.0.0.1 ports with data
directories under ``directory``, waits until each reports healthy, and can kill -9 and
restart single members. Without the etcd binary the test is skipped, except under
``CI=true``: CI installs it (``.ci/run``), so there its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chain.consortium.etcd import EtcdTls

STARTUP_TIMEOUT = 30.0  # seconds until every member reports healthy (a busy 2-core box)


def etcd_binary() -> str:
    """The etcd executable; skips the test without it (fails it under CI)."""
    binary = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if binary is None:
        reason = "etcd is not installed: apt-get install etcd-server (Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must install it (.ci/run)")
        pytest.skip(reason)
    return binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ServerTls:
    """Certificates etcd serves with and requires from clients and peers."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_file: Path
    scheme: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.peer_port}"


@dataclass
class EtcdCluster:
    size: int
    directory: Path
    tls: ServerTls | None = None
    client_tls: EtcdTls | None = None  # what the harness itself uses to check health
    members: list[EtcdMember] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.binary = etcd_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        scheme = "https" if self.tls else "http"
        for index in range(self.size):
            name = f"m{index}"
            self.members.append(
                EtcdMember(
                    name,
                    _free_port(),
                    _free_port(),
                    self.directory / name,
                    self.directory / f"{name}.log",
                    scheme,
                )
            )
        for member in self.members:
            self._launch(member)
        self.wait_healthy(self.members)

    @property
    def endpoints(self) -> list[str]:
        return [member.client_url for member in self.members]

    def _command(self, member: EtcdMember) -> list[str]:
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        command = [
            self.binary,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=scf-test-{id(self)}",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=warn",
        ]
        if self.tls is not None:
            files = (self.tls.ca_file, self.tls.cert_file, self.tls.key_file)
            ca, cert, key = (str(path) for path in files)
            command += [
                "--client-cert-auth",
                f"--trusted-ca-file={ca}",
                f"--cert-file={cert}",
                f"--key-file={key}",
                "--peer-client-cert-auth",
                f"--peer-trusted-ca-file={ca}",
                f"--peer-cert-file={cert}",
                f"--peer-key-file={key}",
            ]
        return command

    def _launch(self, member: EtcdMember) -> None:
        with member.log_file.open("ab") as log:
            member.process = subprocess.Popen(
                self._command(member), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def _healthy(self, member: EtcdMember) -> bool:
        verify = self.client_tls.context() if self.client_tls else True
        try:
            answer = httpx.get(f"{member.client_url}/health", timeout=1.0, verify=verify)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("health") == "true"

    def wait_healthy(self, members: list[EtcdMember], timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        pending = list(members)
        while pending and time.monotonic() < deadline:
            for member in list(pending):
                if member.process is not None and member.process.poll() is not None:
                    raise RuntimeError(f"etcd {member.name} exited:\n{self.log_tail(member)}")
                if self._healthy(member):
                    pending.remove(member)
            time.sleep(0.05)  # poll interval, bounded by the deadline
        if pending:
            tails = "\n".join(self.log_tail(member) for member in pending)
            raise RuntimeError(f"etcd members {[m.name for m in pending]} not healthy:\n{tails}")

    def log_tail(self, member: EtcdMember) -> str:
        return member.log_file.read_text(errors="replace")[-2000:]

    def kill(self, member: EtcdMember) -> None:
        """kill -9: no chance to hand over leadership or flush anything."""
        if member.process is not None:
            member.process.send_signal(signal.SIGKILL)
            member.process.wait(timeout=10)
            member.process = None

    def restart(self, member: EtcdMember) -> None:
        """Start a killed member again on its data directory (it rejoins the cluster)."""
        self._launch(member)

    def stop(self) -> None:
        """Kill every member: their data directories are thrown away, and a graceful stop
        of a cluster's leader waits seconds for a leadership transfer."""
        for member in self.members:
            self.kill(member)
