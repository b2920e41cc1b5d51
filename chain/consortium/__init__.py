"""Consortium mode's foundation: etcd's Raft log orders the blocks (SPEC section 9).

- ``etcd``: a small typed client of etcd's v3 API through its JSON gateway (httpx);
- ``election``: the lease-based election of the one minter;
- ``block_log``: the chain of committed blocks in etcd, appended with a compare-and-swap
  on the head that also fences a deposed minter, followed through a watch, and kept to a
  bounded window.

Blocks are opaque bytes here: sealing, verifying and re-executing them is the ledger's
business. The design is in docs/decisions/0012-consortium-on-etcd-raft.md.

May import: the standard library, httpx and ``chain.errors``. Never imports ``api`` or
``nodes``.
"""
