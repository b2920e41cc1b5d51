"""Measure the ledger on split transfers of certificates: the same code as
``scf-node bench``.

Usage: ``python -m scripts.bench [--engine] [--transfers N] [--naive-transfers N] [--holders N]
[--clients N] [--readers N] [--rounds N] [--scale SMALL LARGE] [--scale-rounds N] [--quick]
[--json FILE]``; ``--overload [--steady-members N] [--flood-members N] [--flood-seconds S]``
floods a node instead (``scripts.bench.overload``).
"""

from __future__ import annotations

import typer

from nodes.commands.bench import bench


def main() -> None:
    typer.run(bench)


if __name__ == "__main__":
    main()
