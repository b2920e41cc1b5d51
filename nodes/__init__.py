"""Node scripts: the ``scf-node`` command line for consortium operators.

May import ``chain``; never ``api`` internals other than its app factory.
"""
