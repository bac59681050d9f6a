"""``evidence worker`` and ``evidence beat``: the background jobs on Celery.

Production runs the same jobs as embedded mode (:mod:`evidence_api.jobs`), as
Celery tasks on a Redis broker, so any number of workers can run (the database
lock keeps a single writer per log and one anchoring transaction in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from anchoring import tasks
from evidence_api.capture import dispatch
from evidence_api.core.config import Settings
from evidence_api.core.runtime import Runtime
from evidence_api.jobs import register_tasks
from evidence_api.monitoring import dispatch as monitor_dispatch
from evidence_api.monitoring import takedown_checks
from evidence_api.runtime import NO_TIMERS, build_runtime

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()  # a threads pool (capture workers) builds it once


def _configure(settings: Settings) -> Callable[[], Runtime]:
    """Register the jobs' tasks (and ``evidence.capture``) and beat schedule; this
    process's runtime is built on first use (once, without in-process timers: beat
    drives the jobs here, and captures come from the ``capture`` queue)."""
    global _runtime  # noqa: PLW0603 - one lazily built runtime per process
    _runtime = None
    # Here a capture sweep sends to the queue: this process runs no capture threads.
    settings = settings.model_copy(update={"run_captures": False, "run_monitors": False})

    def runtime() -> Runtime:
        global _runtime  # noqa: PLW0603
        with _runtime_lock:
            if _runtime is None:
                _runtime = build_runtime(settings, **NO_TIMERS)
            return _runtime

    schedule = register_tasks(tasks.app, runtime, settings)
    dispatch.register_celery(tasks.app, runtime)
    monitor_dispatch.register_celery(tasks.app, runtime)
    takedown_checks.register_celery(tasks.app, runtime)
    tasks.configure(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        schedule=schedule,
        # A stale tick is worthless: the next one does the same work.
        expires=max(settings.seal_interval, settings.anchor_interval) * 10,
    )
    return runtime


def worker_arguments(
    settings: Settings, *, loglevel: str, queues: str, concurrency: int | None
) -> list[str]:
    """Celery's worker arguments: the queues consumed, and the concurrency (default:
    ``capture_concurrency`` threads on a worker that takes captures, else one solo)."""
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise SystemExit("evidence worker: --queues names no queue")
    if concurrency is None:
        concurrency = settings.capture_concurrency if dispatch.QUEUE in names else 1
    pool = (
        ["--pool=solo"] if concurrency == 1 else ["--pool=threads", f"--concurrency={concurrency}"]
    )
    return [
        "worker",
        f"--loglevel={loglevel}",
        *pool,
        f"--queues={','.join(names)}",
        "--without-gossip",
        "--without-mingle",
    ]


def run_worker(
    settings: Settings,
    *,
    loglevel: str = "INFO",
    queues: str = "celery",
    concurrency: int | None = None,
) -> None:
    if settings.chain == "anvil":
        raise SystemExit(
            "evidence worker: use EVIDENCE_CHAIN=rpc with the node's URL; "
            "a managed anvil belongs to `evidence serve` in embedded mode"
        )
    runtime = _configure(settings)
    runtime()  # fail fast: database, key and chain binding checked before consuming
    tasks.app.worker_main(
        worker_arguments(settings, loglevel=loglevel, queues=queues, concurrency=concurrency)
    )


def run_beat(settings: Settings, *, loglevel: str = "INFO") -> None:
    _configure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tasks.app.start(
        ["beat", f"--loglevel={loglevel}", "--schedule", str(settings.data_dir / "celerybeat")]
    )
