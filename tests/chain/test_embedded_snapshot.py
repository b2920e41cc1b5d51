"""evm_snapshot / evm_revert on the embedded ledger: a revert makes an older block the head."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.backends.embedded import EmbeddedLedger
from chain.contract import send_transaction
from chain.errors import LedgerError, LedgerFeatureUnsupported
from tests.helpers import new_signer


def _ledger(path: Path, dev: bool = True) -> EmbeddedLedger:
    ledger = open_ledger("embedded", data_dir=path, dev=dev)
    assert isinstance(ledger, EmbeddedLedger)
    return ledger


def test_revert_forgets_blocks_receipts_and_pending_nonces(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    try:
        sender, receiver = new_signer(ledger), Signer.create()
        head = ledger.get_block("latest")
        snapshot = ledger.snapshot()
        receipt = send_transaction(
            ledger, sender, to=receiver.address, data=b"", gas=21_000, value=7
        )
        reverted_block = ledger.get_block("latest")
        assert ledger.get_transaction_count(sender.address) == 1

        ledger.revert(snapshot)

        assert ledger.get_block("latest")["hash"] == head["hash"]
        assert ledger.get_transaction_receipt(receipt["transactionHash"]) is None
        reverted_hash = "0x" + bytes(reverted_block["hash"]).hex()
        assert ledger.handler.handle("eth_getBlockByHash", [reverted_hash]) is None
        assert ledger.get_balance(receiver.address) == 0
        assert ledger.get_transaction_count(sender.address, "pending") == 0
        # the same nonce is usable again, and the chain grows from the snapshot's block
        again = send_transaction(ledger, sender, to=receiver.address, data=b"", gas=21_000, value=9)
        assert again["blockNumber"] == head["number"] + 1
        assert ledger.get_balance(receiver.address) == 9
    finally:
        ledger.close()

    reopened = _ledger(tmp_path)
    try:  # the rewind was committed to the store
        assert reopened.get_balance(receiver.address) == 9
        assert reopened.get_transaction_receipt(receipt["transactionHash"]) is None
        assert reopened.get_transaction_receipt(again["transactionHash"]) is not None
    finally:
        reopened.close()


def test_reverting_to_an_earlier_snapshot_uses_up_the_later_ones(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    try:
        first = ledger.snapshot()
        ledger.mine(2)
        second = ledger.snapshot()
        ledger.revert(first)
        with pytest.raises(LedgerError, match="no snapshot") as info:
            ledger.revert(second)
        assert not isinstance(info.value, LedgerFeatureUnsupported)
        with pytest.raises(LedgerError, match="no snapshot"):
            ledger.revert(first)
    finally:
        ledger.close()


def test_snapshots_need_dev_mode(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, dev=False)
    try:
        with pytest.raises(LedgerFeatureUnsupported, match="--dev"):
            ledger.snapshot()
        with pytest.raises(LedgerFeatureUnsupported, match="--dev"):
            ledger.revert("0x1")
    finally:
        ledger.close()
