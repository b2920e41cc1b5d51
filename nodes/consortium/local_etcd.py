"""etcd members on this machine's loopback for a local consortium (Debian's
``etcd-server``): one new cluster on free 127.0.0.1 ports, each member a subprocess that
can be killed (kill -9) and started again on its data directory; with ``ServerTls`` the
members serve TLS and require client and peer certificates."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from nodes.consortium.local_process import STOP_TIMEOUT, LocalClusterError, wait_until
from nodes.runtime.ports import free_ports

ETCD_START_TIMEOUT = 30.0


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if found is None:
        raise LocalClusterError("etcd is not installed: apt-get install etcd-server")
    return found


@dataclass(frozen=True)
class ServerTls:
    """Certificates etcd serves with and requires from clients and peers."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def flags(self) -> list[str]:
        ca, cert, key = (str(path) for path in (self.ca_file, self.cert_file, self.key_file))
        return [
            "--client-cert-auth",
            f"--trusted-ca-file={ca}",
            f"--cert-file={cert}",
            f"--key-file={key}",
            "--peer-client-cert-auth",
            f"--peer-trusted-ca-file={ca}",
            f"--peer-cert-file={cert}",
            f"--peer-key-file={key}",
        ]


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_file: Path
    scheme: Literal["http", "https"] = "http"
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.peer_port}"

    def healthy(self, verify: ssl.SSLContext | bool = True) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise LocalClusterError(f"etcd {self.name} exited:\n{self.log_tail()}")
        try:
            answer = httpx.get(f"{self.client_url}/health", timeout=1.0, verify=verify)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("health") == "true"

    def log_tail(self) -> str:
        return self.log_file.read_text("utf-8", "replace")[-2000:]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "client_port": self.client_port, "peer_port": self.peer_port}


@dataclass
class LocalEtcd:
    """etcd members forming one cluster, data under ``directory``; ``verify`` is what
    checking their health trusts (with ``tls``: a context with a client certificate)."""

    directory: Path
    members: list[EtcdMember] = field(default_factory=list)
    token: str = field(default_factory=lambda: f"scf-local-{secrets.token_hex(4)}")
    tls: ServerTls | None = None
    verify: ssl.SSLContext | bool = True

    @classmethod
    def start(
        cls,
        directory: Path,
        names: Sequence[str],
        tls: ServerTls | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> LocalEtcd:
        etcd_binary()  # says so at once when etcd is missing
        directory.mkdir(parents=True, exist_ok=True)
        ports = iter(free_ports(2 * len(names)))
        etcd = cls.of(directory, [(name, next(ports), next(ports)) for name in names], tls)
        etcd.verify = verify
        try:
            for member in etcd.members:
                etcd.launch(member)
            etcd.wait_healthy(etcd.members)
        except BaseException:
            etcd.stop()
            raise
        return etcd

    @classmethod
    def of(
        cls,
        directory: Path,
        members: Sequence[tuple[str, int, int]],
        tls: ServerTls | None = None,
    ) -> LocalEtcd:
        """The members (name, client port, peer port) under ``directory``, not started."""
        etcd = cls(directory, tls=tls)
        for name, client_port, peer_port in members:
            member = EtcdMember(
                name,
                client_port,
                peer_port,
                directory / name,
                directory / f"{name}.log",
                "https" if tls else "http",
            )
            etcd.members.append(member)
        return etcd

    @property
    def endpoints(self) -> str:
        return ",".join(self.urls)

    @property
    def urls(self) -> list[str]:
        return [member.client_url for member in self.members]

    def launch(self, member: EtcdMember) -> None:
        """Start ``member`` (again, after a kill: it rejoins the cluster from its data)."""
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        command = [
            etcd_binary(),
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={self.token}",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=warn",
            *(self.tls.flags() if self.tls else []),
        ]
        with member.log_file.open("ab") as log:
            member.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def wait_healthy(
        self, members: Sequence[EtcdMember], timeout: float = ETCD_START_TIMEOUT
    ) -> None:
        for member in members:
            check = functools.partial(member.healthy, self.verify)
            wait_until(check, f"etcd {member.name}", timeout)

    def kill(self, member: EtcdMember) -> None:
        """kill -9: no chance to hand over leadership or flush anything."""
        if member.process is not None:
            member.process.kill()
            member.process.wait(STOP_TIMEOUT)
            member.process = None

    def stop(self) -> None:
        """kill -9 of every member this process started: the data is thrown away with the
        directory, and a graceful stop of the leader waits seconds for a leadership
        transfer."""
        for member in self.members:
            self.kill(member)
