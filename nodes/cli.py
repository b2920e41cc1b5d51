"""The ``scf-node`` command line: one module per command or noun in ``nodes.commands``.

Every command module keeps its top-level imports light (Typer, Rich and the options),
and imports web3, py-evm, the API and the read model inside the command that uses
them: ``--help`` and the quick commands answer without loading what they do not run.
"""

from __future__ import annotations

import os

import typer

from nodes.commands import member, migrate, node, proposal
from nodes.commands.backup import backup, restore
from nodes.commands.bench import bench
from nodes.commands.demo import demo_command
from nodes.commands.init import init
from nodes.commands.join import join
from nodes.commands.start import start
from nodes.commands.status import status
from nodes.commands.verify import verify

app = typer.Typer(
    help="Run and administer an SCF Chain consortium node.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # reflow docstrings: their line breaks are for the source
)
app.command("init")(init)
app.command("join")(join)
app.command("start")(start)
app.command("verify")(verify)
app.command("bench")(bench)
app.command("demo")(demo_command)
app.add_typer(member.app, name="member")
app.add_typer(proposal.app, name="proposal")
app.add_typer(node.app, name="node")
app.add_typer(migrate.app, name="migrate")
app.command("status")(status)
app.command("backup")(backup)
app.command("restore")(restore)


@app.callback()
def main() -> None:
    """SCF Chain node scripts."""
    # Everything a node writes (keys, databases, the ledger, its runtime files) is its
    # operator's alone: directories 0700, files 0600; the ledger and replica inherit it
    os.umask(0o077)
