"""Node scripts: the ``scf-node`` command line for consortium operators, and what it runs.

- ``nodes.cli`` and ``nodes.commands``: the command line (parse, call, print);
- ``nodes.runtime``: a running node: its lifetime, processes, supervision, placement,
  ports, the API service;
- ``nodes.pki``: the consortium's CA and a home's certificates;
- ``nodes.backup``, ``nodes.home``, ``nodes.connect``: a home, its backups, and reaching
  its ledger whether or not the node runs; ``nodes.demo``: the story ``scf-node demo``
  tells.

Nodes assemble the platform: they may import ``chain`` and ``api`` (the app, its read
model and services, to run and administer them); neither ``chain`` nor ``api`` imports
``nodes``. Only the command line may import ``scripts`` (``scf-node bench``), and nothing
else in ``nodes`` imports the command line (docs/decisions/0014, ``tests/test_layers.py``).
"""
