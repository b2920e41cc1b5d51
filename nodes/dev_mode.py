"""What ``scf-node start --dev`` opens up, said loudly when a node starts that way.

Development mode trades safety for convenience; an operator who runs it by mistake must
not miss it. ``start`` prints ``warning_panel()`` on stderr and logs ``LOG_LINE``;
``/healthz`` (``dev_mode``) and ``scf-node status`` show it while the node runs. A home
made without ``--dev`` never starts with it (``nodes.commands.start``).
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.panel import Panel

log = logging.getLogger("nodes.dev_mode")

TITLE = "DEVELOPMENT MODE (--dev): not for real money"
# what a caller who reaches the node can do that it could not without --dev
OPENED = (
    "the development faucet's private key is public (derived from a fixed phrase in the "
    "source, chain.backends.embedded), holds a huge balance and is exempt from the "
    "permissioning allow-list: anyone can send transactions with it",
    "evm_snapshot, evm_revert, evm_increaseTime and evm_mine are open on the JSON-RPC to "
    "any caller that reaches it: they rewind the chain's head and move its clock "
    "(every maturity and deadline with it); on a consortium node only the minter's "
    "evm_mine, whose block goes through the log",
    "every keystore (the governor's, the node's, members' accounts) is sealed with the "
    "fixed development passphrase, at a small scrypt work factor",
)
LOG_LINE = (
    "development mode (--dev): the faucet key is public and exempt from permissioning; "
    "evm_snapshot/evm_revert/evm_increaseTime/evm_mine are open on the JSON-RPC; "
    "keystores use the fixed development passphrase"
)


def warning_panel() -> Panel:
    lines = "\n".join(f"• {item}" for item in OPENED)
    return Panel(
        f"{lines}\n\nRun a production node from a home made without --dev.",
        title=f"[bold]{TITLE}[/bold]",
        border_style="bold red",
    )


def announce(stderr: Console) -> None:
    """The warning on ``stderr`` and in the log."""
    stderr.print(warning_panel())
    log.warning(LOG_LINE)
