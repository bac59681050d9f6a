"""Alert notifications to a department system: signed webhooks of every alert event."""

from __future__ import annotations

from collections.abc import Callable

from evidence_api.core.runtime import Runtime

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]


def start_notifier(runtime: Runtime) -> Steps:
    """The ``alert-webhooks`` job's steps in this process. Returns (steps, stop): the steps each
    tick runs in order, and how to stop what they started (given a timeout in seconds)."""
    return [], lambda _timeout: None
