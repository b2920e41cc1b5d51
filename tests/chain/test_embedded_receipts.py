"""Receipts of the embedded ledger are web3.py's receipts: formatted only when a field other
than the status is read, and then equal in every way to what web3.py itself returns."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from hexbytes import HexBytes
from web3.datastructures import AttributeDict

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.contract import deploy_contract
from chain.governance import pass_proposal
from tests.helpers import new_signer


@pytest.fixture(scope="module")
def receipts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedLedger, dict[str, bytes]]]:
    """Transactions of each kind: a contract creation, a call with logs, a reverted call."""
    ledger = EmbeddedLedger(tmp_path_factory.mktemp("receipts") / "chain", dev=True)
    governor = new_signer(ledger)
    creation_nonce = ledger.get_transaction_count(governor.address, "latest")
    governance = deploy_contract(
        ledger, governor, "ConsortiumGovernance", [governor.address], [1], 100, 100, 1
    )
    _, passed = pass_proposal(
        governance, governor, [(governance, "setParameter", (b"\x01" * 32, 7))], "a parameter"
    )
    reverted = _send_reverting_call(
        ledger, governor, governance.address, governance.encode("pause")
    )
    hashes = {
        "creation": _hash_of(ledger, governor, creation_nonce),
        "logs": bytes(passed[-1]["transactionHash"]),
        "reverted": reverted,
    }
    yield ledger, hashes
    ledger.close()


def _send_reverting_call(ledger: EmbeddedLedger, signer: Signer, to: str, data: bytes) -> bytes:
    raw, tx_hash = signer.sign_transaction(
        {
            "to": to,
            "data": data,
            "value": 0,
            "gas": 100_000,
            "nonce": ledger.get_transaction_count(signer.address, "pending"),
            "chainId": ledger.chain_id,
            **ledger.fee_params(),
        }
    )
    ledger.send_raw_transaction(raw)
    assert ledger.wait_for_transaction_receipt(tx_hash)["status"] == 0  # pause() is onlySelf
    return tx_hash


def _hash_of(ledger: EmbeddedLedger, signer: Signer, nonce: int) -> bytes:
    """The hash of ``signer``'s transaction with ``nonce``, found in the blocks."""
    for number in range(ledger.node.head.block_number, -1, -1):
        for tx in ledger.node.sealed_block(number).block.transactions:
            if tx.nonce == nonce and tx.sender == bytes.fromhex(signer.address[2:]):
                return bytes(tx.hash)
    raise AssertionError("no such transaction")


@pytest.mark.parametrize("kind", ["creation", "logs", "reverted"])
def test_a_receipt_equals_web3_s_own_in_every_way(
    receipts: tuple[EmbeddedLedger, dict[str, bytes]], kind: str
) -> None:
    ledger, hashes = receipts
    tx_hash = hashes[kind]
    ours: Any = ledger.get_transaction_receipt(tx_hash)  # Any: read by attribute too
    web3s = ledger.w3.eth.get_transaction_receipt(
        HexBytes(tx_hash)
    )  # web3.py's whole request pipeline
    assert ours is not None
    assert ours["status"] == web3s["status"] == (0 if kind == "reverted" else 1)
    assert vars(ours) == {}  # the status alone formats nothing
    assert ours == web3s
    assert web3s == ours
    assert dict(ours) == dict(web3s)
    assert list(ours) == list(web3s)
    assert len(ours) == len(web3s)
    assert ours.logs == web3s["logs"]
    assert ours.blockNumber == web3s["blockNumber"]
    assert ours.status == web3s["status"]
    assert hash(ours) == hash(web3s)
    assert repr(ours) == repr(web3s)
    for duplicate in (copy.copy(ours), copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert type(duplicate) is AttributeDict
        assert duplicate == web3s
    if kind == "creation":
        assert ours["contractAddress"] is not None
    if kind == "logs":
        assert len(ours["logs"]) >= 2


def test_a_receipt_read_first_by_attribute_is_formatted_then(
    receipts: tuple[EmbeddedLedger, dict[str, bytes]],
) -> None:
    ledger, hashes = receipts
    ours: Any = ledger.get_transaction_receipt(hashes["logs"])
    assert ours is not None
    assert ours.transactionHash == hashes["logs"]
    assert "logs" in ours
    assert ours.get("nothing") is None
    with pytest.raises(AttributeError):
        _ = ours.nothing
    assert ours == ledger.w3.eth.get_transaction_receipt(HexBytes(hashes["logs"]))
