"""``scf-node backup DIR`` and ``scf-node restore DIR``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from nodes.commands.common import (
    HomeOption,
    JsonOption,
    console,
    home_of,
    print_json,
    reported_errors,
)
from nodes.connect import database_url

if TYPE_CHECKING:
    from nodes.backup import Manifest

Directory = Annotated[Path, typer.Argument(help="backup directory", file_okay=False)]


def backup(directory: Directory, home_dir: HomeOption = None, as_json: JsonOption = False) -> None:
    """Copy the home consistently (read model, ledger, transaction store, keys, settings),
    also while the node runs; DIR must be new or empty. A home over an external JSON-RPC
    network has no ledger to copy: the network keeps it."""
    from nodes.backup import backup_home

    home = home_of(home_dir)
    with reported_errors(), _steps("Backing up") as step:
        manifest = backup_home(home, directory, database_url(home), step)
    _report(manifest, as_json, f"Backed up {home.path} to {directory}")


def restore(directory: Directory, home_dir: HomeOption = None, as_json: JsonOption = False) -> None:
    """Restore a backup into a new or empty home, after checking every file's SHA-256."""
    from nodes.backup import restore_home

    home = home_of(home_dir)
    with reported_errors(), _steps("Restoring") as step:
        manifest = restore_home(directory, home, step)
    _report(manifest, as_json, f"Restored {directory} into {home.path}")
    if not as_json:
        console.print(f"Check it with: scf-node verify --home {home.path}")


@contextmanager
def _steps(what: str) -> Iterator[Callable[[str], None]]:
    """A Rich progress line naming the step in progress (transient: gone when done)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(what)
    with progress:
        yield lambda step: progress.update(task, description=f"{what}: {step}")


def _report(manifest: Manifest, as_json: bool, done: str) -> None:
    if as_json:
        print_json(manifest.to_json())
        return
    size = sum(int(f["size"]) for f in manifest.files.values())
    console.print(
        f"{done}: head block {manifest.head_block} ({manifest.head_time}), "
        f"{len(manifest.files)} files, {size} bytes; read model {manifest.read_model}."
    )
    if manifest.ledger != "included":
        console.print(f"Ledger {manifest.ledger}.")
