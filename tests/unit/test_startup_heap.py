"""A server process freezes its start-up heap (evidence_api.core.server.freeze_startup_heap):
what was alive is out of the collector's reach, and garbage made afterwards is still
collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from evidence_api.core.server import freeze_startup_heap


@pytest.fixture(scope="module")
def frozen() -> Iterator[None]:
    """One freeze for the module: its full collection walks the whole test process's heap
    (several seconds in a worker that has run many tests)."""
    freeze_startup_heap()
    yield
    gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_the_objects_alive_at_start_are_frozen(frozen: None) -> None:
    # Everything tracked before the call (at least this test's own objects) is now in the
    # permanent generation, not in the generations a collection walks.
    assert gc.get_freeze_count() >= 1000
    assert sum(gc.get_count()) < gc.get_freeze_count()


def test_garbage_made_after_the_freeze_is_still_collected(frozen: None) -> None:
    assert gc.isenabled()  # the automatic collections still run
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle only the collector frees
    del first, second
    assert gc.collect() >= 2
