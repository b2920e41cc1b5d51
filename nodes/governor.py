"""A governor of the consortium signing through a home's transaction manager, and the
home's keystore it signs with: for the operator's commands and for the local consortium
launcher, which governs the same way in its own process."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.errors import ScfError
from chain.governance import Call, execution_failure, proposal_state
from nodes.connect import Connection
from nodes.home import NodeHome

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chain.accounts import Signer
    from chain.contract import ContractHandle
    from chain.txmanager import TransactionManager


def load_signer(home: NodeHome, keystore: Path | None, secret: str) -> Signer:
    from eth_account import Account

    from chain.accounts import Signer

    path = keystore or home.keystore
    try:
        encrypted = json.loads(path.read_text("utf-8"))
        return Signer.from_key(Account.decrypt(encrypted, secret))
    except FileNotFoundError:
        raise ScfError(f"no keystore at {path}") from None
    except ValueError as exc:  # eth-account: "MAC mismatch" for a wrong passphrase
        raise ScfError(f"cannot open the keystore {path}: {exc}") from None


@dataclass
class Governor:
    """A governor signing through the home's transaction manager (its store records every
    transaction, as the node's writes are recorded)."""

    connection: Connection
    signer: Signer
    txm: TransactionManager
    passphrase: str = ""  # what opened the keystore; custodial keys are encrypted with it
    # Another governance contract to act on than the deployment's (a migration's successor).
    on: ContractHandle | None = None

    @classmethod
    @contextmanager
    def of(cls, connection: Connection, signer: Signer, secret: str) -> Iterator[Governor]:
        from chain.txmanager import TransactionManager
        from chain.txstore import TxStore

        store = TxStore(connection.home.path / "transactions.db")
        try:
            yield cls(connection, signer, TransactionManager(connection.ledger, store), secret)
        finally:
            store.close()

    @property
    def governance(self) -> ContractHandle:
        return self.on or self.connection.consortium.governance

    def transact(self, handle: ContractHandle, fn: str, *args: Any) -> TxReceipt:
        data = handle.encode(fn, *args)
        gas = self.txm.estimate(self.signer.address, handle.address, data)  # reverts early
        return self.txm.transact(self.signer, handle.address, data, gas=gas)

    def propose(self, calls: Sequence[Call], description: str) -> tuple[int, TxReceipt]:
        targets = [h.address for h, _, _ in calls]
        datas = [h.encode(fn, *args) for h, fn, args in calls]
        receipt = self.transact(self.governance, "propose", targets, datas, description)
        proposal_id = int(self.governance.event_args(receipt, "ProposalCreated")["proposalId"])
        return proposal_id, receipt

    def propose_and_settle(self, calls: Sequence[Call], description: str) -> dict[str, Any]:
        """Propose ``calls``; where the proposal stands after it (``outcome``): in admin
        mode it executed at once, in a committee it waits for votes."""
        proposal_id, receipt = self.propose(calls, description)
        return self.outcome(proposal_id, receipt)

    def act_on(self, fn: str, proposal_id: int, *args: Any) -> dict[str, Any]:
        """Send ConsortiumGovernance's ``fn`` (vote, execute, retally, revoke) on a proposal;
        where it stands after (``outcome``)."""
        receipt = self.transact(self.governance, fn, proposal_id, *args)
        return self.outcome(proposal_id, receipt)

    def outcome(self, proposal_id: int, receipt: TxReceipt) -> dict[str, Any]:
        """Where a proposal stands after ``receipt``; a failed execution raises its error."""
        failure = execution_failure(self.governance, receipt)
        state = proposal_state(self.governance, proposal_id)
        if failure is not None:
            raise ScfError(
                f"proposal {proposal_id} was approved but executing it failed: "
                f"{failure.message}; fix the cause, then `scf-node proposal execute "
                f"{proposal_id}`",
                details={"proposal_id": proposal_id, "error": failure.error_name},
            )
        return {
            "proposal_id": proposal_id,
            "state": state.name,
            "transaction": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block": int(receipt["blockNumber"]),
        }
