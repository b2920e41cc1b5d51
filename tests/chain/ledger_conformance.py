"""One conformance test class that every ledger backend passes (eth-tester's
``BaseTestBackendDirect`` idea): subclass it and provide a ``backend`` fixture."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract, send_transaction
from chain.errors import ContractRevert, ReceiptTimeout, TransactionRefused
from chain.ledger import Ledger
from tests.helpers import new_signer, reverts

WEEK = 7 * 86_400


def _governance(ledger: Ledger, governor: Signer) -> ContractHandle:
    return deploy_contract(
        ledger, governor, "ConsortiumGovernance", [governor.address], [1], 51, 51, WEEK
    )


class LedgerConformance:
    """What the platform relies on from any ledger."""

    def test_chain_id_and_blocks(self, backend: Ledger) -> None:
        assert backend.chain_id > 0
        before = backend.block_number()
        new_signer(backend)
        assert backend.block_number() > before
        assert backend.get_block("latest")["number"] == backend.block_number()
        latest = backend.get_block("latest")
        assert backend.block_timestamp(int(latest["number"])) == int(latest["timestamp"])

    def test_signed_value_transfer(self, backend: Ledger) -> None:
        sender, receiver = new_signer(backend), Signer.create()
        receipt = send_transaction(
            backend, sender, to=receiver.address, data=b"", gas=21_000, value=12_345
        )
        assert receipt["status"] == 1
        assert backend.get_balance(receiver.address) == 12_345
        assert backend.get_transaction_count(sender.address) == 1
        again = backend.get_transaction_receipt(receipt["transactionHash"])
        assert again is not None
        assert again["blockNumber"] == receipt["blockNumber"]

    def test_a_transaction_is_read_back_as_sent(self, backend: Ledger) -> None:
        sender, receiver = new_signer(backend), Signer.create()
        receipt = send_transaction(
            backend, sender, to=receiver.address, data=b"\x01\x02", gas=30_000, value=7
        )
        sent = backend.get_transaction(bytes(receipt["transactionHash"]))
        assert sent is not None
        assert str(sent["from"]).lower() == sender.address.lower()
        assert str(sent["to"]).lower() == receiver.address.lower()
        assert bytes(sent["input"]) == b"\x01\x02"
        assert int(sent["blockNumber"]) == int(receipt["blockNumber"])
        assert backend.get_transaction(b"\x11" * 32) is None

    def test_deploy_call_and_logs(self, backend: Ledger) -> None:
        governor = new_signer(backend)
        governance = _governance(backend, governor)
        assert len(backend.get_code(governance.address)) > 0
        assert governance.call("weightOf", governor.address) == 1
        data = governance.encode("setVotingPeriod", 3600)
        receipt = governance.transact(
            governor, "propose", [governance.address], [data], "shorter votes"
        )
        assert governance.call("votingPeriod") == 3600
        topic = keccak(text="ProposalExecuted(uint256)")
        logs = backend.get_logs(
            {
                "address": governance.address,
                "fromBlock": receipt["blockNumber"],
                "toBlock": "latest",
                "topics": ["0x" + topic.hex()],
            }
        )
        assert len(logs) == 1
        assert int.from_bytes(bytes(logs[0]["topics"][1]), "big") == 1

    def test_call_revert_is_decoded_into_the_custom_error(self, backend: Ledger) -> None:
        governor, stranger = new_signer(backend), new_signer(backend)
        governance = _governance(backend, governor)
        with reverts("GovernanceUnauthorizedAccount", stranger.address):
            governance.call(
                "propose", [governance.address], [b"\x00"], "x", sender=stranger.address
            )

    def test_mined_revert_is_decoded_from_the_receipt(self, backend: Ledger) -> None:
        governor, stranger = new_signer(backend), new_signer(backend)
        governance = _governance(backend, governor)
        with reverts("GovernanceOnlySelf", stranger.address) as info:
            governance.transact(stranger, "setVotingPeriod", 5, gas=200_000)
        assert isinstance(info.value, ContractRevert)
        assert info.value.tx_hash is not None
        receipt = backend.get_transaction_receipt(info.value.tx_hash)
        assert receipt is not None
        assert receipt["status"] == 0

    def test_waiting_for_an_unknown_transaction_times_out(self, backend: Ledger) -> None:
        with pytest.raises(ReceiptTimeout, match="no receipt"):
            backend.wait_for_transaction_receipt(b"\x11" * 32, timeout=0.05)

    def test_snapshot_and_revert(self, backend: Ledger) -> None:
        account = Signer.create()
        snapshot = backend.snapshot()
        backend.fund(account.address, 10**18)
        assert backend.get_balance(account.address) == 10**18
        backend.revert(snapshot)
        assert backend.get_balance(account.address) == 0

    def test_time_travel(self, backend: Ledger) -> None:
        before = int(backend.get_block("latest")["timestamp"])
        backend.increase_time(30 * 86_400)
        assert int(backend.get_block("latest")["timestamp"]) >= before + 30 * 86_400

    def test_a_reused_nonce_is_refused_as_too_low(self, backend: Ledger) -> None:
        sender, receiver = new_signer(backend), Signer.create()
        send_transaction(backend, sender, to=receiver.address, data=b"", gas=21_000, value=1)
        stale = {
            "to": receiver.address,
            "value": 2,
            "gas": 21_000,
            "nonce": 0,
            "chainId": backend.chain_id,
            **backend.fee_params(),
        }
        raw, _ = sender.sign_transaction(stale)
        with pytest.raises(TransactionRefused, match=r"(?i)nonce too low"):
            backend.send_raw_transaction(raw)
