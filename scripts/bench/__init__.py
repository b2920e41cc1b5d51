"""The benchmarks of ``scf-node bench`` (docs/benchmarks.md): how fast the platform runs
its workload, and how a node holds under a flood.

``benchmark.run_benchmark`` runs the measured paths (``engine``, ``rest``, ``scale`` on
``workload``; figures and targets in ``results``); ``overload.run_overload`` floods a node
(``flood``, checked by ``overload_check``, reported by ``overload_results``).

A developer tool, not part of a running node: it may import ``chain``, ``api`` and
``nodes`` (it starts nodes as a user does); nothing below the command line imports it
(docs/decisions/0014). ``scf-node bench`` and ``python -m scripts.bench`` take its options.
"""
