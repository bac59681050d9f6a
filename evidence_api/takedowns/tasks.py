"""Celery tasks ``evidence.takedown_overdue`` and ``evidence.webhook_dispatch`` and their
beat entries, on the one app of :mod:`anchoring.tasks`.

``evidence worker`` and ``evidence beat`` call :func:`configure` after
``anchoring.tasks.configure``; it adds the two entries to the beat schedule and
tells the tasks how to build their runtime (lazily, once per worker process,
without in-process timers: beat drives them here). Tasks take no arguments and
are idempotent: they act on the database's current state, and every change
re-checks it under the platform's feed lock. The webhook task starts the
worker process's :class:`~evidence_api.takedowns.webhooks.Dispatcher` lanes and
returns: a slow receiver holds neither the task nor another platform's lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from anchoring.tasks import app
from evidence_api.core.config import Settings
from evidence_api.runtime import NO_TIMERS, Runtime, build_runtime

if TYPE_CHECKING:
    from evidence_api.takedowns.webhooks import Dispatcher

OVERDUE_TASK = "evidence.takedown_overdue"
WEBHOOK_TASK = "evidence.webhook_dispatch"

_factory: Callable[[], Runtime] | None = None
_runtime: Runtime | None = None
_dispatcher: Dispatcher | None = None


def configure(settings: Settings) -> None:
    """Add the supervision entries to the beat schedule; set the runtime factory."""
    global _factory, _runtime, _dispatcher  # noqa: PLW0603 - one lazily built runtime per process
    _runtime = _dispatcher = None

    def factory() -> Runtime:
        return build_runtime(settings, **NO_TIMERS, connect_chain=False)

    _factory = factory
    schedule: dict[str, dict[str, Any]] = dict(app.conf.beat_schedule or {})
    schedule["takedown-overdue"] = {"task": OVERDUE_TASK, "schedule": settings.overdue_interval}
    schedule["webhook-dispatch"] = {"task": WEBHOOK_TASK, "schedule": settings.webhook_interval}
    app.conf.beat_schedule = schedule


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603
    if _runtime is None:
        if _factory is None:
            raise RuntimeError("evidence_api.takedowns.tasks.configure() was not called")
        _runtime = _factory()
    return _runtime


def takedown_overdue() -> int:
    from evidence_api.takedowns.supervision import overdue_tick  # noqa: PLC0415

    return overdue_tick(runtime())


def dispatcher() -> Dispatcher:
    """This worker process's webhook dispatcher (its lanes persist between tasks)."""
    global _dispatcher  # noqa: PLW0603
    if _dispatcher is None:
        from evidence_api.takedowns.webhooks import Dispatcher  # noqa: PLC0415

        _dispatcher = Dispatcher(runtime())
    return _dispatcher


def webhook_dispatch() -> int:
    from evidence_api.takedowns.supervision import webhook_tick  # noqa: PLC0415

    return webhook_tick(dispatcher())


# Registered by call rather than decorator: Celery's decorator is untyped.
overdue_task = app.task(name=OVERDUE_TASK)(takedown_overdue)
webhook_task = app.task(name=WEBHOOK_TASK)(webhook_dispatch)
