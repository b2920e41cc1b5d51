"""`scf-node start` as a real process: initializes a home, serves JSON-RPC, stops on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from web3 import HTTPProvider, Web3

from api.client import ScfClient
from chain.backends import open_ledger
from chain.deploy import Consortium
from nodes import dev_mode
from nodes.home import DEV_KDF_ITERATIONS, DEV_PASSPHRASE, NodeHome
from nodes.runtime.placement import UNPLACED, NodePlacement, ProcessPlacement, plan
from nodes.runtime.ports import free_ports


def _start(
    home: Path, port: int, api_port: int, read_port: int, *options: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nodes",
            "start",
            "--home",
            str(home),
            "--dev",
            "--rpc-port",
            str(port),
            "--api-port",
            str(api_port),
            "--read-port",
            str(read_port),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )


def _wait_for_rpc(url: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> Web3:
    w3 = Web3(HTTPProvider(url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"node exited early:\n{proc.stdout.read() if proc.stdout else ''}"
        )
        try:
            w3.eth.chain_id  # noqa: B018 - the probe
            return w3
        except Exception:
            time.sleep(0.1)
    raise AssertionError(f"JSON-RPC did not come up:\n{_kill(proc)}")


def _wait_for_api(url: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "node exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"the REST API did not come up:\n{_kill(proc)}")


def wait_for_read_url(home: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The read replica's URL, once the node published it (after the replica answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "node exited early"
        with contextlib.suppress(FileNotFoundError, ValueError):
            found = json.loads((home / "node.run.json").read_text()).get("read_url")
            if found:
                return str(found)
        time.sleep(0.1)
    raise AssertionError(f"the node did not publish its read replica:\n{_kill(proc)}")


def _kill(proc: subprocess.Popen[str]) -> str:
    """A node that did not come up in time is killed (its children die with it), so it
    does not run on, unwatched, through the rest of the suite; what it had printed."""
    proc.kill()
    out, _ = proc.communicate()
    return out or ""


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def _child_pid(proc: subprocess.Popen[str], module: str) -> int:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return next(
        int(pid) for pid in children if module.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def _replica_pid(proc: subprocess.Popen[str]) -> int:
    return _child_pid(proc, "nodes.runtime.read_replica")


def _placement_of(pid: int) -> ProcessPlacement:
    """Where process (or thread) ``pid`` runs, its niceness counted from this test's."""
    niceness = os.getpriority(os.PRIO_PROCESS, pid) - os.getpriority(os.PRIO_PROCESS, 0)
    return ProcessPlacement(frozenset(os.sched_getaffinity(pid)), niceness)


def _check_placement(proc: subprocess.Popen[str], expected: NodePlacement) -> None:
    """The ledger, the API's threads and the read replica run where ``expected`` says
    (None: where this test runs). Only the API server's threads are lowered: the main
    thread, which starts the replica again when it ends, keeps this test's priority."""
    here = frozenset(os.sched_getaffinity(0))

    def wanted(placement: ProcessPlacement) -> ProcessPlacement:
        return ProcessPlacement(placement.cpus or here, placement.niceness)

    assert _placement_of(_child_pid(proc, "nodes.runtime.ledger_process")) == wanted(
        expected.ledger
    )
    tasks = Path(f"/proc/{proc.pid}/task").iterdir()
    api_threads = {_placement_of(int(task.name)) for task in tasks}
    main_thread = wanted(ProcessPlacement(expected.api.cpus))
    assert api_threads == {main_thread, wanted(expected.api)}  # the server's threads lowered
    assert _placement_of(proc.pid) == main_thread
    assert _placement_of(_replica_pid(proc)) == wanted(expected.replica)


def _check_read_replica(
    home: Path, api: str, replica: str, auth: dict[str, str], proc: subprocess.Popen[str]
) -> None:
    """The replica answers the API's reads, refuses writes, and comes back when killed."""
    assert wait_for_read_url(home, proc) == replica
    _wait_for_api(replica, proc)
    for path in ("/v1/members/me", "/v1/members"):
        primary = httpx.get(f"{api}{path}", headers=auth)
        assert httpx.get(f"{replica}{path}", headers=auth).json() == primary.json()
    refused = httpx.post(f"{replica}/v1/invoices", headers=auth, json={})
    assert refused.status_code == 503
    assert refused.json()["error"]["details"] == {"primary_url": api}
    key = auth["Authorization"].removeprefix("Bearer ")
    with ScfClient(api, key, read_url=replica, retries=0) as client:
        me = client.me()
        assert client.last_url == httpx.URL(f"{replica}/v1/members/me")
        first = _replica_pid(proc)
        os.kill(first, signal.SIGKILL)
        _wait_until_refused(replica)
        assert client.me() == me  # the primary answers while the replica is down
        assert client.last_url == httpx.URL(f"{api}/v1/members/me")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{replica}/v1/members/me", headers=auth, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass  # not back yet
        time.sleep(0.2)
    else:
        raise AssertionError("the read replica did not come back")
    assert _replica_pid(proc) != first


def _wait_until_refused(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
        except httpx.TransportError:
            return
        time.sleep(0.01)
    raise AssertionError(f"{url} still answers")


def test_start_initializes_serves_and_restarts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port, api_port, read_port = free_ports(3)
    url, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}"
    replica = f"http://127.0.0.1:{read_port}"

    proc = _start(home, port, api_port, read_port)
    w3 = _wait_for_rpc(url, proc)
    assert w3.eth.chain_id == 8888
    _wait_for_api(api, proc)
    key = (home / "operator-api-key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    me = httpx.get(f"{api}/v1/members/me", headers=auth).json()
    assert (me["id"], me["name"], me["roles"]) == (1, "SCF Consortium Operator", ["AUDITOR"])
    assert httpx.get(f"{api}/v1/members/me").status_code == 401
    assert wait_for_read_url(home, proc) == replica  # the replica has placed itself
    # --dev is said where an operator or a monitor looks: /healthz and node.run.json
    assert httpx.get(f"{api}/healthz").json()["dev_mode"] is True
    assert json.loads((home / "node.run.json").read_text())["dev"] is True
    expected = plan(sorted(os.sched_getaffinity(0)), replica=True)
    _check_placement(proc, expected)
    _check_read_replica(home, api, replica, auth, proc)
    _check_placement(proc, expected)  # the replica started again runs where the first did
    head = w3.eth.get_block("latest")
    out = _stop(proc)
    assert "Initializing a new consortium" in out
    assert "JSON-RPC: http://127.0.0.1" in out
    assert f"REST API: http://127.0.0.1:{api_port}/v1" in out
    assert f"Read replica (GET routes): {replica}/v1" in out
    assert "Read replica: ended (exit code -9); starting it again" in out
    assert "Stopped." in out
    said = " ".join(out.replace("│", " ").split())  # the panel's borders wrap its lines
    assert dev_mode.TITLE in said  # the warning block (stderr)
    assert dev_mode.LOG_LINE in said  # and the log line
    for item in dev_mode.OPENED:
        assert item in said, item
    # keys, databases, the ledger and the runtime files are the operator's alone
    readable = [
        f"{p.relative_to(home)} {stat.S_IMODE(p.stat().st_mode):o}"
        for p in (home, *home.rglob("*"))
        if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert readable == []
    # every keystore of a development home (governor, node, members' accounts) is sealed
    # with the public passphrase, so with scrypt's small work factor (tests/nodes/
    # test_keystore_work_factor.py): a default one costs a second at each start
    keys = home / "keys"
    keystores = [keys / "governor.json", keys / "node.json", *(keys / "accounts").glob("*.json")]
    factors = {json.loads(k.read_text())["crypto"]["kdfparams"]["n"] for k in keystores}
    assert factors == {DEV_KDF_ITERATIONS}, keystores

    node_home = NodeHome(home)
    governor = node_home.read_keystore(DEV_PASSPHRASE)
    with socket.create_server(("127.0.0.1", read_port)):  # another program holds the port
        refused = _start(home, port, api_port, read_port)
        out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 1, out
    assert " ".join(out.split()) == (
        f"The node cannot start: port {read_port} (read replica) on 127.0.0.1 is already in "
        "use: stop the program that uses it, or choose another port with --read-port"
    )
    assert not (home / "ledger.lock").exists()
    proc = _start(home, port, api_port, read_port)
    w3 = _wait_for_rpc(url, proc)
    try:
        _wait_for_api(api, proc)
        again = httpx.get(f"{api}/v1/members/me", headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 200  # the key and the read model survive the restart
        assert w3.eth.get_block("latest")["hash"] == head["hash"]
        rpc = open_ledger("rpc", url=url)
        consortium = Consortium.load(rpc, node_home.deployment)
        assert consortium.members.call("memberOf", governor.address) == 1
    finally:
        out = _stop(proc)
    assert "Initializing" not in out
    assert not (home / "ledger.lock").exists()  # a stopped node leaves no lock behind


def test_free_ports_are_distinct() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64
    assert all(1024 <= port <= 65535 for port in ports)


def test_with_tls_the_read_replica_serves_https_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port, api_port, read_port = free_ports(3)
    # (also: --cpus off leaves every process where the OS puts it, at its usual priority)
    proc = _start(home, port, api_port, read_port, "--tls", "--cpus", "off")
    try:
        _wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        replica = wait_for_read_url(home, proc)
        assert replica == f"https://127.0.0.1:{read_port}"
        _check_placement(proc, UNPLACED)
        key = (home / "operator-api-key").read_text().strip()
        verify = ssl.create_default_context(cafile=str(home / "pki" / "ca.pem"))
        with httpx.Client(verify=verify, timeout=10) as client:
            me = client.get(f"{replica}/v1/members/me", headers={"Authorization": f"Bearer {key}"})
            assert (me.status_code, me.json()["id"]) == (200, 1)
            refused = client.post(f"{replica}/v1/invoices", json={})
            assert refused.json()["error"]["details"] == {
                "primary_url": f"https://127.0.0.1:{api_port}"
            }
        with pytest.raises(httpx.HTTPError):  # no plain HTTP beside it
            httpx.get(f"http://127.0.0.1:{read_port}/healthz", timeout=5)
    finally:
        out = _stop(proc)
    assert f"Read replica (GET routes): https://127.0.0.1:{read_port}/v1" in out
