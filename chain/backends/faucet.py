"""Funding from the development faucet (``chain.embedded.faucet``), for any ledger whose
genesis holds it: the embedded one, or a ``--dev`` node reached over JSON-RPC."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from chain.embedded.faucet import DEV_FAUCET_KEY
from chain.ledger import Ledger


def fund_from_faucet(ledger: Ledger, address: str, wei: int) -> None:
    """Send ``wei`` to ``address`` from the development faucet and wait for the block (a
    ledger without the faucet's genesis balance refuses it)."""
    faucet = Account.from_key(DEV_FAUCET_KEY)
    tx = {
        "to": Web3.to_checksum_address(address),
        "value": wei,
        "gas": 21_000,
        "nonce": ledger.get_transaction_count(faucet.address, "pending"),
        "chainId": ledger.chain_id,
        **ledger.fee_params(),
    }
    signed = faucet.sign_transaction(tx)
    ledger.wait_for_transaction_receipt(ledger.send_raw_transaction(bytes(signed.raw_transaction)))
