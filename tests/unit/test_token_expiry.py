"""``create-token --expires``: durations and ISO dates, refused in the past and too far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evidence_api.core.auth import MAX_LIFETIME, parse_expiry
from evidence_api.core.errors import InvalidInputError

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", NOW + timedelta(days=90)),
        ("12h", NOW + timedelta(hours=12)),
        ("30m", NOW + timedelta(minutes=30)),
        ("2027-06-30", datetime(2027, 7, 1, tzinfo=UTC)),  # valid through that day
        ("2027-06-30T18:00:00+08:00", datetime(2027, 6, 30, 10, tzinfo=UTC)),
        ("2027-06-30T18:00:00", datetime(2027, 6, 30, 18, tzinfo=UTC)),  # no offset: UTC
        (f"{MAX_LIFETIME.days}d", NOW + MAX_LIFETIME),  # at the limit
    ],
)
def test_expiry_forms(text: str, expected: datetime) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0d", "expires must be a duration"),
        ("90", "expires must be a duration"),
        ("3w", "expires must be a duration"),
        ("tomorrow", "expires must be a duration"),
        ("2026-12-01", "expires is in the past"),
        ("2026-12-02T10:00:00Z", "expires is in the past"),  # exactly now
        (f"{MAX_LIFETIME.days + 1}d", "more than"),
    ],
)
def test_bad_expiry_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason) as caught:
        parse_expiry(text, NOW)
    assert caught.value.field == "expires"
