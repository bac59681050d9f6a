"""``evidence worker`` and ``evidence beat``: the background jobs on Celery.

Production runs the same jobs as embedded mode (:mod:`evidence_api.jobs`), as
Celery tasks on a Redis broker, so any number of workers can run (the database
lock keeps a single writer per log and one anchoring transaction in flight).
"""

from __future__ import annotations

from collections.abc import Callable

from anchoring import tasks
from evidence_api.core.config import Settings
from evidence_api.core.runtime import Runtime
from evidence_api.jobs import register_tasks
from evidence_api.runtime import NO_TIMERS, build_runtime

_runtime: Runtime | None = None


def _configure(settings: Settings) -> Callable[[], Runtime]:
    """Register the jobs' tasks and beat schedule; this process's runtime is built on
    first use (once, without in-process timers: beat drives the jobs here)."""
    global _runtime  # noqa: PLW0603 - one lazily built runtime per process
    _runtime = None

    def runtime() -> Runtime:
        global _runtime  # noqa: PLW0603
        if _runtime is None:
            _runtime = build_runtime(settings, **NO_TIMERS)
        return _runtime

    schedule = register_tasks(tasks.app, runtime, settings)
    tasks.configure(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        schedule=schedule,
        # A stale tick is worthless: the next one does the same work.
        expires=max(settings.seal_interval, settings.anchor_interval) * 10,
    )
    return runtime


def run_worker(settings: Settings, *, loglevel: str = "INFO") -> None:
    if settings.chain == "anvil":
        raise SystemExit(
            "evidence worker: use EVIDENCE_CHAIN=rpc with the node's URL; "
            "a managed anvil belongs to `evidence serve` in embedded mode"
        )
    runtime = _configure(settings)
    runtime()  # fail fast: database, key and chain binding checked before consuming
    tasks.app.worker_main(
        ["worker", f"--loglevel={loglevel}", "--pool=solo", "--without-gossip", "--without-mingle"]
    )


def run_beat(settings: Settings, *, loglevel: str = "INFO") -> None:
    _configure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tasks.app.start(
        ["beat", f"--loglevel={loglevel}", "--schedule", str(settings.data_dir / "celerybeat")]
    )
