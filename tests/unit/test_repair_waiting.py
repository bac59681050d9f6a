"""The statutory waiting periods of credit repair (evidence_api.repairs.waiting): calendar
month arithmetic at the month ends, the packaged data, and malformed documents refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evidence_api.repairs import waiting


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-15T10:30:00", 6, "2026-07-15T10:30:00"),
        ("2026-08-31T00:00:00", 6, "2027-02-28T00:00:00"),
        ("2027-08-31T00:00:00", 6, "2028-02-29T00:00:00"),  # leap year
        ("2026-12-03T09:00:00", 12, "2027-12-03T09:00:00"),
        ("2026-11-30T00:00:00", 3, "2027-02-28T00:00:00"),
        ("2026-03-31T23:59:59", 1, "2026-04-30T23:59:59"),
        ("2026-05-05T00:00:00", 0, "2026-05-05T00:00:00"),
    ],
    ids=["mid-month", "aug31+6", "leap", "year", "nov30+3", "mar31+1", "zero"],
)
def test_add_months_keeps_the_day_and_clamps_at_month_end(
    start: str, months: int, expected: str
) -> None:
    assert waiting.add_months(at(start), months) == at(expected)


def test_the_packaged_periods_and_their_sources() -> None:
    periods = waiting.periods()
    assert set(periods) == {"serious_violation", "case_penalty", "case_reduced"}
    assert periods["serious_violation"].months == 12
    assert "第二十条" in periods["serious_violation"].source
    penalty = periods["case_penalty"]
    assert penalty.months_for(None) == 6 and penalty.months_for("化妆品") == 6
    assert penalty.months_for("保健食品") == 12 and penalty.months_for("特种设备") == 12
    assert periods["case_reduced"].months == 3
    start = at("2026-01-31T00:00:00")
    assert waiting.earliest(penalty, start, "食品") == at("2027-01-31T00:00:00")
    assert waiting.earliest(penalty, start, None) == at("2026-07-31T00:00:00")


GOOD: dict[str, Any] = {
    "format": "evidence-repair-waiting/v1",
    "periods": [{"target": "serious_violation", "label": "名单", "months": 12, "source": "x"}],
}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "not an"),
        ({**GOOD, "format": "v0"}, "not an"),
        ({**GOOD, "periods": []}, "no period for serious_violation"),
        ({**GOOD, "periods": [{**GOOD["periods"][0], "months": -1}]}, "0..120"),
        ({**GOOD, "periods": [{**GOOD["periods"][0], "months": 1.5}]}, "0..120"),
        ({**GOOD, "periods": [{**GOOD["periods"][0], "months": True}]}, "0..120"),
        ({**GOOD, "periods": [{**GOOD["periods"][0], "source": ""}]}, "required"),
        ({**GOOD, "periods": [GOOD["periods"][0]] * 2}, "twice"),
        ({**GOOD, "periods": ["x"]}, "not an object"),
        (
            {**GOOD, "periods": [{**GOOD["periods"][0], "longer": {"months": 3}}]},
            "risk_classes",
        ),
    ],
    ids=[
        "not-object",
        "wrong-format",
        "no-placement-period",
        "negative",
        "fraction",
        "boolean",
        "empty-source",
        "duplicate",
        "item-not-object",
        "longer-without-classes",
    ],
)
def test_malformed_documents_are_refused(document: Any, words: str) -> None:
    with pytest.raises(waiting.WaitingDataError, match=words):
        waiting.parse(document)
