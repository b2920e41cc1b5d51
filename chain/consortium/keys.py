"""Where a chain lives in etcd: every key under ``/scf/<chain id>/``.

- ``genesis``: the genesis block's hash (32 bytes), written once by ``BlockLog.initialize``;
- ``head``: ``<height>:<hash hex>`` of the last committed block (height 0: the genesis);
- ``blocks/<height, 20 digits>``: a committed block's bytes; zero-padded so that key order
  is height order and a range of keys is a range of heights;
- ``oldest``: the lowest height still kept after retention (absent: 1);
- ``minter``: the election key, attached to the minter's lease; its value is the minter's
  JSON-RPC endpoint;
- ``nodes/<node id hex>``: a running node's heartbeat (``chain.consortium.heartbeat``),
  attached to that node's lease.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.consortium.etcd import prefix_end

HEIGHT_DIGITS = 20  # 2**64 has 20 decimal digits


@dataclass(frozen=True)
class ChainKeys:
    chain_id: int

    def __post_init__(self) -> None:
        if not 0 < self.chain_id < 2**64:
            raise ValueError(f"a chain id is a positive 64-bit integer, not {self.chain_id}")

    @property
    def prefix(self) -> bytes:
        return f"/scf/{self.chain_id}/".encode()

    @property
    def genesis(self) -> bytes:
        return self.prefix + b"genesis"

    @property
    def head(self) -> bytes:
        return self.prefix + b"head"

    @property
    def oldest(self) -> bytes:
        return self.prefix + b"oldest"

    @property
    def minter(self) -> bytes:
        return self.prefix + b"minter"

    @property
    def blocks(self) -> bytes:
        return self.prefix + b"blocks/"

    @property
    def blocks_end(self) -> bytes:
        return prefix_end(self.blocks)

    @property
    def heartbeats(self) -> bytes:
        return self.prefix + b"nodes/"

    @property
    def heartbeats_end(self) -> bytes:
        return prefix_end(self.heartbeats)

    def heartbeat(self, node_id: bytes) -> bytes:
        if len(node_id) != 32:
            raise ValueError(f"a node id is 32 bytes, not {len(node_id)}")
        return self.heartbeats + node_id.hex().encode()

    def block(self, height: int) -> bytes:
        if not 0 <= height < 10**HEIGHT_DIGITS:
            raise ValueError(f"block height out of range: {height}")
        return self.blocks + str(height).zfill(HEIGHT_DIGITS).encode()

    def height_of(self, key: bytes) -> int:
        """The height in a ``blocks/`` key."""
        if not key.startswith(self.blocks):
            raise ValueError(f"not a block key of chain {self.chain_id}: {key!r}")
        return int(key[len(self.blocks) :])
