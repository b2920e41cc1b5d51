"""The ``rpc`` backend: any Ethereum JSON-RPC node over HTTP.

Hyperledger Besu or GoQuorum in production, anvil in tests. Reads, calls and
raw transactions are standard ``eth_`` methods. Development features use the
methods development nodes offer:

=================  ===========================================
``snapshot``       ``evm_snapshot``
``revert``         ``evm_revert`` (a snapshot is used up by it)
``increase_time``  ``evm_increaseTime``, then ``evm_mine``
``mine``           ``evm_mine``, once per block
``fund``           ``eth_getBalance``, ``anvil_setBalance``, ``evm_mine``
=================  ===========================================

A node without such a method answers JSON-RPC "method not found" (-32601);
that code, never the message text, becomes ``LedgerFeatureUnsupported``.
Transport failures (connection refused, timeout, HTTP error status) become
``LedgerError`` naming the node's URL. Nothing is retried here: whether a
request is safe to repeat is the transaction manager's decision.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests
from eth_typing import URI
from requests.adapters import HTTPAdapter
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from chain.errors import LedgerError, LedgerFeatureUnsupported, LedgerUnreachable
from chain.ledger import Web3Ledger

DEFAULT_URL = "http://127.0.0.1:8545"

# JSON-RPC 2.0: "The method does not exist / is not available."
METHOD_NOT_FOUND = -32601

# Enough pooled connections for the writers' threads to share one session.
_POOL_SIZE = 32


class _NodeProvider(HTTPProvider):
    """web3's HTTPProvider, with transport failures raised as ``LedgerError``."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except requests.RequestException as exc:
            url = str(self.endpoint_uri)
            raise LedgerUnreachable(
                f"the JSON-RPC node at {url} did not answer {method}: {type(exc).__name__}: {exc}",
                details={"url": url, "method": str(method)},
            ) from exc


class RpcLedger(Web3Ledger):
    """A ledger behind an Ethereum JSON-RPC endpoint at ``url``.

    ``timeout`` bounds each HTTP request in seconds (web3.py's default when None);
    ``token`` is sent as ``Authorization: Bearer <token>`` with every request (an
    scf-node JSON-RPC bound beyond loopback needs it: ``nodes.rpc_token``).
    """

    name: ClassVar[str] = "rpc"

    def __init__(
        self, url: str = DEFAULT_URL, timeout: float | None = None, token: str | None = None
    ) -> None:
        self.url = url
        self._session = requests.Session()
        if token is not None:
            self._session.headers["Authorization"] = f"Bearer {token}"
        adapter = HTTPAdapter(pool_maxsize=_POOL_SIZE)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._provider = _NodeProvider(
            URI(url),
            request_kwargs={} if timeout is None else {"timeout": timeout},
            session=self._session,
            exception_retry_configuration=None,
        )
        super().__init__(Web3(self._provider))

    def __repr__(self) -> str:
        return f"<RpcLedger {self.url}>"

    # ---- development features -------------------------------------------------------------
    def snapshot(self) -> str:
        """An opaque snapshot id; ``revert`` to it once."""
        return str(self._request("evm_snapshot", []))

    def revert(self, snapshot_id: Any) -> None:
        if self._request("evm_revert", [snapshot_id]) is not True:
            raise LedgerError(
                f"the JSON-RPC node at {self.url} has no snapshot {snapshot_id!r} "
                "(a snapshot can be reverted to only once)",
                details={"url": self.url, "snapshot": str(snapshot_id)},
            )

    def increase_time(self, seconds: int) -> None:
        self._request("evm_increaseTime", [int(seconds)])
        self.mine(1)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self._request("evm_mine", [])

    def fund(self, address: str, wei: int) -> None:
        """Add ``wei`` to the balance, then mine it into a block as a transfer would be."""
        account = Web3.to_checksum_address(address)
        balance = self.get_balance(account) + wei
        self._request("anvil_setBalance", [account, hex(balance)])
        self.mine(1)

    def close(self) -> None:
        self._session.close()

    # ---- plumbing ---------------------------------------------------------------------------
    def _send(self, method: str, params: list[Any]) -> RPCResponse | dict[str, Any]:
        """The node's JSON-RPC answer to ``method`` (transport failures: ``LedgerError``)."""
        return self._provider.make_request(RPCEndpoint(method), params)

    def _request(self, method: str, params: list[Any]) -> Any:
        """Send ``method`` as is and return its result; JSON-RPC errors become ledger errors."""
        response = self._send(method, params)
        error = response.get("error")
        if error is None:
            return response.get("result")
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        details = {"url": self.url, "method": method, "rpc_code": code, "rpc_message": message}
        if code == METHOD_NOT_FOUND:
            raise LedgerFeatureUnsupported(
                f"the JSON-RPC node at {self.url} does not offer {method}; snapshots, "
                "time travel, mining on demand and funding need a development node "
                "such as anvil",
                details=details,
            )
        raise LedgerError(
            f"{method} failed on the JSON-RPC node at {self.url}: {message} (code {code})",
            details=details,
        )
