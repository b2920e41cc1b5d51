"""Developer scripts: compiling contracts, the gas table, the benchmarks (``scripts.bench``).

May import ``chain``, ``api`` and ``nodes``; only the command line (``nodes.cli``) imports
``scripts`` (docs/decisions/0014).
"""
