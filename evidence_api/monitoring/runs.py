"""Monitor runs: claim, gate by host, observe, apply the rules, record (docs/monitoring-runs.md).

:func:`run_monitor` runs one queued :class:`~evidence_api.monitoring.models.MonitorRun`
like a capture job (:func:`evidence_api.capture.service.run`):

1. claim it atomically (``queued`` → ``running`` by a conditional UPDATE; of two workers
   handed the same run, one runs it; a redelivered run whose process died is retried
   once, then failed with :data:`INTERRUPTED`);
2. take a slot of its host (:func:`evidence_api.monitoring.hosts.acquire`); a busy host
   (or one whose next start is not due) puts the run back to ``queued``, later, with
   ``deferrals`` + 1 and its attempt given back;
3. observe the target (:func:`evidence_api.monitoring.observe.observe`; light unless the
   monitor's ``archive`` is ``always``) while a heartbeat keeps the run and the slot's
   lease fresh;
4. evaluate the monitor's rules against its baseline;
5. record, in ONE transaction: nothing fired → the ``monitor`` log entry (digests only),
   the run ``done``, the monitor's baseline; something fired → the evidence (through the
   intake core), and in the evidence's own transaction the ``monitor`` entry, the run
   ``done``, one alert per finding (each with its ``alert`` entry), the baseline.

A capture failure ends the run ``failed`` with its reason: no alert, baseline unchanged.

The baseline is the last observation of the listing while it was there: a run that finds
it gone sets ``monitor.gone`` and keeps the baseline (a removed-page's text is not the
listing's), so the run that finds it back compares with what was last seen live, and then
becomes the baseline itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from evidence_api.capture.outcome import CaptureError
from evidence_api.capture.service import Runner, browser_runner
from evidence_api.core import leases
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.errors import ApiError
from evidence_api.core.ids import new_id
from evidence_api.core.leases import Leases, process_owner, set_where
from evidence_api.core.ledger import record_entry
from evidence_api.core.runtime import Runtime
from evidence_api.monitoring import hosts
from evidence_api.monitoring.alert_log import AlertDraft, AlertLedger, ledger_of, open_alert
from evidence_api.monitoring.models import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    Monitor,
    MonitorRun,
)
from evidence_api.monitoring.observation import Finding, Observation
from evidence_api.monitoring.observe import (
    Observed,
    Observer,
    keep_as_evidence,
    observe,
    observer_of,
)
from evidence_api.monitoring.rules import evaluate
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.wordlists import load_wordlists
from evidence_api.registry.models import Platform, TradingEntity

log = logging.getLogger(__name__)

#: The log entry kind of a run's observation.
ENTRY_KIND = "monitor"
#: Seconds between a running run's heartbeats (and its host slot's lease renewals).
HEARTBEAT_SECONDS = 5.0
#: A running run without a heartbeat for this long lost its process.
STALE_AFTER = 60.0
#: A queued run nobody claimed this long after its message was sent: sent again.
REQUEUE_AFTER = 60.0
#: Runs of one run row: an interrupted run is retried once, then it fails.
MAX_ATTEMPTS = 2
#: Seconds a host slot is leased for at a time (renewed with each heartbeat).
LEASE_SECONDS = 60.0
#: Least and most seconds a deferred run waits beyond the host's next start (spread, so
#: the runs deferred together do not all come back at once).
DEFER_MIN = 1.0
DEFER_SPREAD = 2.0
#: Why a run whose process died (twice) failed.
INTERRUPTED = "interrupted: the service restarted during the run"
#: Why a run failed on an unexpected error (its traceback is in the log).
UNEXPECTED = "internal error during the run; it has been logged"
#: Why a run of a deleted or disabled monitor does nothing.
MONITOR_GONE = "the monitor was deleted or disabled before the run"
RUN_ID_PREFIX = "mrun"


@dataclass(frozen=True)
class Monitoring:
    """What running monitors uses: the observer (captures, the intake), the alert ledger
    (alert entries, the sealer's nudge), and the settings."""

    observer: Observer
    ledger: AlertLedger
    settings: Settings

    @property
    def transaction(self) -> Transaction:
        return self.observer.transaction


def monitoring_of(runtime: Runtime, runner: Callable[[], Runner] = browser_runner) -> Monitoring:
    return Monitoring(observer_of(runtime, runner), ledger_of(runtime), runtime.settings)


@dataclass
class RunResult:
    """What :func:`run_monitor` did: ``claimed`` false when another process has (or had)
    it; ``deferred`` when its host was busy (it is ``queued`` again, later)."""

    claimed: bool
    status: str | None = None
    deferred: bool = False
    fired: tuple[str, ...] = ()
    evidence_id: str | None = None
    reason: str | None = None


class RunSupersededError(Exception):
    """The run's row is no longer this run's (the sweep took it over): record nothing."""


def target_sha256(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


# -- claiming -----------------------------------------------------------------------------


#: The run table's leases (claim, ownership, recovery: :mod:`evidence_api.core.leases`).
LEASES = Leases(MonitorRun, "monitor run", waiting=QUEUED, running=RUNNING)


def _claim(transaction: Transaction, run_id: str, owner: str) -> bool:
    return LEASES.claim(transaction, run_id, owner, datetime.now(UTC))


def _mine(run_id: str, owner: str) -> tuple[ColumnElement[bool], ...]:
    return LEASES.mine(run_id, owner)


def _load(transaction: Transaction, run_id: str) -> tuple[MonitorRun, Monitor] | None:
    with transaction() as session:
        row = session.execute(
            select(MonitorRun, Monitor)
            .join(Monitor, Monitor.seq == MonitorRun.monitor_seq)
            .where(MonitorRun.id == run_id)
        ).first()
        return None if row is None else (row[0], row[1])


def _finish_failed(transaction: Transaction, run_id: str, owner: str, reason: str) -> None:
    with transaction() as session:
        set_where(
            session,
            MonitorRun,
            *_mine(run_id, owner),
            status=FAILED,
            reason=reason[:1024],
            finished_at=datetime.now(UTC),
        )


def _defer(transaction: Transaction, run_id: str, owner: str, host: str) -> datetime:
    """Back to ``queued`` after the host's next start (spread a little), its attempt
    given back and its deferral counted; ``heartbeat_at`` cleared: not yet sent again."""
    now = datetime.now(UTC)
    due = hosts.next_start(transaction, host) or now
    later = max(due, now) + timedelta(seconds=DEFER_MIN + random.random() * DEFER_SPREAD)  # noqa: S311 - spreading, not secrecy
    with transaction() as session:
        set_where(
            session,
            MonitorRun,
            *_mine(run_id, owner),
            status=QUEUED,
            owner=None,
            started_at=None,
            heartbeat_at=None,
            scheduled_at=later,
            attempts=MonitorRun.attempts - 1,
            deferrals=MonitorRun.deferrals + 1,
        )
    return later


class _Heartbeat:
    """Keeps a running run's row and its host slot's lease fresh."""

    def __init__(
        self, transaction: Transaction, run_id: str, owner: str, lease: tuple[str, int], holder: str
    ) -> None:
        self._transaction = transaction
        self._where = _mine(run_id, owner)
        self._lease = lease
        self._holder = holder
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"monitor-heartbeat-{run_id}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                with self._transaction() as session:
                    set_where(session, MonitorRun, *self._where, heartbeat_at=datetime.now(UTC))
                host, slot = self._lease
                hosts.renew(
                    self._transaction, host, slot, self._holder, lease_seconds=LEASE_SECONDS
                )
            except SQLAlchemyError as exc:  # best effort; the run goes on
                log.warning("monitor run heartbeat not written: %s", exc)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS * 2)


# -- recording ----------------------------------------------------------------------------


def _entry_body(
    monitor: Monitor,
    run: MonitorRun,
    observation: Observation,
    fired: list[Finding],
    evidence_id: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "monitor_id": monitor.id,
        "run_id": run.id,
        "target_sha256": target_sha256(monitor.url),
        "observed": observation.summary(),
        "fired": [f.rule for f in fired],
    }
    if evidence_id is not None:
        body["evidence_id"] = evidence_id
    return body


def _record(
    ctx: Monitoring,
    session: Session,
    monitor: Monitor,
    run: MonitorRun,
    owner: str,
    observation: Observation,
    fired: list[Finding],
    evidence_id: str | None,
) -> None:
    """The ``monitor`` entry, the run ``done``, the alerts and the baseline, in the
    caller's transaction (raises :class:`RunSupersededError` if the run is not ours)."""
    now = datetime.now(UTC)
    body = _entry_body(monitor, run, observation, fired, evidence_id)
    # queued before the run is marked done: if the run is no longer ours, the raise below
    # rolls the entry back with the rest of the transaction
    entry, leaf = record_entry(
        session, ctx.observer.recorder.sign_receipt, ENTRY_KIND, "mo", body, now
    )
    if not set_where(
        session,
        MonitorRun,
        *_mine(run.id, owner),
        status=DONE,
        finished_at=now,
        observation=observation.dumps(),
        fired=json.dumps([f.to_json() for f in fired], ensure_ascii=False),
        evidence_id=evidence_id,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    ):
        raise RunSupersededError(run.id)
    for finding in fired:
        open_alert(
            ctx.ledger,
            session,
            AlertDraft(
                rule=finding.rule,
                reason=finding.reason,
                recipient=monitor.created_by,
                detail=finding.detail,
                monitor_seq=monitor.seq,
                monitor_id=monitor.id,
                run_seq=run.seq,
                run_id=run.id,
                platform_id=monitor.platform_id,
                entity_id=monitor.entity_id,
                evidence_id=evidence_id,
            ),
            at=now,
        )
    values: dict[str, Any] = {"last_run_at": now, "gone": observation.gone}
    if not observation.gone:  # the baseline: the last observation of the listing while live
        values["baseline"] = observation.dumps()
    set_where(session, Monitor, Monitor.seq == monitor.seq, **values)


def _codes(transaction: Transaction, monitor: Monitor) -> tuple[str | None, str | None]:
    """The kept evidence's source platform (its code) and entity (its shop name)."""
    with transaction() as session:
        platform = (
            session.get(Platform, monitor.platform_id) if monitor.platform_id is not None else None
        )
        entity = (
            session.get(TradingEntity, monitor.entity_id) if monitor.entity_id is not None else None
        )
        return (
            platform.code if platform is not None else None,
            entity.shop_name if entity is not None else None,
        )


def _keep(
    ctx: Monitoring,
    monitor: Monitor,
    run: MonitorRun,
    owner: str,
    observed: Observed,
    fired: list[Finding],
) -> str:
    platform, entity = _codes(ctx.transaction, monitor)
    rules = ", ".join(f.rule for f in fired) or "archive=always"
    notes = f"监测 monitor {monitor.id} run {run.id}: {rules}"[:4096]

    def link(session: Session, evidence_id: str) -> None:
        _record(ctx, session, monitor, run, owner, observed.observation, fired, evidence_id)

    evidence_id = keep_as_evidence(
        ctx.observer,
        observed,
        submitter_token_id=monitor.created_by_token_id,
        platform=platform,
        entity=entity,
        case_ref=None,
        notes=notes,
        link=link,
    )
    ctx.ledger.queued(1 + len(fired))  # the monitor entry and each alert's
    return evidence_id


# -- running ------------------------------------------------------------------------------


def _observe_and_record(
    ctx: Monitoring, monitor: Monitor, run: MonitorRun, owner: str
) -> RunResult:
    rules = Rules.model_validate_json(monitor.rules)
    words = load_wordlists(ctx.settings.monitor_wordlists)
    baseline = Observation.loads(monitor.baseline) if monitor.baseline else None
    patterns = tuple(rules.gone.patterns)
    always = monitor.archive == "always"
    with ExitStack() as stack:
        first = stack.enter_context(
            observe(ctx.observer, monitor.url, full=always, patterns=patterns, run_id=run.id)
        )
        fired = evaluate(baseline, first.observation, rules, words, was_gone=monitor.gone)
        if not fired and not always:
            with ctx.transaction() as session:
                _record(ctx, session, monitor, run, owner, first.observation, [], None)
            ctx.ledger.queued(1)
            return RunResult(claimed=True, status=DONE)
        kept, kept_fired = first, fired
        if fired and monitor.archive == "on_alert":
            # The alert must cite what showed the finding: the full capture if it still
            # shows it (re-evaluated against the same baseline), else the light one.
            full = stack.enter_context(
                observe(ctx.observer, monitor.url, full=True, patterns=patterns, run_id=run.id)
            )
            again = evaluate(baseline, full.observation, rules, words, was_gone=monitor.gone)
            if again:
                kept, kept_fired = full, again
        evidence_id = _keep(ctx, monitor, run, owner, kept, kept_fired)
        return RunResult(
            claimed=True,
            status=DONE,
            fired=tuple(f.rule for f in kept_fired),
            evidence_id=evidence_id,
        )


def run_monitor(ctx: Monitoring, run_id: str) -> RunResult:
    """Run ``run_id`` if it is queued (or its last run's process is gone): claim, gate,
    observe, evaluate, record. Never leaves it ``running`` on return."""
    owner = process_owner()
    transaction = ctx.transaction
    if not _claim(transaction, run_id, owner):
        loaded = _load(transaction, run_id)
        if loaded is None:
            return RunResult(claimed=False)
        row = loaded[0]
        if row.status != RUNNING or not abandoned(row, datetime.now(UTC)):
            return RunResult(claimed=False, status=row.status)
        if recover(transaction, row) != QUEUED or not _claim(transaction, run_id, owner):
            return RunResult(claimed=False)
    loaded = _load(transaction, run_id)
    assert loaded is not None  # claimed just now; runs are never deleted
    run, monitor = loaded
    if monitor.deleted_at is not None or not monitor.enabled:
        _finish_failed(transaction, run_id, owner, MONITOR_GONE)
        return RunResult(claimed=True, status=FAILED, reason=MONITOR_GONE)
    holder = f"{owner}/{run_id}"[:160]
    slot = hosts.acquire(
        transaction,
        monitor.host,
        concurrency=ctx.settings.monitor_host_concurrency,
        spacing=ctx.settings.monitor_host_spacing,
        holder=holder,
        lease_seconds=LEASE_SECONDS,
    )
    if slot is None:
        later = _defer(transaction, run_id, owner, monitor.host)
        log.info("monitor run %s deferred to %s: host %s busy", run_id, later, monitor.host)
        return RunResult(claimed=True, status=QUEUED, deferred=True)
    heartbeat = _Heartbeat(transaction, run_id, owner, (monitor.host, slot), holder)
    try:
        result = _observe_and_record(ctx, monitor, run, owner)
    except RunSupersededError:
        log.warning("monitor run %s was taken over while it ran; its result is dropped", run_id)
        return RunResult(claimed=True, status=None)
    except CaptureError as exc:
        heartbeat.stop()
        _finish_failed(transaction, run_id, owner, exc.reason)
        log.info("monitor run %s failed: %s", run_id, exc.reason)
        return RunResult(claimed=True, status=FAILED, reason=exc.reason)
    except ApiError as exc:  # the intake's refusal, e.g. the evidence store unavailable
        heartbeat.stop()
        _finish_failed(transaction, run_id, owner, exc.detail)
        log.warning("monitor run %s not recorded: %s", run_id, exc.detail)
        return RunResult(claimed=True, status=FAILED, reason=exc.detail)
    except Exception:
        heartbeat.stop()
        log.exception("monitor run %s failed unexpectedly", run_id)
        _finish_failed(transaction, run_id, owner, UNEXPECTED)
        return RunResult(claimed=True, status=FAILED, reason=UNEXPECTED)
    finally:
        heartbeat.stop()
        hosts.release(transaction, monitor.host, slot, holder)
    log.info("monitor run %s done: fired %s", run_id, list(result.fired))
    return result


# -- what was left behind -----------------------------------------------------------------


def abandoned(row: MonitorRun, now: datetime) -> bool:
    """A running run whose process is gone: its pid dead on this host, or no heartbeat
    for :data:`STALE_AFTER` seconds."""
    beat = row.heartbeat_at or row.started_at or row.scheduled_at
    return leases.abandoned(row.owner, beat, now, STALE_AFTER)


def recover(transaction: Transaction, row: MonitorRun) -> str | None:
    """An abandoned run: re-queued if it has a run left, else failed with
    :data:`INTERRUPTED`; conditional on the row still being that run's. Returns the new
    status, or None when something else changed it first."""
    return LEASES.recover(transaction, row, max_attempts=MAX_ATTEMPTS, reason=INTERRUPTED)


def sweep(
    transaction: Transaction,
    *,
    now: datetime | None = None,
    skip: frozenset[str] = frozenset(),
    resend_all: bool = False,
    limit: int = 1000,
) -> list[str]:
    """Recover abandoned runs, and return the queued runs to hand out again: due
    (``scheduled_at`` passed) and never sent since they were queued or deferred
    (``heartbeat_at`` null), or sent :data:`REQUEUE_AFTER` seconds ago and still not
    taken (a lost message), or every due one when ``resend_all`` (a process's first
    sweep: what the last process left); minus ``skip``. ``heartbeat_at`` of each is set
    to now (for a queued run it records when its message was last sent)."""
    now = now or datetime.now(UTC)
    with transaction() as session:
        running = list(
            session.execute(select(MonitorRun).where(MonitorRun.status == RUNNING)).scalars()
        )
    for row in running:
        if abandoned(row, now):
            recover(transaction, row)
    stale = now - timedelta(seconds=REQUEUE_AFTER)
    unsent = (MonitorRun.heartbeat_at.is_(None)) | (MonitorRun.heartbeat_at < stale)
    with transaction() as session:
        ids = list(
            session.execute(
                select(MonitorRun.id)
                .where(
                    MonitorRun.status == QUEUED,
                    MonitorRun.scheduled_at <= now,
                    *(() if resend_all else (unsent,)),
                )
                .order_by(MonitorRun.scheduled_at, MonitorRun.seq)
                .limit(limit)
            ).scalars()
        )
        ids = [run_id for run_id in ids if run_id not in skip]
        if ids:
            session.execute(
                update(MonitorRun)
                .where(MonitorRun.id.in_(ids), MonitorRun.status == QUEUED)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
    return ids


def new_run_id() -> str:
    return new_id(RUN_ID_PREFIX)
