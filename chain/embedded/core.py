"""The embedded ledger as a process that only serves JSON-RPC needs it: the node, its
JSON-RPC handler and node-level permissioning, without web3.py.

``chain.backends.embedded.EmbeddedLedger`` puts the ``Ledger`` interface (web3.py) on top
of this. ``scf-node start``'s ledger process serves JSON-RPC and signs nothing, so it opens
only this: web3.py and eth-account (which web3.py loads) cost that process about half a
second of CPU at every start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chain.embedded.calls import DEFAULT_MAX_CALL_GAS, DEFAULT_MAX_CALL_SECONDS
from chain.embedded.faucet import DEV_FAUCET_ADDRESS, DEV_FAUCET_BALANCE
from chain.embedded.finality import Finality
from chain.embedded.node import EmbeddedNode, NodeConfig, canonical
from chain.embedded.permissions import MemberAdmission
from chain.embedded.rpc import RpcHandler
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS


@dataclass
class EmbeddedCore:
    """A started embedded node and the JSON-RPC handler that answers for it."""

    node: EmbeddedNode
    handler: RpcHandler
    dev: bool

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        chain_id: int = 8_888,
        dev: bool = False,
        block_time: float = 0.05,
        block_max_transactions: int = 500,
        deployment: Path | str | None = None,
        window_from_arrival: bool = False,
        max_transaction_gas: int = DEFAULT_MAX_TRANSACTION_GAS,
        max_call_gas: int = DEFAULT_MAX_CALL_GAS,
        max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS,
        genesis_timestamp: int | None = None,
        finality: Finality | None = None,
    ) -> EmbeddedCore:
        """Open (or create) the ledger in ``data_dir`` and start its block producer; the
        options are ``EmbeddedLedger``'s."""
        config = NodeConfig(
            data_dir=Path(data_dir),
            chain_id=chain_id,
            block_time=block_time,
            block_max_transactions=block_max_transactions,
            window_from_arrival=window_from_arrival,
            max_transaction_gas=max_transaction_gas,
            max_call_gas=max_call_gas,
            max_call_seconds=max_call_seconds,
            genesis_alloc={canonical(DEV_FAUCET_ADDRESS): DEV_FAUCET_BALANCE} if dev else {},
            genesis_timestamp=genesis_timestamp,
            finality=finality,
        )
        node = EmbeddedNode(config)
        node.start()
        core = cls(node, RpcHandler(node, dev=dev), dev)
        if deployment is not None and Path(deployment).exists():
            payload = json.loads(Path(deployment).read_text("utf-8"))
            contracts = payload["contracts"]
            core.admit_only_members(contracts["MemberRegistry"], contracts["ConsortiumGovernance"])
            core.retire_contracts(payload.get("retired", {}).values())
        return core

    def admit_only_members(self, members: str, governance: str) -> None:
        """Node-level permissioning from now on: only active members' accounts and governors
        may send transactions (in --dev the faucet too, so tests and demos can fund accounts)."""
        exempt = [DEV_FAUCET_ADDRESS] if self.dev else []
        self.node.admission = MemberAdmission(self.handler, members, governance, exempt=exempt)

    def retire_contracts(self, addresses: Iterable[str]) -> None:
        """Refuse every transaction to ``addresses`` from now on: business contracts a
        governance-adopted import replaced (chain/migration.py, the deployment's "retired")."""
        self.node.retired = frozenset(canonical(a) for a in addresses)

    def close(self) -> None:
        """Seal what is queued and close the store."""
        self.node.stop()
