"""A web3.py provider that answers from an embedded node in the same process."""

from __future__ import annotations

import itertools
from typing import Any

from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from chain.embedded.rpc import RpcError, RpcHandler


class NodeProvider(BaseProvider):
    def __init__(self, handler: RpcHandler) -> None:
        super().__init__()
        self.handler = handler
        self._ids = itertools.count()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        request_id = next(self._ids)
        try:
            result = self.handler.handle(method, list(params or []))
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": request_id, "error": exc.as_json()}  # type: ignore[typeddict-item]
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True
