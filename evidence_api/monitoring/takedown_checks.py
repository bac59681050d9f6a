"""Takedowns verified by re-capture: each listed URL of a completed order captured again
at the configured delays; ``removal_verified`` or ``reappeared``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence_api.core.runtime import Runtime

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]


def start_checks(runtime: Runtime) -> Steps:
    """The ``takedown-checks`` job's steps in this process. Returns (steps, stop): the steps each
    tick runs in order, and how to stop what they started (given a timeout in seconds)."""
    return [], lambda _timeout: None


def register_celery(app: Any, runtime: Callable[[], Runtime]) -> None:
    """Register the re-capture task on ``app`` (routed to the ``capture`` queue)."""
