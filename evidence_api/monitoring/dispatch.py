"""Where monitor runs happen: the scheduler's tick and the runs, in this process
(embedded) or on Celery (beat's tick, runs on the ``capture`` queue).

* The tick (:func:`queue_due`) reads ONLY due monitors (``enabled``, not deleted,
  ``next_run_at <= now``, oldest first, at most :data:`BATCH`; through ``ix_monitor_due``;
  on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so two ticks at once take different rows),
  and in the same transaction inserts one ``queued`` run per monitor and moves its
  ``next_run_at`` to the next time of its schedule (with its jitter). A monitor whose
  previous run is still queued or running is only moved on: that occurrence is skipped,
  runs of one monitor never pile up.
* Embedded (``EVIDENCE_RUN_MONITORS=true``): :class:`EmbeddedMonitors`,
  ``monitor_concurrency`` threads of this process (:class:`evidence_api.core.workers.LocalWorkers`,
  as the captures': a run cut by a shutdown is recovered at the next start). The ``monitors``
  job's timer runs :func:`start_monitors`' step: the sweep (abandoned runs retried once,
  deferred and lost runs handed out again when due) then the tick.
* Celery (``EVIDENCE_RUN_MONITORS=false``): beat's ``evidence.monitor_tick`` runs the same
  step in a worker, which SENDS each run as the task ``evidence.monitor_run`` (its one
  argument: the run id) to the ``capture`` queue, consumed by the workers with Chromium
  (``evidence worker --queues capture``); acknowledged late and rejected when its worker is
  lost, so a killed worker's run is delivered again (the atomic claim makes that safe).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence_api.capture.service import Runner, browser_runner
from evidence_api.core.db import Transaction
from evidence_api.core.errors import ConflictError, NotFoundError
from evidence_api.core.runtime import Runtime
from evidence_api.core.workers import LocalWorkers, PerRuntime, register_task, send_task
from evidence_api.monitoring import runs
from evidence_api.monitoring.models import QUEUED, RUNNING, Monitor, MonitorRun

log = logging.getLogger(__name__)

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]

#: The Celery queue of monitor runs (the capture workers', which have Chromium).
QUEUE = "capture"
#: The Celery task running one monitor run (its one argument: the run id).
TASK = "evidence.monitor_run"
RUN_ID = re.compile(r"^mrun-[0-9a-f]{28}$")
#: Most monitors one tick queues (the rest are due still, and taken by the next tick).
BATCH = 500


def due_query(now: datetime, batch: int, dialect: str) -> Any:
    query = (
        select(Monitor)
        .where(
            Monitor.enabled.is_(True),
            Monitor.next_run_at <= now,
            Monitor.deleted_at.is_(None),
        )
        .order_by(Monitor.next_run_at, Monitor.seq)
        .limit(batch)
    )
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def _move_on(session: Session, monitor: Monitor, now: datetime, jitter: float) -> bool:
    """``next_run_at`` to the schedule's next time after the one just due (runs stay
    evenly spaced); when that is past too (the scheduler was down), the next time after
    now: missed runs are not made up in a burst. Conditional on ``next_run_at`` still
    being the value read (compare and set): False when another tick moved it first (on
    SQLite the read is not locked), and this tick then queues nothing for it."""

    # croniter, imported with the schedule, runs `file` on first import (its 32-bit
    # check): imported when a monitor is first due, not when every runtime starts.
    from evidence_api.monitoring.schedule import next_run  # noqa: PLC0415

    def after(moment: datetime) -> datetime:
        return next_run(
            after=moment,
            interval_seconds=monitor.interval_seconds,
            cron=monitor.cron,
            jitter=jitter,
            key=monitor.id,
        )

    following = after(monitor.next_run_at)
    if following <= now:
        following = after(now)
    moved = session.execute(
        update(Monitor)
        .where(Monitor.seq == monitor.seq, Monitor.next_run_at == monitor.next_run_at)
        .values(next_run_at=following)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


def new_run(monitor_seq: int, now: datetime) -> MonitorRun:
    """A queued run, its message counted as sent now (``heartbeat_at``: see runs.sweep)."""
    return MonitorRun(
        id=runs.new_run_id(),
        monitor_seq=monitor_seq,
        status=QUEUED,
        scheduled_at=now,
        heartbeat_at=now,
        attempts=0,
        deferrals=0,
    )


def queue_due(
    transaction: Transaction, *, jitter: float, now: datetime | None = None, batch: int = BATCH
) -> list[str]:
    """One tick's transaction: the due monitors' runs queued and their next times set;
    returns the new runs' ids (to hand out after the commit)."""
    now = now or datetime.now(UTC)
    with transaction() as session:
        dialect = session.get_bind().dialect.name
        monitors = list(session.execute(due_query(now, batch, dialect)).scalars())
        if not monitors:
            return []
        seqs = [m.seq for m in monitors]
        busy = set(
            session.execute(
                select(MonitorRun.monitor_seq).where(
                    MonitorRun.monitor_seq.in_(seqs),
                    MonitorRun.status.in_((QUEUED, RUNNING)),
                )
            ).scalars()
        )
        created: list[MonitorRun] = []
        for monitor in monitors:
            if not _move_on(session, monitor, now, jitter):
                continue  # another tick took this occurrence
            if monitor.seq in busy:
                log.info("monitor %s: its previous run is not finished; skipped", monitor.id)
                continue
            created.append(new_run(monitor.seq, now))
        session.add_all(created)
        return [run.id for run in created]


def queue_run(runtime: Runtime, monitor_seq: int) -> str:
    """A run of the monitor now ("run now"), handed out at once; 404 if the monitor does
    not exist or is deleted, 409 if a run of it is queued or running."""
    now = datetime.now(UTC)
    with runtime.session() as session:
        monitor = session.get(Monitor, monitor_seq)
        if monitor is None or monitor.deleted_at is not None:
            raise NotFoundError(f"no monitor {monitor_seq}")
        pending = session.execute(
            select(MonitorRun.id).where(
                MonitorRun.monitor_seq == monitor_seq,
                MonitorRun.status.in_((QUEUED, RUNNING)),
            )
        ).first()
        if pending is not None:
            raise ConflictError(
                f"a run of monitor {monitor.id} is already queued or running: {pending[0]}"
            )
        run = new_run(monitor_seq, now)
        session.add(run)
        run_id = run.id
    hand_out(runtime, [run_id])
    return run_id


def tick(runtime: Runtime, now: datetime | None = None) -> int:
    """Queue the due monitors' runs and hand them out; returns how many were queued."""
    ids = queue_due(runtime.session, jitter=runtime.settings.monitor_jitter, now=now)
    hand_out(runtime, ids)
    return len(ids)


# -- handing runs out ---------------------------------------------------------------------


class EmbeddedMonitors(LocalWorkers):
    """Monitor runs on ``concurrency`` threads of this process (embedded mode). Its sweep
    recovers what dead processes left running and runs here what waits queued and is due
    (at the first sweep after a start: every due queued run)."""

    def __init__(self, ctx: runs.Monitoring, concurrency: int) -> None:
        def find(skip: frozenset[str], first: bool) -> list[str]:
            return runs.sweep(ctx.transaction, skip=skip, resend_all=first)

        super().__init__(
            lambda run_id: runs.run_monitor(ctx, run_id),
            find,
            concurrency,
            what="monitor run",
            thread_name="monitor",
        )


_EMBEDDED: PerRuntime[EmbeddedMonitors] = PerRuntime()


def embedded(runtime: Runtime) -> EmbeddedMonitors | None:
    return _EMBEDDED.get(runtime)


def start_embedded(
    runtime: Runtime, runner: Callable[[], Runner] = browser_runner
) -> EmbeddedMonitors:
    """The runtime's embedded monitor threads (made once; forgotten when stopped)."""
    return _EMBEDDED.start(
        runtime,
        lambda: EmbeddedMonitors(
            runs.monitoring_of(runtime, runner), runtime.settings.monitor_concurrency
        ),
    )


def stop_embedded(runtime: Runtime, timeout: float) -> None:
    _EMBEDDED.stop(runtime, timeout)


def send(broker_url: str, run_id: str) -> None:
    """Send the run's task to the ``capture`` queue (raises if the broker is gone)."""
    send_task(broker_url, TASK, run_id, QUEUE)


def hand_out(runtime: Runtime, run_ids: list[str]) -> None:
    """Start committed runs: on this process's threads (embedded) or through Celery. A
    failure to send is logged, not raised: the run stays ``queued`` and the sweep sends
    it again."""
    if not run_ids:
        return
    local = embedded(runtime)
    if local is not None:
        for run_id in run_ids:
            local.submit(run_id)
        return
    if runtime.settings.run_monitors:
        log.info("%d monitor runs wait for a process that runs monitors", len(run_ids))
        return
    for run_id in run_ids:
        try:
            send(runtime.settings.broker_url, run_id)
        except Exception as exc:
            log.warning(
                "monitor run %s not sent to queue %s (sent again later): %s", run_id, QUEUE, exc
            )


def start_monitors(runtime: Runtime) -> Steps:
    """The ``monitors`` job's steps in this process. Returns (steps, stop): the steps
    each tick runs in order, and how to stop what they started (a timeout in seconds).

    One step (beat runs a job's first step only): the sweep, then the tick. Embedded,
    runs go to this process's threads; otherwise they are sent to the ``capture`` queue.
    """
    if runtime.settings.run_monitors:
        local = start_embedded(runtime)

        def embedded_step() -> int:
            local.sweep()
            return tick(runtime)

        return [embedded_step], lambda timeout: stop_embedded(runtime, timeout)

    def celery_step() -> int:
        for run_id in runs.sweep(runtime.session):
            try:
                send(runtime.settings.broker_url, run_id)
            except Exception as exc:
                log.warning("monitor run %s not sent (sent again later): %s", run_id, exc)
        return tick(runtime)

    return [celery_step], lambda _timeout: None


def register_celery(app: Any, runtime: Callable[[], Runtime]) -> None:
    """Register ``evidence.monitor_run`` on ``app`` (routed to the ``capture`` queue)."""

    def monitor_run(run_id: str) -> str:
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            log.warning("ignored a monitor run task for %r: not a run id", run_id)
            return "ignored"
        result = runs.run_monitor(runs.monitoring_of(runtime()), run_id)
        if result.deferred:
            return "deferred"
        return result.status or "not claimed"

    register_task(app, TASK, monitor_run, QUEUE)
