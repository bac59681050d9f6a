"""Monitor schedules: cron parsing (errors named precisely), the shortest gap between
firings, and the fixed per-monitor jitter (docs/monitoring.md §2)."""

from __future__ import annotations

import hashlib
import itertools
import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest
from croniter import croniter  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.monitoring.schedule import (
    MAX_CRON_CHARS,
    ScheduleError,
    first_run,
    jitter_fraction,
    min_gap_seconds,
    next_run,
    parse_cron,
)

T0 = datetime(2026, 3, 2, 8, 30, 15, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expr", "normal"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  0   9 * *\tMON-FRI ", "0 9 * * MON-FRI"),
        ("0 9 1,15 JAN,JUL *", "0 9 1,15 JAN,JUL *"),
        ("30 2 L * *", "30 2 L * *"),
        ("0 9 * * 5#2", "0 9 * * 5#2"),
        ("0 0 29 2 *", "0 0 29 2 *"),  # fires in leap years
        ("0 12 * * thu", "0 12 * * thu"),
        ("0 9 * * 7", "0 9 * * 7"),  # Sunday, as 0
    ],
)
def test_parse_cron_accepts_and_normalises(expr: str, normal: str) -> None:
    assert parse_cron(expr) == normal


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * * * *", "has 6 fields, expected 5"),  # a seconds field
        ("0 9 * *", "has 4 fields, expected 5"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("@reboot", "shortcut '@reboot' is not supported"),
        ("@daily", "shortcut '@daily' is not supported"),
        ("60 * * * *", "field 1 (minute) '60' is not valid: out of range"),
        ("1-70 * * * *", "field 1 (minute) '1-70' is not valid: out of range"),
        ("0 24 * * *", "field 2 (hour) '24' is not valid: out of range"),
        ("0 0 0 * *", "field 3 (day of month) '0' is not valid: out of range"),
        ("0 0 32 * *", "field 3 (day of month) '32' is not valid: out of range"),
        ("0 0 * 13 *", "field 4 (month) '13' is not valid: out of range"),
        ("0 0 * * 8", "field 5 (day of week) '8' is not valid: out of range"),
        ("*/0 * * * *", "field 1 (minute) '*/0' is not valid"),
        ("x y z w v", "field 1 (minute) 'x' is not valid: not a cron field"),
        ("0 9 * * MONDAY", "field 5 (day of week) 'MONDAY' is not valid"),
        ("0 $ * * *", "field 2 (hour) '$' is not valid: unexpected character"),
        ("H * * * *", "hashed (H) and random (R) values are not supported"),
        ("R * * * *", "hashed (H) and random (R) values are not supported"),
        ("0 0 30 2 *", "'0 0 30 2 *' never fires"),
        ("0 0 31 4 *", "never fires"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_parse_cron_refuses_with_a_precise_reason(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_cron(expr)
    assert message in str(raised.value)


def test_parse_cron_length_at_the_limit() -> None:
    at_limit = "0 9 * * *" + " " * (MAX_CRON_CHARS - 9)
    assert len(at_limit) == MAX_CRON_CHARS
    assert parse_cron(at_limit) == "0 9 * * *"
    with pytest.raises(ScheduleError, match="longer than 128 characters"):
        parse_cron(at_limit + " ")
    with pytest.raises(ScheduleError, match="longer than"):
        parse_cron(",".join(["1"] * 200) + " * * * *")


def test_parse_cron_refuses_a_non_string() -> None:
    with pytest.raises(ScheduleError, match="must be a string"):
        parse_cron(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "gap"),
    [
        ("*/1 * * * *", 60),
        ("* * * * *", 60),
        ("*/5 * * * *", 300),
        ("7,8 * * * *", 60),
        ("0 * * * *", 3600),
        ("0 9 * * *", 86400),
        ("0 9,17 * * *", 8 * 3600),
        ("0 9 * * MON-FRI", 86400),
        ("0 9 * * 1", 7 * 86400),
        ("0 0 1,31 * *", 86400),  # 31 March → 1 April, weeks after the start
        ("0 0 1 * *", 28 * 86400),  # February
        ("0 0 1 1 *", 365 * 86400),
    ],
)
def test_min_gap_seconds(expr: str, gap: int) -> None:
    assert min_gap_seconds(expr, start=T0) == gap


def test_min_gap_refuses_a_bad_expression_and_naive_time() -> None:
    with pytest.raises(ScheduleError, match="field 1"):
        min_gap_seconds("99 * * * *", start=T0)
    with pytest.raises(ScheduleError, match="timezone-aware"):
        min_gap_seconds("* * * * *", start=datetime(2026, 1, 1))


def test_jitter_fraction_is_sha256_of_the_key() -> None:
    # python3 -c "import hashlib;print(hashlib.sha256(b'mon-1').hexdigest()[:16])"
    prefix = hashlib.sha256(b"mon-1").hexdigest()[:16]
    assert jitter_fraction("mon-1") == int(prefix, 16) / 2**64
    assert 0 <= jitter_fraction("mon-1") < 1
    assert jitter_fraction("mon-1") != jitter_fraction("mon-2")


def test_interval_first_run_spreads_a_thousand_monitors() -> None:
    interval, jitter = 3600, 0.1
    window = interval * jitter
    offsets = [
        (
            first_run(now=T0, interval_seconds=interval, cron=None, jitter=jitter, key=f"mon-{n}")
            - T0
        ).total_seconds()
        for n in range(1000)
    ]
    assert all(0 <= offset < window for offset in offsets)
    # spread across the whole window: every tenth of it holds some, none holds most
    tenths = [
        sum(1 for o in offsets if k * window / 10 <= o < (k + 1) * window / 10) for k in range(10)
    ]
    assert min(tenths) >= 50 and max(tenths) <= 150
    assert abs(statistics.mean(offsets) - window / 2) < window * 0.05
    # fixed per key
    again = first_run(now=T0, interval_seconds=interval, cron=None, jitter=jitter, key="mon-7")
    assert (again - T0).total_seconds() == offsets[7]


def test_interval_runs_stay_evenly_spaced() -> None:
    run = first_run(now=T0, interval_seconds=600, cron=None, jitter=0.2, key="m")
    runs = [run]
    for _ in range(5):
        runs.append(next_run(after=runs[-1], interval_seconds=600, cron=None, jitter=0.2, key="m"))
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(runs)} == {600}


def test_zero_jitter_runs_at_once_and_on_the_firing() -> None:
    assert first_run(now=T0, interval_seconds=60, cron=None, jitter=0, key="a") == T0
    daily = first_run(now=T0, interval_seconds=None, cron="0 9 * * *", jitter=0, key="a")
    assert daily == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_cron_jitter_is_a_share_of_the_gap_and_fixed_per_monitor() -> None:
    jitter = 0.1
    offsets = []
    for n in range(1000):
        key = f"mon-{n}"
        run = first_run(now=T0, interval_seconds=None, cron="0 9 * * *", jitter=jitter, key=key)
        offset = (run - datetime(2026, 3, 2, 9, tzinfo=UTC)).total_seconds()
        assert offset == pytest.approx(jitter_fraction(key) * jitter * 86400, abs=1e-3)
        offsets.append(offset)
        following = next_run(
            after=run, interval_seconds=None, cron="0 9 * * *", jitter=jitter, key=key
        )
        assert following - run == timedelta(days=1)  # same offset every day
    assert min(offsets) >= 0 and max(offsets) < jitter * 86400
    assert max(offsets) - min(offsets) > 0.9 * jitter * 86400


def test_cron_next_run_is_strictly_after_and_keeps_a_pending_firing() -> None:
    key = "mon-x"
    offset = timedelta(seconds=jitter_fraction(key) * 0.5 * 3600)
    # the 08:00 firing's jittered run may still lie ahead at 08:30:15
    run = next_run(after=T0, interval_seconds=None, cron="0 * * * *", jitter=0.5, key=key)
    expected_8 = datetime(2026, 3, 2, 8, tzinfo=UTC) + offset
    expected_9 = datetime(2026, 3, 2, 9, tzinfo=UTC) + offset
    assert run == (expected_8 if expected_8 > T0 else expected_9)
    # exactly at a run: the next one
    assert next_run(after=run, interval_seconds=None, cron="0 * * * *", jitter=0.5, key=key) == (
        run + timedelta(hours=1)
    )


def test_cron_weekdays_jitter_uses_the_gap_to_the_following_firing() -> None:
    # Friday 09:00 → Monday 09:00 is three days: the Friday run's offset is 3× Thursday's
    key = "weekday"
    fraction = jitter_fraction(key) * 0.1
    thursday = datetime(2026, 3, 5, 8, tzinfo=UTC)
    friday = datetime(2026, 3, 6, 8, tzinfo=UTC)
    cron = "0 9 * * MON-FRI"
    run_thu = next_run(after=thursday, interval_seconds=None, cron=cron, jitter=0.1, key=key)
    run_fri = next_run(after=friday, interval_seconds=None, cron=cron, jitter=0.1, key=key)
    assert run_thu - datetime(2026, 3, 5, 9, tzinfo=UTC) == timedelta(days=1) * fraction
    assert run_fri - datetime(2026, 3, 6, 9, tzinfo=UTC) == timedelta(days=3) * fraction


def test_results_are_utc_from_any_aware_input() -> None:
    beijing = timezone(timedelta(hours=8))
    now = datetime(2026, 3, 2, 16, 30, 15, tzinfo=beijing)  # = T0
    run = first_run(now=now, interval_seconds=None, cron="0 9 * * *", jitter=0, key="k")
    assert run.tzinfo == UTC and run == datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "cron", "jitter", "message"),
    [
        (60, "* * * * *", 0.1, "exactly one of"),
        (None, None, 0.1, "exactly one of"),
        (0, None, 0.1, "positive"),
        (-5, None, 0.1, "positive"),
        (60, None, 1.0, "jitter"),
        (60, None, -0.1, "jitter"),
        (None, "61 * * * *", 0.1, "field 1 (minute)"),
    ],
)
def test_bad_schedules(interval: int | None, cron: str | None, jitter: float, message: str) -> None:
    for function in (first_run, next_run):
        with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
            if function is first_run:
                first_run(now=T0, interval_seconds=interval, cron=cron, jitter=jitter, key="k")
            else:
                next_run(after=T0, interval_seconds=interval, cron=cron, jitter=jitter, key="k")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ScheduleError, match="timezone-aware"):
        first_run(now=datetime(2026, 1, 1), interval_seconds=60, cron=None, jitter=0, key="k")


# -- properties --------------------------------------------------------------------------

CRONS = ["*/5 * * * *", "0 9 * * *", "0 9 * * MON-FRI", "30 2 L * *", "0 */6 * * *", "0 0 1,31 * *"]


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(min_size=1, max_size=40),
    interval=st.integers(min_value=1, max_value=366 * 86400),
    jitter=st.floats(min_value=0, max_value=0.5),
    seconds=st.integers(min_value=0, max_value=10 * 365 * 86400),
)
def test_interval_first_run_lies_in_the_jitter_window(
    key: str, interval: int, jitter: float, seconds: int
) -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    run = first_run(now=now, interval_seconds=interval, cron=None, jitter=jitter, key=key)
    delay = (run - now).total_seconds()
    assert 0 <= delay <= jitter * interval + 1e-6
    following = next_run(after=run, interval_seconds=interval, cron=None, jitter=jitter, key=key)
    assert following - run == timedelta(seconds=interval)


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(min_size=1, max_size=40),
    cron=st.sampled_from(CRONS),
    jitter=st.floats(min_value=0, max_value=0.5),
    seconds=st.integers(min_value=0, max_value=10 * 365 * 86400),
)
def test_cron_runs_increase_and_stay_before_the_next_firing(
    key: str, cron: str, jitter: float, seconds: int
) -> None:
    after = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=seconds)
    run = next_run(after=after, interval_seconds=None, cron=cron, jitter=jitter, key=key)
    assert run > after
    following = next_run(after=run, interval_seconds=None, cron=cron, jitter=jitter, key=key)
    assert following > run
    # the run belongs to the last firing at or before it, and precedes the next firing
    firing = croniter(cron, run + timedelta(microseconds=1)).get_prev(datetime)
    upcoming = croniter(cron, firing).get_next(datetime)
    assert firing <= run < upcoming
    assert run - firing <= (upcoming - firing) * jitter + timedelta(microseconds=1)
