"""A node's lifetime (``nodes.runtime.node.NodeRuntime``): a start that fails at any step
leaves nothing behind — the home's claim is free, no child process runs, every
transaction store it opened is closed, none of its threads runs, Ctrl-C is Python's
again — and the home then starts and serves.

Real processes throughout (the ledger and the read replica are real children); only the
failure itself is injected, by replacing one step with one that raises.
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from rich.console import Console

import chain.txstore
from chain.deploy import Consortium
from nodes.commands.init import initialize
from nodes.connect import RUNTIME_FILE, try_claim
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.node import NodeOptions, NodeRuntime
from nodes.runtime.placement import UNPLACED
from nodes.runtime.ports import free_ports

CHAIN_ID = 8_888
# Each start-up step of NodeRuntime, in the order it runs them.
STEPS = [
    "_claim",
    "_open_governor",
    "_start_ledger",
    "_ensure_pki",
    "_open_store",
    "_build_api",
    "_serve",
    "_start_read_replica",
]


class InjectedFailure(Exception):
    """Raised in place of a start-up step."""


class RecordedStore(chain.txstore.TxStore):
    """The real transaction store, remembering whether it was closed."""

    opened: ClassVar[list[RecordedStore]] = []

    def __init__(self, url_or_path: str | Path) -> None:
        super().__init__(url_or_path)
        self.closed = False
        RecordedStore.opened.append(self)

    def close(self) -> None:
        super().close()
        self.closed = True


@pytest.fixture(scope="module")
def made_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development home, made once (``scf-node init --dev``); each test starts a copy."""
    home = NodeHome(tmp_path_factory.mktemp("made") / "home")
    initialize(home, True, CHAIN_ID, DEV_PASSPHRASE)
    return home.path


@pytest.fixture
def home(made_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NodeHome]:
    copy = tmp_path / "home"
    shutil.copytree(made_home, copy)
    monkeypatch.delenv("SCF_DATABASE_URL", raising=False)  # the copy's own read model
    monkeypatch.setattr(chain.txstore, "TxStore", RecordedStore)
    RecordedStore.opened = []
    yield NodeHome(copy)
    gc.unfreeze()  # the API step freezes the start-up heap of this (test) process


def runtime(home: NodeHome) -> NodeRuntime:
    api_port, rpc_port, read_port = free_ports(3)
    options = NodeOptions(
        dev=True,
        host="127.0.0.1",
        rpc_host="127.0.0.1",
        rpc_port=rpc_port,
        api_port=api_port,
        read_port=read_port,
        read_replica=True,
        tls=False,
        chain_id=CHAIN_ID,
    )
    out = Console(file=io.StringIO(), width=200)
    return NodeRuntime(home, DEV_PASSPHRASE, options, UNPLACED, out=out, err=out)


def children() -> set[int]:
    """The processes this (test) process started and has not reaped."""
    me = os.getpid()
    return {int(pid) for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split()}


def threads_left(before: set[threading.Thread], timeout: float = 20.0) -> list[str]:
    """The threads started since ``before`` still running once ``timeout`` has passed (a
    thread told to stop may take a pass of its loop to see it)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def assert_nothing_left(home: NodeHome, before: dict[str, Any]) -> None:
    assert children() - before["children"] == set()
    assert threads_left(before["threads"]) == []
    assert [store.closed for store in RecordedStore.opened] == [True] * len(RecordedStore.opened)
    assert signal.getsignal(signal.SIGINT) is before["sigint"]
    assert signal.getsignal(signal.SIGTERM) is before["sigterm"]
    assert not (home.path / RUNTIME_FILE).exists()
    claim = try_claim(home)  # what a second start takes first
    assert claim is not None, "the home's claim is still held"
    claim.release()


def state() -> dict[str, Any]:
    return {
        "children": children(),
        "threads": set(threading.enumerate()),
        "sigint": signal.getsignal(signal.SIGINT),
        "sigterm": signal.getsignal(signal.SIGTERM),
    }


def fail(step: str) -> Any:
    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise InjectedFailure(step)

    return failing


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_step_leaves_nothing_behind(
    home: NodeHome, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state()
    monkeypatch.setattr(NodeRuntime, step, fail(step))
    with pytest.raises(InjectedFailure), runtime(home):
        pytest.fail("the node started with a step failing")
    assert_nothing_left(home, before)
    if STEPS.index(step) > STEPS.index("_build_api"):
        assert len(RecordedStore.opened) == 1  # the store was open when the step failed


def test_a_failure_once_the_ledger_child_runs_stops_it(
    home: NodeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the ledger step: the child is up, then reading the consortium fails."""
    before = state()
    monkeypatch.setattr(Consortium, "load", fail("Consortium.load"))
    with pytest.raises(InjectedFailure), runtime(home):
        pytest.fail("the node started without its consortium")
    assert_nothing_left(home, before)


def test_a_failure_making_a_new_home_releases_its_claim(home: NodeHome) -> None:
    before = state()
    node = runtime(home)
    node.make_home = fail("make_home")
    with pytest.raises(InjectedFailure), node:
        pytest.fail("the node started on a home it could not make")
    assert_nothing_left(home, before)


def test_the_home_starts_and_serves_after_failed_starts(
    home: NodeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state()
    for step in ("_serve", "_start_read_replica"):  # those that started the most
        with monkeypatch.context() as patch:
            patch.setattr(NodeRuntime, step, fail(step))
            with pytest.raises(InjectedFailure), runtime(home):
                pass
    with runtime(home) as node:
        assert len(children() - before["children"]) == 2  # the ledger and the read replica
        assert node.replicas is not None
        assert node.replicas.replica is not None
        for url in (node.api_url, node.replicas.replica.url):
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        node.stop()
        node.serve()  # returns at once: it was told to stop
    assert_nothing_left(home, before)
    printed = node.out.file
    assert isinstance(printed, io.StringIO)
    assert "Stopping: REST API" in printed.getvalue()
