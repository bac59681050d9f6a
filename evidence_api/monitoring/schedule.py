"""When a monitor runs: an interval or a cron expression, spread by a fixed jitter per
monitor (pure; no I/O, no clock — the caller passes the times).

docs/monitoring.md §2 states the formulas; in short, a monitor's *jitter fraction* is
``f = int(SHA-256(key)[0:8]) / 2**64`` (``key``: the monitor's id), in [0, 1), and

* interval ``I``: the first run at ``now + f·jitter·I``, then every ``I`` after the
  previous scheduled time (evenly spaced);
* cron: the run for a firing ``c`` at ``c + f·jitter·(c' − c)``, ``c'`` the firing
  after ``c`` (so each run stays before the next firing, and the runs of monitors with
  the same expression spread over the first ``jitter`` share of the gap).

All datetimes are timezone-aware; results are in UTC. Cron expressions are evaluated in
UTC by ``croniter`` (day-of-month and day-of-week combined with OR, as Vixie cron).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from croniter import croniter  # type: ignore[import-untyped]  # ships no type information
from croniter.croniter import CroniterError  # type: ignore[import-untyped]

#: Longest cron expression accepted.
MAX_CRON_CHARS = 128
#: Most firings :func:`min_gap_seconds` looks at, and the longest span it covers.
GAP_FIRINGS = 1000
GAP_SPAN = timedelta(days=366)

#: The five fields, with what each allows (for error messages).
FIELDS = (
    ("minute", "0–59"),
    ("hour", "0–23"),
    ("day of month", "1–31, L"),
    ("month", "1–12 or JAN–DEC"),
    ("day of week", "0–7 or SUN–SAT, 5#2, 5L"),
)
_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*/,?#-]+$")
# croniter's hashed (H) and random (R) values: not reproducible across parses.
_HASHED_OR_RANDOM = re.compile(r"(?:^|,)[HR](?:$|[(/,])", re.IGNORECASE)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says what is wrong (a 422 reason)."""


def parse_cron(expr: str) -> str:
    """``expr`` (five fields: minute hour day-of-month month day-of-week; names such
    as MON and JAN allowed) normalised to single spaces, or :class:`ScheduleError`
    naming what is wrong: the length, the number of fields (no seconds field, no
    ``@daily``/``@reboot``), the field that is out of range, or an expression that
    never fires (30 February)."""
    if not isinstance(expr, str):
        raise ScheduleError("cron expression must be a string")
    if len(expr) > MAX_CRON_CHARS:
        raise ScheduleError(f"cron expression is longer than {MAX_CRON_CHARS} characters")
    fields = expr.split()
    if not fields:
        raise ScheduleError("cron expression is empty")
    if fields[0].startswith("@"):
        raise ScheduleError(
            f"cron shortcut {fields[0]!r} is not supported: write the five fields "
            "(minute hour day-of-month month day-of-week)"
        )
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression has {len(fields)} fields, expected 5 "
            "(minute hour day-of-month month day-of-week; no seconds or year field)"
        )
    for index, (field, (name, allowed)) in enumerate(zip(fields, FIELDS, strict=True)):
        problem = _field_problem(index, field)
        if problem is not None:
            raise ScheduleError(
                f"cron field {index + 1} ({name}) {field!r} is not valid: {problem}; "
                f"allowed: {allowed}"
            )
    normalised = " ".join(fields)
    try:
        croniter(normalised, _EPOCH).get_next(datetime)
    except CroniterError as exc:
        raise ScheduleError(f"cron expression {normalised!r} never fires") from exc
    return normalised


def _field_problem(index: int, field: str) -> str | None:
    if not _FIELD_CHARS.match(field):
        return "unexpected character"
    if _HASHED_OR_RANDOM.search(field):
        return "hashed (H) and random (R) values are not supported"
    probe = ["*"] * 5
    probe[index] = field
    try:
        croniter.expand(" ".join(probe))
    except CroniterError as exc:
        detail = str(exc)
        if "out of" in detail or "range" in detail or "bands" in detail:
            return "out of range"
        return "not a cron field"
    except (ValueError, TypeError, IndexError, KeyError):
        return "not a cron field"
    return None


def min_gap_seconds(cron: str, *, start: datetime) -> float:
    """The shortest time between two consecutive firings of ``cron`` from ``start``:
    over the first :data:`GAP_FIRINGS` firings, or those within :data:`GAP_SPAN` of the
    first (whichever ends first), at least two firings. Bounded cost (≤ 1,000 firings);
    "*/1 * * * *" gives 60, "0 9 * * *" 86400, "0 9 * * 1" 604800."""
    expr = parse_cron(cron)
    iterator = croniter(expr, _utc(start))
    first = previous = iterator.get_next(datetime)
    gap = float("inf")
    for _ in range(GAP_FIRINGS - 1):
        firing = iterator.get_next(datetime)
        gap = min(gap, (firing - previous).total_seconds())
        if firing - first > GAP_SPAN:
            break
        previous = firing
    return gap


def jitter_fraction(key: str) -> float:
    """The monitor's fixed fraction in [0, 1): the first 8 bytes of SHA-256(``key``,
    UTF-8) as a big-endian integer, divided by 2**64."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def first_run(
    *,
    now: datetime,
    interval_seconds: int | None,
    cron: str | None,
    jitter: float,
    key: str,
) -> datetime:
    """When a new (or re-enabled, or rescheduled) monitor first runs: interval —
    ``now + f·jitter·I``; cron — the first jittered firing after ``now``
    (:func:`next_run` from ``now``)."""
    _check(interval_seconds, cron, jitter)
    now = _utc(now)
    if interval_seconds is not None:
        return now + timedelta(seconds=jitter_fraction(key) * jitter * interval_seconds)
    assert cron is not None
    return next_run(after=now, interval_seconds=None, cron=cron, jitter=jitter, key=key)


def next_run(
    *,
    after: datetime,
    interval_seconds: int | None,
    cron: str | None,
    jitter: float,
    key: str,
) -> datetime:
    """The run after ``after`` (the previous run's *scheduled* time, so runs stay
    evenly spaced): interval — ``after + I``; cron — the earliest ``c + f·jitter·(c' −
    c)`` strictly later than ``after``. A caller finding the result not later than
    its clock (the scheduler was down) asks again with ``after`` = its clock, so missed
    runs are not made up in a burst (docs/monitoring-runs.md §6)."""
    _check(interval_seconds, cron, jitter)
    after = _utc(after)
    if interval_seconds is not None:
        return after + timedelta(seconds=interval_seconds)
    assert cron is not None
    expr = parse_cron(cron)
    fraction = jitter_fraction(key) * jitter
    # The firing at or before ``after`` may still have its jittered run ahead.
    latest: datetime = croniter(expr, after + timedelta(microseconds=1)).get_prev(datetime)
    run = _jittered(expr, latest, fraction)
    if run > after:
        return run
    following: datetime = croniter(expr, after).get_next(datetime)
    return _jittered(expr, following, fraction)


def _jittered(expr: str, firing: datetime, fraction: float) -> datetime:
    if fraction == 0:
        return firing
    following: datetime = croniter(expr, firing).get_next(datetime)
    return firing + (following - firing) * fraction


def _check(interval_seconds: int | None, cron: str | None, jitter: float) -> None:
    if (interval_seconds is None) == (cron is None):
        raise ScheduleError("exactly one of interval_seconds and cron must be given")
    if interval_seconds is not None and (
        isinstance(interval_seconds, bool) or interval_seconds <= 0
    ):
        raise ScheduleError("interval_seconds must be a positive number of seconds")
    if not 0 <= jitter < 1:
        raise ScheduleError("jitter must be at least 0 and below 1")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError("datetimes must be timezone-aware")
    return moment.astimezone(UTC)
