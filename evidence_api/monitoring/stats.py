"""``GET /v1/stats/monitoring`` (情报分析): alerts by rule, platform, entity and week, and
each platform's takedown compliance — the figures behind the platform compliance
evaluation (合规审查评价).

Everything is counted in SQL over one window ``[since, until)``: alerts by their
``created_at``, takedown orders by their ``issued_at``. The few figures SQL does not
count portably are finished here from bounded results: ISO weeks are folded from counts
per UTC day (at most :data:`MAX_WINDOW_DAYS` rows), and medians are taken with window
functions (the middle one or two values of each platform's durations, averaged) on
SQLite and PostgreSQL alike. docs/alerts.md defines every figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError
from evidence_api.core.jurisdiction import scope
from evidence_api.monitoring.alert_schemas import (
    AlertStats,
    EntityCount,
    MonitoringStats,
    PlatformCompliance,
    PlatformCount,
    RuleCount,
    WeekCount,
)
from evidence_api.monitoring.models import CHECK_REAPPEARED, CHECK_VERIFIED, Alert, TakedownCheck
from evidence_api.monitoring.observation import RULE_LABELS
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.takedowns.models import TakedownEvent, TakedownOrder

#: Longest window, in days (the weekly series stays at most 105 weeks long).
MAX_WINDOW_DAYS = 731
#: The window when ``since`` is not given: this many days before ``until``.
DEFAULT_WINDOW_DAYS = 90
#: Entities listed in ``by_entity`` (those with the most alerts).
TOP_ENTITIES = 50


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    platform: str | None = None
    #: whose jurisdiction the figures keep to (None: every unit)
    principal: Principal | None = None


def window(
    since: datetime | None,
    until: datetime | None,
    platform: str | None,
    principal: Principal | None = None,
) -> Window:
    """The window asked for, checked: ``since`` before ``until``, at most
    :data:`MAX_WINDOW_DAYS` days (422 naming the field otherwise)."""
    end = (until or datetime.now(UTC)).astimezone(UTC)
    start = (since or end - timedelta(days=DEFAULT_WINDOW_DAYS)).astimezone(UTC)
    if start >= end:
        raise InvalidInputError("since must be before until", field="since")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise InvalidInputError(
            f"the window may span at most {MAX_WINDOW_DAYS} days", field="since"
        )
    return Window(start, end, platform, principal)


def _platform_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    found = session.execute(select(Platform.id).where(Platform.code == code)).scalar()
    if found is None:
        raise InvalidInputError(f"platform: no platform {code!r}", field="platform")
    return int(found)


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a stored moment, as SQL (PostgreSQL keeps instants and
    would give the session's zone's day; SQLite keeps UTC wall-clock fields)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _seconds(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """``end − start`` in seconds, as SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)


def _iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def alert_stats(session: Session, win: Window, platform_id: int | None) -> AlertStats:
    where: list[ColumnElement[bool]] = [
        Alert.created_at >= win.since,
        Alert.created_at < win.until,
    ]
    if platform_id is not None:
        where.append(Alert.platform_id == platform_id)
    if win.principal is not None:
        where.append(scope(win.principal, Alert.unit_id))
    by_rule = [
        RuleCount(rule=rule, label=RULE_LABELS.get(rule, rule), count=int(n))
        for rule, n in session.execute(
            select(Alert.rule, func.count())
            .where(*where)
            .group_by(Alert.rule)
            .order_by(func.count().desc(), Alert.rule)
        ).all()
    ]
    by_platform = [
        PlatformCount(platform=code, count=int(n))
        for code, n in session.execute(
            select(Platform.code, func.count())
            .select_from(Alert)
            .outerjoin(Platform, Platform.id == Alert.platform_id)
            .where(*where)
            .group_by(Platform.code)
            .order_by(func.count().desc(), Platform.code)
        ).all()
    ]
    by_entity = [
        EntityCount(entity_id=int(entity_id), name=name, count=int(n))
        for entity_id, name, n in session.execute(
            select(TradingEntity.id, TradingEntity.shop_name, func.count())
            .select_from(Alert)
            .join(TradingEntity, TradingEntity.id == Alert.entity_id)
            .where(*where)
            .group_by(TradingEntity.id, TradingEntity.shop_name)
            .order_by(func.count().desc(), TradingEntity.id)
            .limit(TOP_ENTITIES)
        ).all()
    ]
    day = _utc_day(session, Alert.created_at).label("day")
    weeks: Counter[str] = Counter()
    for value, n in session.execute(select(day, func.count()).where(*where).group_by(day)):
        weeks[_iso_week(str(value))] += int(n)
    return AlertStats(
        total=sum(r.count for r in by_rule),
        by_rule=by_rule,
        by_platform=by_platform,
        by_entity=by_entity,
        by_week=[WeekCount(week=w, count=weeks[w]) for w in sorted(weeks)],
    )


def _first(status: str) -> Any:
    """Per order: the time of its first change to ``status``."""
    return (
        select(TakedownEvent.order_seq, func.min(TakedownEvent.at).label("at"))
        .where(TakedownEvent.to_status == status)
        .group_by(TakedownEvent.order_seq)
        .subquery()
    )


def _medians(session: Session, orders: Any, status: str) -> dict[int, float]:
    """Per platform: the median seconds from issuance to the first change to ``status``
    (the mean of the middle one or two values, counted with window functions)."""
    first = _first(status)
    seconds = _seconds(session, orders.c.issued_at, first.c.at).label("s")
    ranked = (
        select(
            orders.c.platform_id,
            seconds,
            func.row_number().over(partition_by=orders.c.platform_id, order_by=seconds).label("rn"),
            func.count().over(partition_by=orders.c.platform_id).label("n"),
        )
        .join(first, first.c.order_seq == orders.c.seq)
        .subquery()
    )
    middle = (
        select(ranked.c.platform_id, func.avg(ranked.c.s))
        .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.platform_id)
    )
    return {int(p): round(float(v), 3) for p, v in session.execute(middle).all()}


def compliance(session: Session, win: Window, platform_id: int | None) -> list[PlatformCompliance]:
    """Per platform with orders issued in the window (most orders first)."""
    where = [TakedownOrder.issued_at >= win.since, TakedownOrder.issued_at < win.until]
    if platform_id is not None:
        where.append(TakedownOrder.platform_id == platform_id)
    if win.principal is not None:
        where.append(scope(win.principal, TakedownOrder.unit_id))
    orders = (
        select(TakedownOrder.seq, TakedownOrder.platform_id, TakedownOrder.issued_at)
        .where(*where)
        .subquery()
    )

    def reached(status: str) -> Any:
        return (
            select(TakedownEvent.order_seq)
            .where(TakedownEvent.to_status == status)
            .distinct()
            .subquery()
        )

    def checked(status: str) -> Any:
        return (
            select(TakedownCheck.order_seq)
            .where(TakedownCheck.status == status)
            .distinct()
            .subquery()
        )

    acked, completed, overdue = reached("acknowledged"), reached("completed"), reached("overdue")
    verified, back = checked(CHECK_VERIFIED), checked(CHECK_REAPPEARED)
    reappearances = (
        select(TakedownCheck.order_seq, func.count().label("n"))
        .where(TakedownCheck.status == CHECK_REAPPEARED)
        .group_by(TakedownCheck.order_seq)
        .subquery()
    )
    both = and_(completed.c.order_seq.is_not(None), verified.c.order_seq.is_not(None))
    rows = session.execute(
        select(
            Platform.id,
            Platform.code,
            func.count(),
            func.count(acked.c.order_seq),
            func.count(completed.c.order_seq),
            func.count(case((both, 1))),
            func.coalesce(func.sum(reappearances.c.n), 0),
            func.count(back.c.order_seq),
            func.count(overdue.c.order_seq),
        )
        .select_from(orders)
        .join(Platform, Platform.id == orders.c.platform_id)
        .outerjoin(acked, acked.c.order_seq == orders.c.seq)
        .outerjoin(completed, completed.c.order_seq == orders.c.seq)
        .outerjoin(overdue, overdue.c.order_seq == orders.c.seq)
        .outerjoin(verified, verified.c.order_seq == orders.c.seq)
        .outerjoin(back, back.c.order_seq == orders.c.seq)
        .outerjoin(reappearances, reappearances.c.order_seq == orders.c.seq)
        .group_by(Platform.id, Platform.code)
        .order_by(func.count().desc(), Platform.code)
    ).all()
    ack_medians = _medians(session, orders, "acknowledged")
    done_medians = _medians(session, orders, "completed")
    out = []
    for pid, code, n, n_ack, n_done, n_verified, n_back, n_back_orders, n_overdue in rows:
        out.append(
            PlatformCompliance(
                platform=code,
                orders=int(n),
                acknowledged=int(n_ack),
                completed=int(n_done),
                median_ack_seconds=ack_medians.get(int(pid)),
                median_complete_seconds=done_medians.get(int(pid)),
                verified_removed=int(n_verified),
                verified_share=round(int(n_verified) / int(n_done), 4) if n_done else None,
                reappearances=int(n_back),
                reappeared_orders=int(n_back_orders),
                overdue=int(n_overdue),
            )
        )
    return out


def monitoring_stats(session: Session, win: Window) -> MonitoringStats:
    platform_id = _platform_id(session, win.platform)
    return MonitoringStats(
        since=win.since,
        until=win.until,
        platform=win.platform,
        alerts=alert_stats(session, win, platform_id),
        takedowns=compliance(session, win, platform_id),
    )
