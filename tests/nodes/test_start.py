"""`scf-node start` as a real process: initializes a home, serves JSON-RPC, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from web3 import HTTPProvider, Web3

from chain.backends import open_ledger
from chain.deploy import Consortium
from nodes.child import free_port as _free_port
from nodes.home import DEV_PASSPHRASE, NodeHome


def _start(home: Path, port: int, api_port: int) -> subprocess.Popen[str]:
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
    raise AssertionError("JSON-RPC did not come up")


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
    raise AssertionError("the REST API did not come up")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_start_initializes_serves_and_restarts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port, api_port = _free_port(), _free_port()
    url, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}"

    proc = _start(home, port, api_port)
    w3 = _wait_for_rpc(url, proc)
    assert w3.eth.chain_id == 8888
    _wait_for_api(api, proc)
    key = (home / "operator-api-key").read_text().strip()
    me = httpx.get(f"{api}/v1/members/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["id"], me["name"], me["roles"]) == (1, "SCF Consortium Operator", ["AUDITOR"])
    assert httpx.get(f"{api}/v1/members/me").status_code == 401
    head = w3.eth.get_block("latest")
    out = _stop(proc)
    assert "Initializing a new consortium" in out
    assert "JSON-RPC: http://127.0.0.1" in out
    assert f"REST API: http://127.0.0.1:{api_port}/v1" in out
    assert "Stopped." in out

    node_home = NodeHome(home)
    governor = node_home.read_keystore(DEV_PASSPHRASE)
    proc = _start(home, port, api_port)
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
