"""Consortium mode's foundation: etcd's Raft log orders the blocks (SPEC section 9).

- ``etcd``: a small typed client of etcd's v3 API through its JSON gateway (httpx);
- ``election``: the lease-based election of the one minter;
- ``block_log``: the chain of committed blocks in etcd, appended with a compare-and-swap
  on the head that also fences a deposed minter, followed through a watch, and kept to a
  bounded window.

Blocks are opaque bytes in those three. The ledger's side (docs/decisions/0018):

- ``seal``: a block's seal (the minter's signature over its hash) and the log entry;
- ``allow_list``: who may seal the block after a parent (NodeRegistry at its state);
- ``minter``: ``EtcdFinality``, the embedded node's finality hook while it mints;
- ``replica``: following and importing the log, and switching between minter and verifier;
- ``retention``: the minter keeps etcd's window of blocks bounded;
- ``peers`` and ``catch_up``: blocks older than the window, served by the nodes' JSON-RPC
  (one machine) or their peer endpoint over mutual TLS (between institutions), and
  checked against the oldest block etcd keeps;
- ``tls``: the mutual TLS between nodes, with node certificates of the consortium CA;
- ``heartbeat``: each running node's signed role and head in etcd under a lease, which
  every institution's ``scf-node status`` reads (docs/decisions/0027).

The design is in docs/decisions/0012-consortium-on-etcd-raft.md, 0018, 0020 and 0023.

``etcd``, ``keys``, ``election`` and ``block_log`` import only the standard library, httpx
and ``chain.errors``; the ledger's side also imports ``chain.embedded``. Never imports
``api`` or ``nodes``.
"""
