"""Takedowns verified by re-capture: each listed URL of a completed order captured again
at the configured delays (``takedown_verify_delays``); ``removal_verified`` or
``reappeared``.

A completion schedules the checks (:func:`evidence_api.takedowns.service.change_state`
inserts one ``pending`` :class:`TakedownCheck` per URL per delay, in the completion's
transaction). A due check (``status = pending AND due_at <= now``, index
``ix_takedown_check_status_due``) is

1. claimed: ``pending → running`` by a conditional UPDATE naming its owner (one process
   wins, however many were sent it);
2. gated: it takes a slot of its host through :mod:`.hosts` (``monitor_host_concurrency``,
   ``monitor_host_spacing``, shared with monitor runs); a busy host puts it back
   ``pending`` a little later, no attempt consumed;
3. observed: a light capture (:func:`.observe.observe`) — the listing is gone (404/410
   or a removed-page pattern) or it is not;
4. kept: the capture becomes evidence (submitter: the order's issuing officer) and, in
   the evidence's own transaction, the result is recorded as a ``takedown`` change
   (:func:`evidence_api.takedowns.service.record_check`: feed lock, change_seq, event,
   log entry, webhook delivery) and the check is closed; a reappearance also reopens the
   order (its other pending checks cancelled) and opens a ``reappeared`` alert for the
   issuing officer. All or nothing.

A capture that fails is never a pass: the check goes back ``pending`` once
(:data:`RETRY_AFTER` later) and then ends ``failed`` with the reason, shown in the
officer's view of the order. A check left ``running`` by a dead process past
:func:`abandoned_after` is recovered the same way.

Embedded (``run_monitors``): the ``takedown-checks`` job's step runs due checks one at a
time on its timer's thread. Celery: beat's step (:data:`SWEEP_TASK`) recovers abandoned
checks and sends each due one as :data:`TASK` (its one argument: the check id) to the
``capture`` queue, moving its ``due_at`` :data:`RESEND_AFTER` ahead so a lost message is
sent again later, never twice in a row.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.capture.service import Runner, browser_runner
from evidence_api.core.config import Settings
from evidence_api.core.leases import Leases, set_where
from evidence_api.core.runtime import Runtime
from evidence_api.core.workers import register_task, send_task
from evidence_api.monitoring import hosts
from evidence_api.monitoring.alert_log import AlertDraft, AlertLedger, ledger_of, open_alert
from evidence_api.monitoring.models import (
    CHECK_FAILED,
    CHECK_PENDING,
    CHECK_REAPPEARED,
    CHECK_RUNNING,
    CHECK_VERIFIED,
    TakedownCheck,
)
from evidence_api.monitoring.observation import REAPPEARED
from evidence_api.monitoring.observe import Observer, keep_as_evidence, observe, observer_of
from evidence_api.registry.models import Platform
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns.models import TakedownOrder

log = logging.getLogger(__name__)

Steps = tuple[list[Callable[[], object]], Callable[[float], None]]

#: The Celery queue the re-captures run on (workers with Chromium, as captures).
QUEUE = "capture"
#: The Celery task running one check (its one argument: the check id).
TASK = "evidence.takedown_check"
#: Due checks one step takes.
BATCH = 20
#: Attempts a check gets (a failed capture is retried once).
MAX_ATTEMPTS = 2
#: How long after a failed capture the check is tried again.
RETRY_AFTER = timedelta(seconds=60)
#: How far ahead a check sent to Celery is moved (sent again then if still pending).
RESEND_AFTER = timedelta(seconds=300)
#: Least wait before a check whose host was busy is looked at again.
MIN_DEFER = timedelta(seconds=1)


@dataclass(frozen=True)
class Checks:
    """What running checks uses: the takedown ledger (recording results), the alert
    ledger, the observer (capture and evidence), the settings."""

    ledger: takedowns.Ledger
    alerts: AlertLedger
    observer: Observer
    settings: Settings


def checks_of(runtime: Runtime, runner: Callable[[], Runner] = browser_runner) -> Checks:
    """What running checks uses, out of a process's runtime."""
    return Checks(
        ledger=takedowns.ledger_of(runtime),
        alerts=ledger_of(runtime),
        observer=observer_of(runtime, runner),
        settings=runtime.settings,
    )


def abandoned_after(settings: Settings) -> timedelta:
    """A check running longer than this was left by a dead process (a capture's whole
    budget, twice, and a minute)."""
    return timedelta(seconds=2 * settings.capture_total_seconds + 60)


def _owner() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{threading.get_ident()}"[:160]


def host_of(url: str) -> str:
    """The host the per-host gate counts (lower case; the URL itself if it has none)."""
    host = (urlsplit(url).hostname or url).lower()
    return host[: hosts.MAX_HOST]


def human_delay(seconds: int) -> str:
    """``3600`` → ``1 h``, ``604800`` → ``7 d``, ``90`` → ``90 s`` (in alert reasons)."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# --- the database side --------------------------------------------------------------------


def due(checks: Checks, *, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Ids of pending checks whose time has come, oldest due first."""
    at = now or datetime.now(UTC)
    with checks.ledger.transaction() as session:
        return list(
            session.execute(
                select(TakedownCheck.id)
                .where(TakedownCheck.status == CHECK_PENDING, TakedownCheck.due_at <= at)
                .order_by(TakedownCheck.due_at, TakedownCheck.id)
                .limit(limit)
            ).scalars()
        )


#: The check table's leases (the claim: :mod:`evidence_api.core.leases`).
LEASES = Leases(
    TakedownCheck, "takedown check", waiting=CHECK_PENDING, running=CHECK_RUNNING, heartbeat=False
)


def claim(checks: Checks, check_id: int, owner: str, now: datetime) -> bool:
    """``pending → running`` for ``owner`` (one attempt more); False if another took it
    or it is no longer pending."""
    return LEASES.claim(checks.ledger.transaction, check_id, owner, now)


def _defer(checks: Checks, check_id: int, owner: str, until: datetime) -> None:
    """The host was busy: back to pending at ``until``, the attempt given back."""
    with checks.ledger.transaction() as session:
        set_where(
            session,
            TakedownCheck,
            TakedownCheck.id == check_id,
            TakedownCheck.owner == owner,
            status=CHECK_PENDING,
            owner=None,
            started_at=None,
            due_at=until,
            attempts=TakedownCheck.attempts - 1,
        )


def _failed(checks: Checks, check_id: int, owner: str | None, reason: str, at: datetime) -> str:
    """A failed attempt: pending again :data:`RETRY_AFTER` later while attempts remain,
    else ``failed`` for good. Returns the status it is left in."""
    reason = reason[:1000] or "the re-capture failed"
    with checks.ledger.transaction() as session:
        row = session.get(TakedownCheck, check_id)
        if row is None or row.status != CHECK_RUNNING or (owner and row.owner != owner):
            return row.status if row is not None else "gone"
        if row.attempts < MAX_ATTEMPTS:
            row.status, row.due_at = CHECK_PENDING, at + RETRY_AFTER
            row.owner, row.started_at = None, None
            row.reason = f"attempt {row.attempts} failed, retried: {reason}"[:1024]
        else:
            row.status, row.finished_at = CHECK_FAILED, at
            row.reason = f"failed after {row.attempts} attempts: {reason}"[:1024]
        return row.status


def recover(checks: Checks, *, now: datetime | None = None) -> int:
    """Checks left ``running`` past :func:`abandoned_after` (their process died): retried
    once more, or failed. Returns how many were recovered."""
    at = now or datetime.now(UTC)
    with checks.ledger.transaction() as session:
        stuck = list(
            session.execute(
                select(TakedownCheck.id, TakedownCheck.owner).where(
                    TakedownCheck.status == CHECK_RUNNING,
                    TakedownCheck.started_at <= at - abandoned_after(checks.settings),
                )
            ).all()
        )
    for check_id, owner in stuck:
        _failed(checks, check_id, owner, "interrupted: its process ended during the capture", at)
    return len(stuck)


@dataclass(frozen=True)
class _Target:
    url: str
    delay_seconds: int
    round: int
    order_seq: int
    order_id: str
    issued_by: str
    case_number: str | None
    platform_id: int
    platform_code: str


def _target(checks: Checks, check_id: int) -> _Target:
    with checks.ledger.transaction() as session:
        row = session.execute(
            select(TakedownCheck, TakedownOrder, Platform)
            .join(TakedownOrder, TakedownOrder.seq == TakedownCheck.order_seq)
            .join(Platform, Platform.id == TakedownOrder.platform_id)
            .where(TakedownCheck.id == check_id)
        ).one()
        check, order, platform = row
        return _Target(
            url=check.url,
            delay_seconds=check.delay_seconds,
            round=check.round,
            order_seq=order.seq,
            order_id=order.id,
            issued_by=order.issued_by,
            case_number=order.case_number,
            platform_id=platform.id,
            platform_code=platform.code,
        )


def issuer_token(issued_by: str) -> int:
    """The issuing officer's token id out of its pseudonym ``token-<id>``."""
    if not issued_by.startswith("token-") or not issued_by[6:].isdigit():
        raise ValueError(f"the order's issuer {issued_by!r} is not a token pseudonym")
    return int(issued_by[6:])


def reappeared_reason(url: str, delay_seconds: int) -> str:
    """The alert's reason, in Chinese with the English alongside."""
    host, delay = host_of(url), human_delay(delay_seconds)
    return (
        f"下架复查：{host} 上已下架的商品在完成下架 {delay} 后重新出现，通知已重新下达 / "
        f"takedown re-capture: the listing on {host} was found again {delay} after the "
        "order was completed; the order is reopened"
    )


# --- one check ----------------------------------------------------------------------------


def run_check(checks: Checks, check_id: int, *, now: datetime | None = None) -> str:
    """Run one check if it can be claimed: claimed, gated, captured, kept and recorded
    (module docstring). Returns what happened: ``removal_verified``, ``reappeared``,
    ``deferred``, ``pending`` (failed, retried later), ``failed`` or ``not claimed``."""
    at = now or datetime.now(UTC)
    owner = _owner()
    if not claim(checks, check_id, owner, at):
        return "not claimed"
    try:
        target = _target(checks, check_id)
        token_id = issuer_token(target.issued_by)
    except Exception as exc:  # the order's data cannot be used: say so, never pass
        return _failed(checks, check_id, owner, str(exc), at)
    settings = checks.settings
    host = host_of(target.url)
    slot = hosts.acquire(
        checks.ledger.transaction,
        host,
        concurrency=settings.monitor_host_concurrency,
        spacing=settings.monitor_host_spacing,
        holder=owner,
        lease_seconds=abandoned_after(settings).total_seconds(),
    )
    if slot is None:
        wait = max(timedelta(seconds=settings.monitor_host_spacing), MIN_DEFER)
        _defer(checks, check_id, owner, datetime.now(UTC) + wait)
        return "deferred"
    try:
        return _observe_and_record(checks, check_id, target, token_id)
    except Exception as exc:
        log.warning("takedown check %s failed: %s", check_id, exc)
        return _failed(checks, check_id, owner, _reason(exc), datetime.now(UTC))
    finally:
        hosts.release(checks.ledger.transaction, host, slot, owner)


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc or type(exc).__name__)


def _observe_and_record(checks: Checks, check_id: int, target: _Target, token_id: int) -> str:
    written: list[int] = []  # entries the link queued (the takedown change, an alert)
    result: list[str] = []
    with observe(checks.observer, target.url, full=False, run_id=f"tdc-{check_id}") as seen:
        check = takedowns.REMOVAL_VERIFIED if seen.observation.gone else takedowns.REAPPEARED

        def link(session: Session, evidence_id: str) -> None:
            at = datetime.now(UTC)
            recorded = takedowns.record_check(
                checks.ledger,
                session,
                target.order_seq,
                check=check,
                url=target.url,
                evidence_id=evidence_id,
                delay_seconds=target.delay_seconds,
                round_=target.round,
                at=at,
            )
            row = session.get_one(TakedownCheck, check_id)
            row.status = CHECK_VERIFIED if check == takedowns.REMOVAL_VERIFIED else CHECK_REAPPEARED
            row.finished_at, row.evidence_id, row.event_id = at, evidence_id, recorded.event.id
            row.reason = seen.observation.gone_reason
            written.append(1 + recorded.credit_entries)  # the change, its credit record
            if check == takedowns.REAPPEARED:
                open_alert(
                    checks.alerts,
                    session,
                    AlertDraft(
                        rule=REAPPEARED,
                        reason=reappeared_reason(target.url, target.delay_seconds),
                        recipient=target.issued_by,
                        detail={
                            "url": target.url,
                            "delay_seconds": target.delay_seconds,
                            "round": target.round,
                            "check_id": check_id,
                            "reopened": recorded.reopened,
                            "deadline": recorded.deadline.isoformat(),
                            "http_status": seen.observation.http_status,
                        },
                        order_seq=target.order_seq,
                        order_id=target.order_id,
                        platform_id=target.platform_id,
                        evidence_id=evidence_id,
                    ),
                    at=at,
                )
                written.append(1)
            result.append(check)

        keep_as_evidence(
            checks.observer,
            seen,
            submitter_token_id=token_id,
            platform=target.platform_code,
            entity=None,
            case_ref=target.case_number,
            notes=(
                f"下架复查 takedown re-capture: order {target.order_id}, round {target.round}, "
                f"+{human_delay(target.delay_seconds)}"
            ),
            link=link,
        )
    checks.ledger.queued(sum(written))
    return result[0]


# --- running them -------------------------------------------------------------------------


def run_due(checks: Checks, *, stopped: Callable[[], bool] = lambda: False) -> int:
    """Embedded: recover abandoned checks, then run the due ones here, one at a time
    (until ``stopped``). Returns how many ran to a result."""
    recover(checks)
    ran = 0
    for check_id in due(checks):
        if stopped():
            break
        outcome = run_check(checks, check_id)
        ran += outcome in (CHECK_VERIFIED, CHECK_REAPPEARED)
    return ran


def send_due(checks: Checks, send: Callable[[int], None], *, now: datetime | None = None) -> int:
    """Celery (beat's step): recover abandoned checks, then send each due one to the
    ``capture`` queue, its ``due_at`` moved :data:`RESEND_AFTER` ahead first (a lost
    message is sent again then). Returns how many were sent."""
    at = now or datetime.now(UTC)
    recover(checks, now=at)
    sent = 0
    for check_id in due(checks, now=at):
        with checks.ledger.transaction() as session:
            if not set_where(
                session,
                TakedownCheck,
                TakedownCheck.id == check_id,
                TakedownCheck.status == CHECK_PENDING,
                due_at=at + RESEND_AFTER,
            ):
                continue
        try:
            send(check_id)
            sent += 1
        except Exception as exc:  # the broker is gone: due again at RESEND_AFTER
            log.warning("takedown check %s not sent to queue %s: %s", check_id, QUEUE, exc)
    return sent


def _send(broker_url: str, check_id: int) -> None:
    send_task(broker_url, TASK, check_id, QUEUE)


def start_checks(runtime: Runtime) -> Steps:
    """The ``takedown-checks`` job's steps in this process. Returns (steps, stop): the steps each
    tick runs in order, and how to stop what they started (given a timeout in seconds)."""
    checks = checks_of(runtime)
    if runtime.settings.run_monitors:
        stop = threading.Event()
        return [lambda: run_due(checks, stopped=stop.is_set)], lambda _timeout: stop.set()
    broker = runtime.settings.broker_url
    return [lambda: send_due(checks, lambda check_id: _send(broker, check_id))], (
        lambda _timeout: None
    )


def register_celery(app: Any, runtime: Callable[[], Runtime]) -> None:
    """Register the re-capture task on ``app`` (routed to the ``capture`` queue; acknowledged
    late and rejected when its worker is lost, like captures: the claim makes a
    redelivery safe)."""

    def takedown_check(check_id: int) -> str:
        if isinstance(check_id, bool) or not isinstance(check_id, int) or check_id < 1:
            log.warning("ignored a takedown check task for %r: not a check id", check_id)
            return "ignored"
        return run_check(checks_of(runtime()), check_id)

    register_task(app, TASK, takedown_check, QUEUE)
