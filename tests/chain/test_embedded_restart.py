"""The embedded ledger keeps everything across a restart and opens at its stored head."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.errors import TransactionRefused
from chain.roles import Role
from tests.helpers import new_credit_code, new_signer


def test_restart_keeps_head_state_receipts_and_logs(tmp_path: Path) -> None:
    ledger = open_ledger("embedded", data_dir=tmp_path, dev=True)
    deployer = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], deployer.address)
    consortium = deploy_consortium(ledger, deployer, spec)
    consortium.save(tmp_path / "deployment.json")
    head = ledger.get_block("latest")
    balance = ledger.get_balance(deployer.address)
    admitted = keccak(text="MemberAdmitted(uint256,bytes32,string,uint256,address)")
    logs = ledger.get_logs({"fromBlock": 0, "toBlock": "latest", "topics": ["0x" + admitted.hex()]})
    assert len(logs) == 1
    receipt = ledger.get_transaction_receipt(logs[0]["transactionHash"])
    ledger.close()

    reopened = open_ledger("embedded", data_dir=tmp_path, dev=True)
    try:
        assert reopened.get_block("latest")["hash"] == head["hash"]
        assert reopened.get_balance(deployer.address) == balance
        assert (
            reopened.get_logs(
                {"fromBlock": 0, "toBlock": "latest", "topics": ["0x" + admitted.hex()]}
            )
            == logs
        )
        assert reopened.get_transaction_receipt(logs[0]["transactionHash"]) == receipt
        again = Consortium.load(reopened, tmp_path / "deployment.json")
        assert again.members.call("memberOf", deployer.address) == 1
        # and it keeps producing blocks on top of the stored head
        new_signer(reopened)
        assert reopened.block_number() == head["number"] + 1
    finally:
        reopened.close()


def test_nonce_gaps_replays_and_other_chains_are_refused(tmp_path: Path) -> None:
    ledger = open_ledger("embedded", data_dir=tmp_path, dev=True)
    try:
        sender = new_signer(ledger)
        base = {
            "to": Signer.create().address,
            "value": 1,
            "gas": 21_000,
            "chainId": ledger.chain_id,
            **ledger.fee_params(),
        }
        raw0, _ = sender.sign_transaction({**base, "nonce": 0})
        ledger.wait_for_transaction_receipt(ledger.send_raw_transaction(raw0))
        with pytest.raises(TransactionRefused, match="nonce too low"):
            ledger.send_raw_transaction(raw0)
        raw5, _ = sender.sign_transaction({**base, "nonce": 5})
        with pytest.raises(TransactionRefused, match="nonce too high: got 5, next is 1"):
            ledger.send_raw_transaction(raw5)
        other_chain, _ = sender.sign_transaction({**base, "nonce": 1, "chainId": 1})
        with pytest.raises(TransactionRefused, match="for chain 1"):
            ledger.send_raw_transaction(other_chain)
        assert ledger.get_transaction_count(sender.address) == 1
    finally:
        ledger.close()
