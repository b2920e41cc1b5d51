"""``python -m nodes`` is ``scf-node``."""

from nodes.cli import app

app(prog_name="scf-node")
