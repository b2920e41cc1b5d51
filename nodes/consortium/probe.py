"""This node's part in the consortium, as the API shows it (``/healthz``, ``/metrics``).

The API reaches its ledger over JSON-RPC: ``scf_consortium`` with ``brief`` answers from
what the ledger process knows (its role, whether it halted, its head, the minter it last
saw), without a round trip to etcd.
"""

from __future__ import annotations

from typing import Any

from chain.errors import LedgerError
from chain.ledger import Ledger


class ConsortiumProbe:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __call__(self) -> dict[str, Any]:
        from web3.types import RPCEndpoint

        w3 = getattr(self.ledger, "w3", None)
        if w3 is None:
            raise LedgerError("this ledger has no consortium status")
        answer = w3.provider.make_request(RPCEndpoint("scf_consortium"), ["brief"])
        result = answer.get("result")
        if not isinstance(result, dict):
            raise LedgerError(f"the ledger gave no consortium status: {answer.get('error')}")
        return result
