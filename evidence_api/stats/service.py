"""``GET /v1/stats/market``: the indicators the demonstration zone's targets are measured
by (泉政办〔2023〕27号 §三(一)1), counted in SQL.

Every figure is one aggregate query (``GROUP BY``) over the rows in the caller's
jurisdiction (:func:`evidence_api.core.jurisdiction.scope`) and, with ``unit``, under
that unit; Python only folds the few grouped rows into figures. Medians use window
functions (the middle one or two values of each group, averaged), so they run on SQLite
and PostgreSQL alike. Days are Beijing-time (UTC+08:00) calendar days. docs/stats.md
defines every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from evidence_api.complaints.models import Complaint
from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError
from evidence_api.core.jurisdiction import labels, scope, unit_in_reach, units_under
from evidence_api.credit.models import CreditGrade
from evidence_api.odr.models import OdrCase
from evidence_api.registry.models import TradingEntity
from evidence_api.spotcheck.models import SpotCheckPlan, SpotCheckResult
from evidence_api.stats import labels as lb
from evidence_api.stats.schemas import Figure, MarketStats

#: Beijing time: the zone the days of ``from``/``to`` and ``as_of`` are counted in.
CST = timezone(timedelta(hours=8))
#: The days a period may start or end on.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
#: Decimals of a share and of hours.
SHARE_DECIMALS = 4
HOURS_DECIMALS = 2


@dataclass(frozen=True)
class MarketQuery:
    """What was asked, checked: the caller, an optional unit, the days of the period."""

    principal: Principal
    unit: str | None
    start: date | None
    end: date
    today: date


def day(text: str | None, field: str) -> date | None:
    """A day given as ``YYYY-MM-DD`` (None for None); 422 naming ``field`` otherwise."""
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{field}: {text!r} is not a day (YYYY-MM-DD)", field=field
        ) from None


def market_query(
    principal: Principal,
    unit: str | None,
    start: date | None,
    end: date | None,
    now: datetime,
) -> MarketQuery:
    """The query, checked: days within [:data:`FIRST_DAY`, :data:`LAST_DAY`], ``from`` not
    after ``to`` (422 naming the field otherwise); ``to`` defaults to today (Beijing)."""
    today = now.astimezone(CST).date()
    last = end if end is not None else today
    for field, day in (("from", start), ("to", last)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInputError(f"{field}: a day from {FIRST_DAY} to {LAST_DAY}", field=field)
    if start is not None and start > last:
        raise InvalidInputError(f"from ({start}) is after to ({last})", field="from")
    return MarketQuery(principal, unit, start, last, today)


def _moment(day: date) -> datetime:
    """The first instant of Beijing-time day ``day``, in UTC."""
    return datetime.combine(day, time(0), CST).astimezone(UTC)


def _interval(start: date | None, end: date) -> str:
    """``FROM/TO`` (ISO 8601 interval of days; ``..`` for an open start)."""
    return f"{start.isoformat() if start else '..'}/{end.isoformat()}"


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, SHARE_DECIMALS) if denominator else None


def _hours(value: float | None) -> float | None:
    return None if value is None else round(float(value), HOURS_DECIMALS)


def two_years_before(day: date) -> date:
    """The same calendar day two years earlier (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year - 2)
    except ValueError:
        return day.replace(year=day.year - 2, day=28)


class _Scope:
    """The WHERE clauses keeping a table's rows to the caller's reach and the unit asked."""

    def __init__(self, principal: Principal, unit: str | None) -> None:
        self.principal = principal
        self.unit = unit

    def __call__(self, unit_column: Any) -> list[ColumnElement[bool]]:
        where = [scope(self.principal, unit_column)]
        if self.unit is not None:
            where.append(unit_column.in_(units_under(self.unit)))
        return where


def _seconds(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """``end − start`` in seconds, as SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)


def _month(session: Session, column: Any) -> ColumnElement[str]:
    """The Beijing-time month (``YYYY-MM``) of a stored moment, as SQL (PostgreSQL keeps
    instants; SQLite keeps UTC wall-clock fields)."""
    if session.get_bind().dialect.name == "postgresql":
        local = func.timezone("UTC", column) + literal(timedelta(hours=8))
        return func.to_char(local, "YYYY-MM")
    return func.strftime("%Y-%m", column, "+8 hours")


def _figure(
    indicator: str,
    dimension: str | None,
    dimension_label: str,
    value: int | float | None,
    period: str,
    numerator: int | float | None = None,
    denominator: int | None = None,
) -> Figure:
    return Figure(
        indicator=indicator,
        indicator_label=lb.INDICATORS[indicator],
        dimension=dimension,
        dimension_label=dimension_label,
        value=value,
        numerator=numerator,
        denominator=denominator,
        period=period,
    )


# --- entities (a snapshot as of today) --------------------------------------------------


def entity_figures(session: Session, where: _Scope, today: date) -> list[Figure]:
    """Entities by class and by grade; the share operating two years or more."""
    period = today.isoformat()
    kept = where(TradingEntity.unit_id)
    cutoff = two_years_before(today)
    total, known, long_lived = session.execute(
        select(
            func.count(),
            func.count(TradingEntity.operating_since),
            func.count(case((TradingEntity.operating_since <= cutoff, 1))),
        ).where(*kept)
    ).one()
    total, known, long_lived = int(total), int(known), int(long_lived)
    figures = [_figure("entities", None, lb.ALL, total, period)]

    classes = [
        (name, int(n))
        for name, n in session.execute(
            select(TradingEntity.risk_class, func.count())
            .where(*kept)
            .group_by(TradingEntity.risk_class)
        ).all()
    ]
    # most entities first, then by name; the unclassified bucket last
    classes.sort(key=lambda row: (row[0] is None, -row[1], row[0] or ""))
    figures += [
        _figure("entities_by_class", name, name if name else lb.UNCLASSIFIED, n, period)
        for name, n in classes
    ]

    grade = func.coalesce(CreditGrade.grade, TradingEntity.risk_grade).label("grade")
    by_grade: dict[str | None, int] = {
        code: int(n)
        for code, n in session.execute(
            select(grade, func.count())
            .select_from(TradingEntity)
            .outerjoin(CreditGrade, CreditGrade.entity_id == TradingEntity.id)
            .where(*kept)
            .group_by(grade)
        ).all()
    }
    others = sorted(g for g in by_grade if g and g not in lb.GRADES)
    for code in [*lb.GRADES, *others, None]:
        label = lb.UNGRADED if code is None else lb.GRADES.get(code, code)
        figures.append(_figure("entities_by_grade", code, label, by_grade.get(code, 0), period))

    figures.append(
        _figure(
            "operating_2y_share",
            None,
            lb.ALL,
            _share(long_lived, known),
            period,
            numerator=long_lived,
            denominator=known,
        )
    )
    figures.append(_figure("operating_since_unknown", None, lb.ALL, total - known, period))
    return figures


# --- complaints (received in the period) -------------------------------------------------


def _complaint_medians(
    session: Session, kept: list[ColumnElement[bool]], hours: ColumnElement[float]
) -> tuple[dict[str, float], float | None]:
    """Median hours to resolution per category and over all categories."""

    def middle(partition: Any) -> Any:
        over = {"partition_by": partition} if partition is not None else {}
        ranked = (
            select(
                Complaint.category.label("category"),
                hours.label("h"),
                func.row_number().over(order_by=hours, **over).label("rn"),
                func.count().over(**over).label("n"),
            )
            .where(*kept, Complaint.resolved_at.is_not(None))
            .subquery()
        )
        pick = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
        return ranked, pick

    ranked, pick = middle(Complaint.category)
    per_category = {
        str(category): float(value)
        for category, value in session.execute(
            select(ranked.c.category, func.avg(ranked.c.h)).where(pick).group_by(ranked.c.category)
        ).all()
    }
    ranked, pick = middle(None)
    overall = session.execute(select(func.avg(ranked.c.h)).where(pick)).scalar()
    return per_category, None if overall is None else float(overall)


def complaint_figures(
    session: Session, where: _Scope, window: list[ColumnElement[bool]], period: str
) -> list[Figure]:
    """Complaints by category: count, open, median and mean hours to resolution."""
    kept = [*window, *where(Complaint.unit_id)]
    hours = _seconds(session, Complaint.received_at, Complaint.resolved_at) / 3600.0
    is_open = and_(Complaint.resolved_at.is_(None), Complaint.status != "rejected")
    rows = [
        (str(category), int(n), int(n_open), int(n_resolved), float(total or 0.0))
        for category, n, n_open, n_resolved, total in session.execute(
            select(
                Complaint.category,
                func.count(),
                func.count(case((is_open, 1))),
                func.count(Complaint.resolved_at),
                func.sum(hours),
            )
            .where(*kept)
            .group_by(Complaint.category)
            .order_by(func.count().desc(), Complaint.category)
        ).all()
    ]
    medians, overall_median = _complaint_medians(session, kept, hours)
    groups: list[tuple[str | None, str, int, int, int, float, float | None]] = [
        (
            None,
            lb.ALL_CATEGORIES,
            sum(r[1] for r in rows),
            sum(r[2] for r in rows),
            sum(r[3] for r in rows),
            sum(r[4] for r in rows),
            overall_median,
        )
    ]
    groups += [(c, lb.category_label(c), n, o, r, t, medians.get(c)) for c, n, o, r, t in rows]
    figures = [_figure("complaints", c, label, n, period) for c, label, n, *_ in groups]
    figures += [_figure("complaints_open", c, label, o, period) for c, label, _, o, *_ in groups]
    figures += [
        _figure(
            "complaint_resolution_median_hours",
            c,
            label,
            _hours(median),
            period,
            denominator=resolved,
        )
        for c, label, _, _, resolved, _, median in groups
    ]
    figures += [
        _figure(
            "complaint_resolution_mean_hours",
            c,
            label,
            _hours(total / resolved) if resolved else None,
            period,
            numerator=_hours(total) if resolved else None,
            denominator=resolved,
        )
        for c, label, _, _, resolved, total, _ in groups
    ]
    return figures


# --- ODR (opened in the period) ---------------------------------------------------------


def odr_figures(
    session: Session, where: _Scope, window: list[ColumnElement[bool]], period: str
) -> list[Figure]:
    """Mediations by status, and the success rate agreed / (agreed + failed)."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(OdrCase.status, func.count())
            .join(Complaint, Complaint.id == OdrCase.complaint_id)
            .where(*window, *where(Complaint.unit_id))
            .group_by(OdrCase.status)
        ).all()
    }
    statuses = [*lb.ODR_STATUSES, *sorted(s for s in counts if s not in lb.ODR_STATUSES)]
    figures = [_figure("odr_cases", None, lb.ALL, sum(counts.values()), period)]
    figures += [
        _figure("odr_cases", s, lb.ODR_STATUSES.get(s, s), counts.get(s, 0), period)
        for s in statuses
    ]
    agreed, failed = counts.get("agreed", 0), counts.get("failed", 0)
    figures.append(
        _figure(
            "odr_success_rate",
            None,
            lb.ALL,
            _share(agreed, agreed + failed),
            period,
            numerator=agreed,
            denominator=agreed + failed,
        )
    )
    return figures


# --- spot checks (results recorded in the period) ---------------------------------------


def spotcheck_figures(
    session: Session,
    where: _Scope,
    window: list[ColumnElement[bool]],
    start: date | None,
    end: date,
) -> list[Figure]:
    """Results by outcome; the non-compliance rate over the period and per month."""
    period = _interval(start, end)
    kept = [*window, *where(SpotCheckPlan.unit_id)]
    counts = {
        str(outcome): int(n)
        for outcome, n in session.execute(
            select(SpotCheckResult.outcome, func.count())
            .join(SpotCheckPlan, SpotCheckPlan.seq == SpotCheckResult.plan_seq)
            .where(*kept)
            .group_by(SpotCheckResult.outcome)
        ).all()
    }
    others = sorted(o for o in counts if o not in lb.SPOTCHECK_OUTCOMES)
    outcomes = [*lb.SPOTCHECK_OUTCOMES, *others]
    total = sum(counts.values())
    bad = sum(counts.get(o, 0) for o in lb.NONCOMPLIANT)
    figures = [_figure("spotcheck_results", None, lb.ALL, total, period)]
    figures += [
        _figure("spotcheck_results", o, lb.SPOTCHECK_OUTCOMES.get(o, o), counts.get(o, 0), period)
        for o in outcomes
    ]
    figures.append(
        _figure(
            "spotcheck_noncompliance_rate",
            None,
            lb.ALL,
            _share(bad, total),
            period,
            numerator=bad,
            denominator=total,
        )
    )
    month = _month(session, SpotCheckResult.recorded_at).label("month")
    noncompliant = SpotCheckResult.outcome.in_(lb.NONCOMPLIANT)
    for value, n, n_bad in session.execute(
        select(month, func.count(), func.count(case((noncompliant, 1))))
        .join(SpotCheckPlan, SpotCheckPlan.seq == SpotCheckResult.plan_seq)
        .where(*kept)
        .group_by(month)
        .order_by(month)
    ).all():
        first = date.fromisoformat(f"{value}-01")
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        span = _interval(
            max(first, start) if start else first, min(following - timedelta(days=1), end)
        )
        figures.append(
            _figure(
                "spotcheck_noncompliance_rate",
                str(value),
                lb.month_label(str(value)),
                _share(int(n_bad), int(n)),
                span,
                numerator=int(n_bad),
                denominator=int(n),
            )
        )
    return figures


def market_stats(session: Session, query: MarketQuery) -> MarketStats:
    """Every figure of docs/stats.md for ``query``; 422 naming ``unit`` for a unit code
    outside the caller's reach."""
    unit_name = None
    if query.unit is not None:
        unit_id = unit_in_reach(session, query.principal, query.unit)
        unit_name = labels(session, [unit_id])[unit_id][1]
    where = _Scope(query.principal, query.unit)
    period = _interval(query.start, query.end)
    until = _moment(query.end + timedelta(days=1))
    since = _moment(query.start) if query.start else None

    def window(column: Any) -> list[ColumnElement[bool]]:
        bounds = [column < until]
        if since is not None:
            bounds.append(column >= since)
        return bounds

    figures = entity_figures(session, where, query.today)
    figures += complaint_figures(session, where, window(Complaint.received_at), period)
    figures += odr_figures(session, where, window(OdrCase.opened_at), period)
    figures += spotcheck_figures(
        session, where, window(SpotCheckResult.recorded_at), query.start, query.end
    )
    return MarketStats(
        as_of=query.today,
        period_from=query.start,
        period_to=query.end,
        unit=query.unit,
        unit_name=unit_name,
        figures=figures,
    )
