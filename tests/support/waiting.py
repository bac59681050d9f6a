"""Waiting on a condition with a generous deadline (never a fixed short sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll ``check`` every ``poll`` s until it is true; fail naming ``what`` after
    ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)
