"""Where monitor runs happen: the scheduler's tick and the runs, in this process
(embedded) or on Celery (beat's tick, runs on the ``capture`` queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence_api.core.runtime import Runtime

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]


def start_monitors(runtime: Runtime) -> Steps:
    """The ``monitors`` job's steps in this process. Returns (steps, stop): the steps
    each tick runs in order, and how to stop what they started (a timeout in seconds)."""
    return [], lambda _timeout: None


def register_celery(app: Any, runtime: Callable[[], Runtime]) -> None:
    """Register the monitor-run task on ``app`` (routed to the ``capture`` queue)."""
