"""``freeze_startup``: what a process built at start is left out of later collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from nodes.runtime.heap import freeze_startup, frozen_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process collects as before


def _collected_by_gc(thing: object) -> bool:
    """Whether the collector's generations (which it walks) hold ``thing``."""
    return any(o is thing for o in gc.get_objects())


def test_what_exists_is_frozen_and_what_comes_later_is_collected(unfrozen: None) -> None:
    built_at_start = [["state"]]
    assert _collected_by_gc(built_at_start)
    freeze_startup()
    assert gc.get_freeze_count() > 0
    assert not _collected_by_gc(built_at_start)

    made_later = [["request"]]
    assert _collected_by_gc(made_later)


class _Cycle:
    itself: _Cycle | None = None


def test_start_up_garbage_is_freed_not_frozen(unfrozen: None) -> None:
    garbage = _Cycle()
    garbage.itself = garbage
    gone = weakref.ref(garbage)
    del garbage
    freeze_startup()
    assert gone() is None


def test_a_frozen_stretch_gives_the_objects_back_to_the_collector(unfrozen: None) -> None:
    before = [["state"]]
    with frozen_heap():
        assert not _collected_by_gc(before)
    assert _collected_by_gc(before)
    assert gc.get_freeze_count() == 0
