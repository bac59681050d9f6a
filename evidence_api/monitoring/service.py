"""Monitors (监测任务): create, read, list, change, delete; their runs, listed.

What a request's body cannot check by itself is checked here, each refusal a 422 naming
the field (docs/monitoring.md §2):

* the schedule: a cron expression :func:`~evidence_api.monitoring.schedule.parse_cron`
  accepts, and neither an interval nor a cron's smallest gap between firings below
  ``monitor_min_interval`` (we never hammer a platform);
* the target: the URL each run captures allowed by the capture's address policy now
  (:func:`~evidence_api.capture.netpolicy.check_url`; checked again at every run, as DNS
  may change);
* the entity and the platform: registered, and the entity a shop on that platform (the
  platform defaults to the entity's);
* the word lists the rules name: known (:mod:`evidence_api.monitoring.wordlists`).

The first run is due at :func:`~evidence_api.monitoring.schedule.first_run` (jittered by
the monitor's id); a schedule change, or enabling a disabled monitor, computes it again
from now. DELETE is soft: the monitor stops and no longer lists, its runs and alerts stay
(they are cited by log entries and evidence).

Functions that check an address take a :data:`~evidence_api.core.db.Transaction` and
resolve it before opening one, so no database connection waits on DNS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from evidence_api.capture.netpolicy import check_url, normalize_host, policy_from_setting
from evidence_api.capture.outcome import CaptureError
from evidence_api.core.auth import Principal
from evidence_api.core.config import Settings
from evidence_api.core.db import Transaction
from evidence_api.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import (
    label,
    owner_unit,
    reachable,
    scope,
    unit_in_reach,
    units_under,
)
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.monitoring import schedule as schedules
from evidence_api.monitoring import wordlists
from evidence_api.monitoring.models import (
    ALERT_OPEN,
    FAILED,
    QUEUED,
    Alert,
    Monitor,
    MonitorRun,
)
from evidence_api.monitoring.observation import RULE_LABELS, Finding, Observation
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.schemas import (
    ARCHIVE_LABELS,
    KIND_LABELS,
    RUN_STATUS_LABELS,
    Archive,
    FiredRule,
    Kind,
    MonitorCreate,
    MonitorDetail,
    MonitorPage,
    MonitorPublic,
    MonitorUpdate,
    PageTarget,
    RunObservation,
    RunPage,
    RunPublic,
    RunStatus,
    Schedule,
    SchedulePublic,
    TargetPublic,
)
from evidence_api.registry.entities import entity_by_id
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.registry.platforms import platform_by_code

#: Most monitors or runs one page lists.
MAX_PAGE = 200
#: Why a run still queued when its monitor was deleted never ran.
DELETED = "监测任务已删除 the monitor was deleted before this run started"


# --- checks -------------------------------------------------------------------------------


def check_schedule(
    schedule: Schedule, settings: Settings, *, now: datetime
) -> tuple[int | None, str | None]:
    """``(interval_seconds, cron)`` with the cron expression normalised; 422 naming
    ``schedule.cron`` or ``schedule.interval_seconds`` for a malformed expression or a
    schedule running more often than ``monitor_min_interval`` seconds."""
    least = settings.monitor_min_interval
    if schedule.interval_seconds is not None:
        if schedule.interval_seconds < least:
            raise InvalidInputError(
                f"schedule.interval_seconds: {schedule.interval_seconds} s is below the "
                f"minimum of {least} s between two runs (EVIDENCE_MONITOR_MIN_INTERVAL)",
                field="schedule.interval_seconds",
            )
        return schedule.interval_seconds, None
    assert schedule.cron is not None  # Schedule holds exactly one of the two
    try:
        cron = schedules.parse_cron(schedule.cron)
        gap = schedules.min_gap_seconds(cron, start=now)
    except schedules.ScheduleError as exc:
        raise InvalidInputError(f"schedule.cron: {exc}", field="schedule.cron") from exc
    if gap < least:
        raise InvalidInputError(
            f"schedule.cron: {cron!r} fires as often as every {gap:g} s, below the minimum "
            f"of {least} s between two runs (EVIDENCE_MONITOR_MIN_INTERVAL)",
            field="schedule.cron",
        )
    return None, cron


def target_url(body: MonitorCreate) -> tuple[str, str]:
    """The URL each run captures and the field that gave it."""
    target = body.target
    if isinstance(target, PageTarget):
        return target.url, "target.url"
    return target.url, "target.url_template"


def check_address(url: str, settings: Settings, field: str) -> str:
    """``url``'s host (lower case), once the capture's address policy allows it now;
    422 naming ``field`` and the refused address otherwise (EVIDENCE_CAPTURE_ALLOW
    lists the loopback or private addresses a deployment may watch)."""
    try:
        host, _port, _addresses = check_url(url, policy_from_setting(settings.capture_allow))
    except CaptureError as exc:
        raise InvalidInputError(f"{field}: {exc.reason}", field=field) from exc
    return host


def check_rules(rules: Rules, settings: Settings) -> None:
    """422 naming ``rules.prohibited_words.lists`` if a list it names is not installed."""
    try:
        lists = wordlists.load_wordlists(settings.monitor_wordlists)
    except wordlists.WordListError as exc:  # the deployment's folder is broken, not the body
        raise ServiceUnavailableError(f"the monitoring word lists cannot be read: {exc}") from exc
    unknown = lists.unknown(rules.prohibited_words.lists)
    if unknown:
        field = "rules.prohibited_words.lists"
        raise InvalidInputError(
            f"{field}: unknown word list(s) {', '.join(unknown)}; installed: "
            f"{', '.join(lists.names())}",
            field=field,
        )


@dataclass(frozen=True)
class References:
    entity_id: int | None
    platform_id: int | None


def references(
    session: Session,
    entity_id: int | None,
    platform: str | None,
    principal: Principal | None = None,
) -> References:
    """The entity and the platform a monitor concerns, both registered (422 naming the
    field otherwise); the platform is the entity's when not given, and must be it when
    given."""
    entity: TradingEntity | None = None
    if entity_id is not None:
        entity = entity_by_id(session, entity_id, field="entity_id", principal=principal)
    platform_id: int | None = None
    if platform is not None:
        platform_id = platform_by_code(session, platform, field="platform").id
    if entity is not None:
        if platform_id is not None and platform_id != entity.platform_id:
            code = session.execute(
                select(Platform.code).where(Platform.id == entity.platform_id)
            ).scalar_one()
            raise InvalidInputError(
                f"entity_id: trading entity {entity.id} is a shop on platform {code!r}, "
                f"not {platform!r}",
                field="entity_id",
            )
        platform_id = entity.platform_id
    return References(entity_id, platform_id)


# --- shaping ------------------------------------------------------------------------------


def _platform_codes(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Platform.id, Platform.code).where(Platform.id.in_(ids)))
    return {pid: code for pid, code in rows}


def _public(row: Monitor, platform: str | None) -> MonitorPublic:
    return MonitorPublic(
        id=row.id,
        name=row.name,
        target=TargetPublic(
            kind=cast(Kind, row.target_kind),
            kind_label=KIND_LABELS.get(row.target_kind, row.target_kind),
            url=row.url,
            url_template=row.url_template,
            keyword=row.keyword,
        ),
        host=row.host,
        schedule=SchedulePublic(interval_seconds=row.interval_seconds, cron=row.cron),
        entity_id=row.entity_id,
        platform=platform,
        rules=Rules.model_validate_json(row.rules),
        archive=cast(Archive, row.archive),
        archive_label=ARCHIVE_LABELS.get(row.archive, row.archive),
        enabled=row.enabled,
        next_run_at=row.next_run_at if row.enabled else None,
        last_run_at=row.last_run_at,
        gone=row.gone,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        runs_url=f"/v1/monitors/{row.id}/runs",
    )


def _observation(text: str | None) -> RunObservation | None:
    if not text:
        return None
    seen = Observation.loads(text)
    return RunObservation(
        http_status=seen.http_status,
        title=seen.title,
        prices=list(seen.prices),
        available=seen.available,
        gone=seen.gone,
        gone_reason=seen.gone_reason,
    )


def _fired(text: str | None) -> list[FiredRule] | None:
    if text is None:
        return None
    items: Any = json.loads(text)
    findings = [Finding.from_json(item) for item in items] if isinstance(items, list) else []
    return [
        FiredRule(rule=f.rule, rule_label=RULE_LABELS.get(f.rule, f.rule), reason=f.reason)
        for f in findings
    ]


def run_public(row: MonitorRun) -> RunPublic:
    """A run as officers read it: the observation's facts (never its text), the rules
    that fired with their reasons, the evidence kept and the log entry."""
    return RunPublic(
        id=row.id,
        status=cast(RunStatus, row.status),
        status_label=RUN_STATUS_LABELS.get(row.status, row.status),
        scheduled_at=row.scheduled_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=row.attempts,
        deferrals=row.deferrals,
        observation=_observation(row.observation),
        fired=_fired(row.fired),
        evidence_id=row.evidence_id,
        evidence_url=f"/v1/evidence/{row.evidence_id}" if row.evidence_id else None,
        entry_id=row.entry_id,
        reason=row.reason if row.status == FAILED else None,
    )


def _detail(session: Session, row: Monitor) -> MonitorDetail:
    codes = _platform_codes(session, {row.platform_id} if row.platform_id else set())
    last = session.execute(
        select(MonitorRun)
        .where(MonitorRun.monitor_seq == row.seq)
        .order_by(MonitorRun.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    open_alerts = session.execute(
        select(func.count())
        .select_from(Alert)
        .where(Alert.monitor_seq == row.seq, Alert.status == ALERT_OPEN)
    ).scalar_one()
    public = _public(row, codes.get(row.platform_id) if row.platform_id else None)
    label(session, [(public, row.unit_id)])
    return MonitorDetail(
        **public.model_dump(),
        last_run=run_public(last) if last is not None else None,
        open_alerts=open_alerts,
    )


def live_monitor(session: Session, monitor_id: str, principal: Principal | None = None) -> Monitor:
    """Monitor ``monitor_id`` unless deleted or outside ``principal``'s reach; 404 otherwise."""
    row = session.execute(
        select(Monitor).where(Monitor.id == monitor_id, Monitor.deleted_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not reachable(session, principal, row.unit_id):
        raise NotFoundError(f"no monitor {monitor_id}")
    return row


# --- create, read, change, delete ---------------------------------------------------------


def create_monitor(
    transaction: Transaction,
    settings: Settings,
    principal: Principal,
    body: MonitorCreate,
    *,
    now: datetime | None = None,
) -> MonitorDetail:
    """Check ``body`` (422 naming the field) and record the monitor, its first run due
    at :func:`~evidence_api.monitoring.schedule.first_run`; committed on return."""
    now = now or datetime.now(UTC)
    interval, cron = check_schedule(body.schedule, settings, now=now)
    check_rules(body.rules, settings)
    url, field = target_url(body)
    host = check_address(url, settings, field)
    monitor_id = new_id("mon")
    template = None if isinstance(body.target, PageTarget) else body.target
    with transaction() as session:
        refs = references(session, body.entity_id, body.platform, principal)
        unit_id = owner_unit(session, principal, body.unit)
        row = Monitor(
            id=monitor_id,
            name=body.name,
            target_kind=body.target.kind,
            url=url,
            url_template=template.url_template if template else None,
            keyword=template.keyword if template else None,
            host=host,
            interval_seconds=interval,
            cron=cron,
            entity_id=refs.entity_id,
            platform_id=refs.platform_id,
            unit_id=unit_id,
            rules=body.rules.model_dump_json(),
            archive=body.archive,
            enabled=body.enabled,
            next_run_at=_first_run(settings, interval, cron, monitor_id, now),
            last_run_at=None,
            baseline=None,
            gone=False,
            created_by_token_id=principal.token_id,
            created_by=principal.pseudonym,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        session.add(row)
        session.flush()
        return _detail(session, row)


def _first_run(
    settings: Settings, interval: int | None, cron: str | None, monitor_id: str, now: datetime
) -> datetime:
    return schedules.first_run(
        now=now,
        interval_seconds=interval,
        cron=cron,
        jitter=settings.monitor_jitter,
        key=monitor_id,
    )


def get_monitor(
    transaction: Transaction, monitor_id: str, principal: Principal | None = None
) -> MonitorDetail:
    with transaction() as session:
        return _detail(session, live_monitor(session, monitor_id, principal))


def runnable_seq(
    transaction: Transaction, monitor_id: str, principal: Principal | None = None
) -> int:
    """The row key of monitor ``monitor_id`` for a run now
    (:func:`evidence_api.monitoring.dispatch.queue_run`): 404 when there is none or it
    was deleted, 409 when it is disabled (a run of a disabled monitor does not run)."""
    with transaction() as session:
        row = live_monitor(session, monitor_id, principal)
        if not row.enabled:
            raise ConflictError(
                f"monitor {monitor_id} is disabled (已停用); enable it (PATCH enabled: true) "
                "to run it",
                field="enabled",
            )
        return row.seq


#: PATCH fields that may not be null (the entity and the platform may: null clears them).
NOT_NULL = ("name", "schedule", "rules", "archive", "enabled", "unit")


def update_monitor(
    transaction: Transaction,
    settings: Settings,
    monitor_id: str,
    body: MonitorUpdate,
    *,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> MonitorDetail:
    """Change the named fields, checked as on creation. A new schedule, or enabling a
    disabled monitor, makes the next run due at ``first_run`` from now."""
    now = now or datetime.now(UTC)
    given = body.model_fields_set
    for name in NOT_NULL:
        if name in given and getattr(body, name) is None:
            raise InvalidInputError(f"{name}: may not be null", field=name)
    timing: tuple[int | None, str | None] | None = None
    if body.schedule is not None:
        timing = check_schedule(body.schedule, settings, now=now)
    if body.rules is not None:
        check_rules(body.rules, settings)
    with transaction() as session:
        row = live_monitor(session, monitor_id, principal)
        if body.unit is not None and principal is not None:
            row.unit_id = unit_in_reach(session, principal, body.unit)
        if "entity_id" in given or "platform" in given:
            _change_references(session, row, body, given, principal)
        if body.name is not None:
            row.name = body.name
        if body.rules is not None:
            row.rules = body.rules.model_dump_json()
        if body.archive is not None:
            row.archive = body.archive
        enabling = body.enabled is True and not row.enabled
        if body.enabled is not None:
            row.enabled = body.enabled
        if timing is not None:
            row.interval_seconds, row.cron = timing
        if timing is not None or enabling:
            row.next_run_at = _first_run(settings, row.interval_seconds, row.cron, row.id, now)
        row.updated_at = now
        session.flush()
        return _detail(session, row)


def _change_references(
    session: Session,
    row: Monitor,
    body: MonitorUpdate,
    given: set[str],
    principal: Principal | None = None,
) -> None:
    """The entity and platform after a PATCH naming either: a new entity brings its
    platform unless the PATCH names one; a platform named must be the entity's."""
    entity_id = body.entity_id if "entity_id" in given else row.entity_id
    if "platform" in given:
        platform = body.platform
    elif "entity_id" in given and entity_id is not None:
        platform = None  # the new entity's own
    else:
        platform = (
            session.execute(
                select(Platform.code).where(Platform.id == row.platform_id)
            ).scalar_one_or_none()
            if row.platform_id is not None
            else None
        )
    refs = references(session, entity_id, platform, principal)
    row.entity_id, row.platform_id = refs.entity_id, refs.platform_id


def delete_monitor(
    transaction: Transaction,
    monitor_id: str,
    *,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> None:
    """Stop and hide the monitor (``deleted_at``, disabled); its runs and alerts stay.
    A run still queued is ended ``failed`` with :data:`DELETED` (a running one ends as
    it would)."""
    now = now or datetime.now(UTC)
    with transaction() as session:
        row = live_monitor(session, monitor_id, principal)
        row.deleted_at = now
        row.enabled = False
        row.updated_at = now
        session.execute(
            update(MonitorRun)
            .where(MonitorRun.monitor_seq == row.seq, MonitorRun.status == QUEUED)
            .values(status=FAILED, reason=DELETED, finished_at=now)
            .execution_options(synchronize_session=False)
        )


# --- lists --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorFilter:
    """``GET /v1/monitors``' filters (each None: any)."""

    platform: str | None = None
    entity_id: int | None = None
    enabled: bool | None = None
    host: str | None = None
    kind: str | None = None
    #: A unit's code: its monitors and those of the units below it.
    unit: str | None = None


def _filtered(query: Select[Monitor], flt: MonitorFilter) -> Select[Monitor]:
    query = query.where(Monitor.deleted_at.is_(None))
    if flt.platform is not None:
        platform_ids = select(Platform.id).where(Platform.code == flt.platform)
        query = query.where(Monitor.platform_id.in_(platform_ids.scalar_subquery()))
    if flt.entity_id is not None:
        query = query.where(Monitor.entity_id == flt.entity_id)
    if flt.enabled is not None:
        query = query.where(Monitor.enabled.is_(flt.enabled))
    if flt.host is not None:
        query = query.where(Monitor.host == normalize_host(flt.host))
    if flt.kind is not None:
        query = query.where(Monitor.target_kind == flt.kind)
    if flt.unit is not None:
        query = query.where(Monitor.unit_id.in_(units_under(flt.unit)))
    return query


def list_monitors(
    transaction: Transaction,
    flt: MonitorFilter,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> MonitorPage:
    """Newest first; ``cursor`` continues after the last item of the previous page. With
    ``principal``, only the monitors in its jurisdiction."""
    query = _filtered(keyset(select(Monitor), Monitor.seq, limit=limit, cursor=cursor), flt)
    if principal is not None:
        query = query.where(scope(principal, Monitor.unit_id))
    with transaction() as session:
        rows = list(session.execute(query).scalars())
        codes = _platform_codes(session, {r.platform_id for r in rows if r.platform_id})
        items = [
            _public(r, codes.get(r.platform_id) if r.platform_id else None) for r in rows[:limit]
        ]
        label(session, [(item, r.unit_id) for item, r in zip(items, rows, strict=False)])
    return MonitorPage(items=items, next_cursor=cursor_after(rows, limit, lambda r: r.seq))


def list_runs(
    transaction: Transaction,
    monitor_id: str,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> RunPage:
    """The monitor's runs, newest first (404 once the monitor is deleted)."""
    with transaction() as session:
        seq = live_monitor(session, monitor_id, principal).seq
        query = keyset(
            select(MonitorRun).where(MonitorRun.monitor_seq == seq),
            MonitorRun.seq,
            limit=limit,
            cursor=cursor,
        )
        rows = list(session.execute(query).scalars())
        items = [run_public(r) for r in rows[:limit]]
    return RunPage(items=items, next_cursor=cursor_after(rows, limit, lambda r: r.seq))
