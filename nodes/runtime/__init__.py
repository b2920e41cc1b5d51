"""A running node: its processes (the ledger, the API in this process, the read replica),
how they are started, supervised and placed on CPUs, the ports they listen on, and the
REST API service over a home. ``nodes.runtime.child`` is a development node started as
a child process, for the demo, the benchmarks and the tests.

Below the command line: never imports ``nodes.commands`` or ``scripts``.
"""
