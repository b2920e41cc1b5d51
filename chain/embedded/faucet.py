"""The development faucet: a well-known key funded at genesis of ``--dev`` ledgers, like
anvil's accounts. Its own module, so a client of a node (``chain.backends.scf_node``) has
the key without loading the node (py-evm)."""

from __future__ import annotations

from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

DEV_FAUCET_KEY = keccak(text="scf-chain development faucet")
DEV_FAUCET_BALANCE = 10**30
DEV_FAUCET_ADDRESS = PrivateKey(DEV_FAUCET_KEY).public_key.to_checksum_address()
