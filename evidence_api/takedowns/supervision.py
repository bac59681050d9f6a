"""The takedown workflow's background work: overdue scans and webhook dispatch.

The same work runs on in-process timers in embedded mode
(:func:`start_in_process`, from :func:`evidence_api.runtime.build_runtime`) and
as Celery tasks on the beat schedule in production
(:mod:`evidence_api.takedowns.tasks`). Both are safe to run concurrently.
Webhook dispatch goes through one :class:`~evidence_api.takedowns.webhooks.Dispatcher`
per process, whose per-platform lanes outlive a tick: a slow receiver holds up
neither the timer nor another platform.
"""

from __future__ import annotations

from anchoring.periodic import Periodic
from evidence_api.runtime import Runtime
from evidence_api.takedowns.service import scan_overdue
from evidence_api.takedowns.webhooks import Dispatcher


def overdue_tick(runtime: Runtime) -> int:
    """Mark every open order past its deadline ``overdue``; how many were."""
    return scan_overdue(runtime)


def webhook_tick(dispatcher: Dispatcher) -> int:
    """Start sending the webhook deliveries that are due; how many platform lanes started."""
    return dispatcher.tick()


class WebhookTimer(Periodic):
    """The webhook timer; stopping it also stops its dispatcher's lanes."""

    def __init__(self, runtime: Runtime) -> None:
        self.dispatcher = Dispatcher(runtime)
        super().__init__("webhooks", runtime.settings.webhook_interval, self._tick)

    def _tick(self) -> int:
        return webhook_tick(self.dispatcher)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.dispatcher.stop(timeout)


def start_in_process(runtime: Runtime) -> list[Periodic]:
    """Start both on timers of ``EVIDENCE_OVERDUE_INTERVAL`` / ``EVIDENCE_WEBHOOK_INTERVAL``."""
    settings = runtime.settings
    timers = [
        Periodic("overdue", settings.overdue_interval, lambda: overdue_tick(runtime)),
        WebhookTimer(runtime),
    ]
    for timer in timers:
        timer.start()
    return timers
