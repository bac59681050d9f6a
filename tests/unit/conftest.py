"""The unit tier stays honest: a unit test starts no subprocess (no server, chain node, Node.js,
browser or CLI run). Anything that does belongs in ``tests/integration`` or ``tests/e2e``
(docs/design.md §9).

While a unit test runs (its fixtures included), ``subprocess.Popen`` refuses to start, and with
it ``subprocess.run``, ``check_output`` and ``asyncio``'s subprocesses, which all go through it.
One exception: ``ctypes.util.find_library`` (a library locating its shared object, as
pycryptodome does for GMP on first import, runs ``ldconfig -p``). Outside the unit tests (xdist
starting its workers, the other tiers) nothing is changed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_popen_init = subprocess.Popen.__init__


class SubprocessInUnitTestError(AssertionError):
    """A unit test tried to start a process."""


def _library_lookup() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__") == "ctypes.util":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    if _library_lookup():
        _popen_init(self, args, *rest, **kwargs)
        return
    shown = " ".join(map(str, args)) if isinstance(args, list | tuple) else str(args)
    raise SubprocessInUnitTestError(
        f"tests/unit starts no subprocess, but this test ran: {shown[:200]}\n"
        "Move it to tests/integration (or tests/e2e): docs/design.md §9."
    )


UNIT_DIR = Path(__file__).resolve().parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # pytest calls this hook for every item of the session once this conftest is loaded
    # (config.hook, not the item's path-aware ihook): only unit items are guarded.
    if UNIT_DIR not in Path(str(item.path)).resolve().parents:
        yield
        return
    subprocess.Popen.__init__ = _refuse  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]
