"""The list's periodic work (filled in by the feature): expiry and webhook pushes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def start_dispatch(runtime: Any) -> tuple[list[Callable[[], object]], Callable[[float], None]]:
    """The job's steps and how to stop what they started."""
    del runtime
    return [], lambda _timeout: None
