"""The embedded ledger keeps everything across a restart and opens at its stored head."""

from __future__ import annotations

import time
from pathlib import Path

import lmdb
import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.clock import TIME_OFFSET_KEY
from chain.embedded.node import store_dir
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


DAY = 86_400


class Clock:
    """This machine's clock, moved on by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


def test_time_travel_survives_a_restart_and_block_time_goes_on(
    tmp_path: Path, clock: Clock
) -> None:
    ledger = open_ledger("embedded", data_dir=tmp_path, dev=True)
    ledger.increase_time(30 * DAY)  # evm_increaseTime, then a block
    head = ledger.get_block("latest")
    assert head["timestamp"] == int(clock.now) + 30 * DAY
    ledger.close()

    clock.advance(10)
    reopened = open_ledger("embedded", data_dir=tmp_path, dev=True)
    try:
        reopened.mine()
        assert reopened.get_block("latest")["timestamp"] == head["timestamp"] + 10
    finally:
        reopened.close()


def test_a_ledger_ahead_of_the_clock_goes_on_from_its_head(tmp_path: Path, clock: Clock) -> None:
    """A head stamped ahead of this machine's clock and no offset stored (a ledger kept
    before the offset was, or a clock set back): blocks go on from the head's second."""
    ledger = open_ledger("embedded", data_dir=tmp_path, dev=True)
    ledger.increase_time(DAY)
    head = ledger.get_block("latest")
    ledger.close()
    with lmdb.open(str(store_dir(tmp_path))) as env, env.begin(write=True) as txn:
        assert txn.delete(TIME_OFFSET_KEY)

    clock.advance(5)
    reopened = open_ledger("embedded", data_dir=tmp_path, dev=True)
    try:
        reopened.mine()
        assert reopened.get_block("latest")["timestamp"] == head["timestamp"]
        clock.advance(3)
        reopened.mine()
        assert reopened.get_block("latest")["timestamp"] == head["timestamp"] + 3
    finally:
        reopened.close()
