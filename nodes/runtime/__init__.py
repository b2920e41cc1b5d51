"""A running node: its lifetime (``node.NodeRuntime``: every part started in order and
stopped in reverse, however the node ends), its processes (the ledger and the read
replica as children, spawned by ``spawn``; the API in this process, ``service``), how they
are supervised and placed on CPUs, and the ports they listen on. ``dev_node`` is a
development node started as a child process, for the demo, the benchmarks and the tests.

Below the command line: never imports ``nodes.commands`` or ``scripts``.
"""
