"""``evidence worker`` and ``evidence beat``: sealing and anchoring on Celery.

Production runs the same functions as embedded mode, as Celery tasks on a
Redis broker, so any number of workers can run (the database lock keeps a
single writer per log and one anchoring transaction in flight).
"""

from __future__ import annotations

from anchoring import tasks
from evidence_api.core.config import Settings
from evidence_api.runtime import NO_TIMERS, build_runtime
from evidence_api.takedowns import tasks as tasks_supervision


def _configure(settings: Settings) -> None:
    def factory() -> tasks.TaskContext:
        runtime = build_runtime(settings, **NO_TIMERS)
        chain = runtime.chain
        return tasks.TaskContext(
            engine=runtime.engine,
            signer=runtime.signer,
            max_batch=settings.max_batch,
            chain=chain.client if chain else None,
            anchor_config=chain.config if chain else None,
        )

    tasks.configure(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        seal_interval=settings.seal_interval,
        anchor_interval=settings.anchor_interval,
        context_factory=factory,
    )
    tasks_supervision.configure(settings)  # overdue scans and webhooks on the same beat


def run_worker(settings: Settings, *, loglevel: str = "INFO") -> None:
    if settings.chain == "anvil":
        raise SystemExit(
            "evidence worker: use EVIDENCE_CHAIN=rpc with the node's URL; "
            "a managed anvil belongs to `evidence serve` in embedded mode"
        )
    _configure(settings)
    tasks.context()  # fail fast: database, key and chain binding checked before consuming
    tasks.app.worker_main(
        ["worker", f"--loglevel={loglevel}", "--pool=solo", "--without-gossip", "--without-mingle"]
    )


def run_beat(settings: Settings, *, loglevel: str = "INFO") -> None:
    _configure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tasks.app.start(
        ["beat", f"--loglevel={loglevel}", "--schedule", str(settings.data_dir / "celerybeat")]
    )
