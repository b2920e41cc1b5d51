"""A failed transaction's custom error, read back from the embedded node exactly: the
producer keeps what each failed transaction returned, so a revert caused by an earlier
transaction of the same block is named right (a replay on the parent state cannot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.backends.embedded import EmbeddedLedger
from chain.contract import deploy_contract
from chain.errors import ContractRevert
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.helpers import new_signer, second_revoke_refused_in_one_block

WEEK = 7 * 86_400
GAS = 200_000


def test_a_revert_caused_by_the_same_block_is_named_exactly(tmp_path: Path) -> None:
    # a long block window, so both revokes land in one block
    ledger = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.5)
    store = TxStore(tmp_path / "transactions.db")
    try:
        txm = TransactionManager(ledger, store, receipt_timeout=10)
        mined, _ = second_revoke_refused_in_one_block(ledger, txm)
        assert ledger.node.revert_output(bytes(mined["transactionHash"])) == b""  # not failed
    finally:
        store.close()
        ledger.close()


def test_blocks_read_back_from_the_store_fall_back_to_a_replay(tmp_path: Path) -> None:
    ledger = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.005)
    store = TxStore(tmp_path / "transactions.db")
    try:
        governor = new_signer(ledger)
        governance = deploy_contract(
            ledger, governor, "ConsortiumGovernance", [governor.address], [1], 51, 51, WEEK
        )
        txm = TransactionManager(ledger, store, receipt_timeout=10)
        pending = txm.submit(governor, governance.address, governance.encode("revoke", 7), gas=GAS)
        with pytest.raises(ContractRevert) as kept:
            txm.wait(pending)
        ledger.node.recent.clear()  # as after a restart: the block comes from the store
        assert ledger.node.revert_output(pending.tx_hash) is None
        with pytest.raises(ContractRevert) as replayed:
            txm.wait(pending)
        assert kept.value.error_name == replayed.value.error_name == "GovernanceProposalNotFound"
        assert kept.value.error_args == replayed.value.error_args == {"proposalId": 7}
    finally:
        store.close()
        ledger.close()
