"""Backends are picked by name; each one passes the ledger conformance class."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from web3.types import TxParams, Wei

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.backends.tester import TesterLedger
from chain.embedded.calls import estimate_within_block
from chain.errors import LedgerError, LedgerFeatureUnsupported, UnknownBackendError
from chain.ledger import Ledger
from tests.chain.anvil import anvil
from tests.chain.ledger_conformance import LedgerConformance


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(UnknownBackendError, match=r"unknown ledger backend 'besu'.*tester") as info:
        open_ledger("besu")
    assert info.value.details["known"] == ["tester"] or "tester" in info.value.details["known"]


class TestTesterBackend(LedgerConformance):
    @pytest.fixture(scope="class")
    def backend(self) -> Iterator[Ledger]:
        ledger = open_ledger("tester")
        yield ledger
        ledger.close()


class TestEmbeddedBackend(LedgerConformance):
    @pytest.fixture(scope="class")
    def backend(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
        ledger = open_ledger("embedded", data_dir=tmp_path_factory.mktemp("embedded"), dev=True)
        yield ledger
        ledger.close()


class TestRpcBackend(LedgerConformance):
    @pytest.fixture(scope="class")
    def backend(self) -> Iterator[Ledger]:
        with anvil() as url:
            ledger = open_ledger("rpc", url=url)
            yield ledger
            ledger.close()

    def test_mine_adds_blocks(self, backend: Ledger) -> None:
        before = backend.block_number()
        backend.mine(3)
        assert backend.block_number() == before + 3

    def test_a_snapshot_is_used_up_by_reverting_to_it(self, backend: Ledger) -> None:
        snapshot = backend.snapshot()
        backend.revert(snapshot)
        with pytest.raises(LedgerError, match="no snapshot") as info:
            backend.revert(snapshot)
        assert not isinstance(info.value, LedgerFeatureUnsupported)


class _NodeWithoutDevMethods(BaseHTTPRequestHandler):
    """Answers like Besu: a chain id and balances, JSON-RPC "Method not found" for the rest."""

    results: ClassVar[dict[str, str]] = {"eth_chainId": "0x539", "eth_getBalance": "0x0"}

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
        if request["method"] in self.results:
            reply["result"] = self.results[request["method"]]
        else:
            reply["error"] = {"code": -32601, "message": "Method not found"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def node_without_dev_methods() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NodeWithoutDevMethods)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


DEV_FEATURES: dict[str, tuple[Callable[[Ledger], object], str]] = {
    "snapshot": (lambda ledger: ledger.snapshot(), "evm_snapshot"),
    "revert": (lambda ledger: ledger.revert("0x1"), "evm_revert"),
    "increase_time": (lambda ledger: ledger.increase_time(60), "evm_increaseTime"),
    "mine": (lambda ledger: ledger.mine(), "evm_mine"),
    "fund": (lambda ledger: ledger.fund(Signer.create().address, 1), "anvil_setBalance"),
}


@pytest.mark.parametrize("feature", sorted(DEV_FEATURES))
def test_rpc_node_without_a_dev_method_reports_the_feature_unsupported(
    node_without_dev_methods: str, feature: str
) -> None:
    use, method = DEV_FEATURES[feature]
    ledger = open_ledger("rpc", url=node_without_dev_methods)
    assert ledger.chain_id == 0x539
    with pytest.raises(LedgerFeatureUnsupported) as info:
        use(ledger)
    assert info.value.details["method"] == method
    assert method in info.value.message
    assert node_without_dev_methods in info.value.message


def _unused_loopback_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_rpc_unreachable_node_is_a_ledger_error_naming_the_url() -> None:
    url = _unused_loopback_url()
    ledger = open_ledger("rpc", url=url)
    with pytest.raises(LedgerError) as info:
        ledger.block_number()
    assert url in info.value.message
    assert info.value.details["url"] == url


def test_rpc_silent_node_times_out_once_without_retries() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        ledger = open_ledger("rpc", url=url, timeout=0.2)
        with pytest.raises(LedgerError) as info:
            ledger.get_balance(Signer.create().address)
        assert isinstance(info.value.__cause__, requests.Timeout)
        assert url in info.value.message
        # web3.py's default would retry a timed-out read five times, each on a new connection
        assert _connections_waiting(silent) == 1


def _connections_waiting(listener: socket.socket) -> int:
    """Connections made to ``listener`` that it has not accepted yet (it takes them now)."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def test_the_tester_backend_keeps_eth_testers_own_estimator_only_when_asked() -> None:
    """The test backend estimates gas with the node's search (fast); the benchmark's naive
    baseline asks for eth-tester as it comes, and a fast backend made before it in the
    same process must not change that (eth-tester configures a chain class per backend)."""
    fast = TesterLedger()
    stock = TesterLedger(stock_gas_estimates=True)
    try:
        fast_chain = fast.tester.backend.chain
        stock_chain = stock.tester.backend.chain
        assert fast_chain.gas_estimator is estimate_within_block
        assert type(fast_chain).gas_estimator is estimate_within_block
        assert stock_chain.gas_estimator is not estimate_within_block
        assert type(stock_chain).gas_estimator is not estimate_within_block
        transfer: TxParams = {
            "from": fast.tester.get_accounts()[0],
            "to": "0x" + "11" * 20,
            "value": Wei(1),
        }
        assert fast.estimate_gas(transfer) == stock.estimate_gas(transfer) == 21_000
    finally:
        fast.close()
        stock.close()
