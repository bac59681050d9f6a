"""The one Celery app, and its broker and beat schedule.

Which tasks run, and on what schedule, is declared once in
:mod:`evidence_api.jobs` (sealing ``evidence.seal``, anchoring
``evidence.confirm`` and ``evidence.anchor``, the overdue scan, webhook
dispatch); ``evidence worker`` and ``evidence beat`` register them here. Tasks
take no arguments (they act on the database's current state), are idempotent,
and never wait on another task. This module imports nothing from the service
and connects to nothing at import time.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

app = Celery("evidence_anchor")
app.conf.update(
    task_acks_late=True,  # a task killed mid-way (kill -9) is delivered again
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
)


def configure(
    *,
    broker_url: str,
    result_backend: str,
    schedule: dict[str, dict[str, Any]],
    expires: float,
) -> Celery:
    """Point the app at its broker and install the beat ``schedule`` (entry name ->
    ``{"task": name, "schedule": seconds}``); a task not started within ``expires``
    seconds is dropped."""
    app.conf.update(
        broker_url=broker_url,
        result_backend=result_backend,
        beat_schedule=schedule,
        # A stale tick is worthless: the next one does the same work.
        task_default_expires=expires,
    )
    return app
