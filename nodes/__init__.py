"""Node scripts: the ``scf-node`` command line for consortium operators.

Nodes assemble the platform: they may import ``chain`` and ``api`` (the app, its read
model and services, to run and administer them); neither ``chain`` nor ``api`` imports
``nodes``.
"""
