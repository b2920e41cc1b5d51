"""The garbage collector in the node's long-running processes: the ledger, the API and its
read replica.

CPython's full collection walks every object it tracks. What these processes build once
at start (modules, FastAPI's routes and schemas, SQLAlchemy's mappers, the EVM's tables)
is 100k-280k objects. Under load, objects alive in requests in flight are promoted until
a full collection is due: in the API process that came every 4-5 s during the benchmark,
each stopping every thread for 150-200 ms (the ledger's 80-210 ms, the replica's up to
250 ms). ``freeze_startup`` moves what start-up built to the permanent generation, which
collections skip, so a full collection walks only what the process made since.
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
