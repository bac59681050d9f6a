"""The takedown workflow's background work: overdue scans and webhook dispatch.

The same two functions run on in-process timers in embedded mode
(:func:`start_in_process`, from :func:`evidence_api.runtime.build_runtime`) and
as Celery tasks on the beat schedule in production
(:mod:`evidence_api.tasks_supervision`). Both are safe to run concurrently.
"""

from __future__ import annotations

from anchoring.periodic import Periodic
from evidence_api.runtime import Runtime
from evidence_api.services.takedowns import scan_overdue
from evidence_api.services.webhooks import dispatch_due


def overdue_tick(runtime: Runtime) -> int:
    """Mark every open order past its deadline ``overdue``; how many were."""
    return scan_overdue(runtime)


def webhook_tick(runtime: Runtime) -> int:
    """Send the webhook deliveries that are due; how many were attempted."""
    return dispatch_due(runtime)


def start_in_process(runtime: Runtime) -> list[Periodic]:
    """Start both on timers of ``EVIDENCE_OVERDUE_INTERVAL`` / ``EVIDENCE_WEBHOOK_INTERVAL``."""
    settings = runtime.settings
    timers = [
        Periodic("overdue", settings.overdue_interval, lambda: overdue_tick(runtime)),
        Periodic("webhooks", settings.webhook_interval, lambda: webhook_tick(runtime)),
    ]
    for timer in timers:
        timer.start()
    return timers
