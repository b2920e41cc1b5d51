"""The garbage collector in the node's long-running processes: the ledger, the API and its
read replica.

CPython's full collection walks every object it tracks. What these processes build once
at start (modules, FastAPI's routes and schemas, SQLAlchemy's mappers, the EVM's tables)
is most of what they hold. Under load, objects alive in requests in flight are promoted
until a full collection is due, and each one stops every thread while it walks all of it
(docs/benchmarks.md has the figures). ``freeze_startup`` moves what start-up built to the
permanent generation, which collections skip, so a full collection walks only what the
process made since.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze_startup() -> None:
    """Call once the process is ready to serve."""
    gc.collect()  # start-up's garbage is freed first, not kept for good
    gc.freeze()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """``freeze_startup`` for a stretch of work in a process that goes on after it (the
    benchmark's in-process paths, which also run inside test processes)."""
    freeze_startup()
    try:
        yield
    finally:
        gc.unfreeze()
