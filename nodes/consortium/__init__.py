"""``scf-node`` in consortium mode: the chain core of ``chain.consortium`` wired into a home.

- ``descriptor``: the network descriptor a founding institution hands to every other one
  (chain id, genesis, contracts, consortium CA, etcd, bootstrap sealers), and what a
  consortium home keeps of it;
- ``stack``: the parts a consortium ledger process runs beside its embedded node (etcd
  client, block log, allow-list, finality hook, election, replica);
- ``forward``: members' transactions sent to a node that is not minting, forwarded to
  the minter, signed with the node key;
- ``founding`` and ``joining``: what ``scf-node init --consortium`` and ``scf-node join``
  do;
- ``certificates``: the consortium CA (founding home only), etcd members' and nodes'
  certificates from it, by requests whose keys stay where they were made.

A home without a ``consortium`` entry in ``node.json`` never imports any of this: the
single node is unchanged (docs/decisions/0018, 0021-consortium-descriptor-join-forwarding).
"""
