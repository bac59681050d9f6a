"""Bounds of what officers send to the alert and statistics APIs, at the limit and one
past it, and the small pure pieces the statistics and the notifier rest on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from evidence_api.core.config import Settings
from evidence_api.core.errors import InvalidInputError
from evidence_api.monitoring import notify
from evidence_api.monitoring.alert_schemas import MAX_NOTE, STATUS_LABELS, ConvertBody, DismissBody
from evidence_api.monitoring.alerts import AlertFilter
from evidence_api.monitoring.models import ALERT_STATUSES
from evidence_api.monitoring.stats import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, _iso_week, window

T = datetime(2026, 12, 1, tzinfo=UTC)


def test_dismiss_reason_bounds() -> None:
    assert DismissBody(reason="x" * MAX_NOTE).reason == "x" * MAX_NOTE
    assert DismissBody(reason="  促销  ").reason == "促销"  # stripped
    for bad in ("x" * (MAX_NOTE + 1), "", "   "):
        with pytest.raises(ValidationError):
            DismissBody(reason=bad)
    with pytest.raises(ValidationError):
        DismissBody.model_validate({})
    with pytest.raises(ValidationError):
        DismissBody.model_validate({"reason": "ok", "note": "unknown field"})


def test_convert_bounds() -> None:
    assert ConvertBody().case_number is None
    assert ConvertBody(case_number="泉市监网案〔2026〕12号", title="t" * 256, note="n" * MAX_NOTE)
    for bad in (
        {"case_number": "x" * 65},
        {"case_number": "a\nb"},
        {"case_number": ""},
        {"title": "t" * 257},
        {"note": "n" * (MAX_NOTE + 1)},
        {"case": "12"},
    ):
        with pytest.raises(ValidationError):
            ConvertBody.model_validate(bad)


def test_every_status_has_a_chinese_and_english_label() -> None:
    assert set(STATUS_LABELS) == set(ALERT_STATUSES)
    assert STATUS_LABELS == {
        "open": "待处理 open",
        "dismissed": "已排除 dismissed",
        "converted": "已转线索 converted",
    }


@pytest.mark.parametrize(
    ("flt", "field"),
    [(AlertFilter(rule="cheap"), "rule"), (AlertFilter(status="closed"), "status")],
)
def test_unknown_rule_or_status_names_the_field(flt: AlertFilter, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        flt.checked()
    assert caught.value.field == field


def test_window_defaults_and_limits() -> None:
    win = window(None, T, None)
    assert (win.since, win.until) == (T - timedelta(days=DEFAULT_WINDOW_DAYS), T)
    longest = window(T - timedelta(days=MAX_WINDOW_DAYS), T, "mall")
    assert longest.platform == "mall"
    for since in (T - timedelta(days=MAX_WINDOW_DAYS, microseconds=1), T, T + timedelta(1)):
        with pytest.raises(InvalidInputError) as caught:
            window(since, T, None)
        assert caught.value.field == "since"


@pytest.mark.parametrize(
    ("day", "week"),
    [
        ("2026-12-28", "2026-W53"),  # 2026 begins on a Thursday: 53 ISO weeks
        ("2027-01-03", "2026-W53"),
        ("2027-01-04", "2027-W01"),
        ("2024-12-30", "2025-W01"),
    ],
)
def test_iso_weeks(day: str, week: str) -> None:
    assert _iso_week(day) == week


def test_the_notifier_needs_both_url_and_secret(tmp_path: Path) -> None:
    url = "https://dept.example.gov.cn/hooks/alerts"
    assert notify.configured(Settings(data_dir=tmp_path)) is None
    assert notify.configured(Settings(data_dir=tmp_path, alert_webhook_url=url)) is None
    both = Settings(data_dir=tmp_path, alert_webhook_url=url, alert_webhook_secret="s" * 32)
    assert notify.configured(both) == (url, "s" * 32)
