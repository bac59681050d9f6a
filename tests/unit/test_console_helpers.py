"""The console's shared form and list helpers (:mod:`evidence_api.console.forms`,
:mod:`evidence_api.console.listing`): one function serves every page, so its wording and
its edge cases are pinned here once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, Field, ValidationError

from evidence_api.console.forms import (
    placed,
    refill,
    refusal,
    trimmed,
    validated,
)
from evidence_api.console.listing import iso, offset_page, utc, when
from evidence_api.console.web import FormErrors
from evidence_api.core.errors import ConflictError, InvalidInputError

MOMENT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


class Body(BaseModel):
    name: str = Field(min_length=2)
    count: int


def test_when_reads_beijing_time_in_each_page_style() -> None:
    assert when(MOMENT) == "2026-12-03 15:30:00"
    assert when(MOMENT, labelled=True) == "2026-12-03 15:30:00 (UTC+8)"
    assert when(None) == ""
    assert when(None, labelled=True, missing="—") == "—"
    # SQLite's naive UTC is read as UTC, not as local time
    assert when(MOMENT.replace(tzinfo=None)) == "2026-12-03 15:30:00"
    other = MOMENT.astimezone(timezone(timedelta(hours=-5)))
    assert when(other) == "2026-12-03 15:30:00"


def test_iso_and_utc() -> None:
    assert iso(MOMENT.replace(tzinfo=None)) == "2026-12-03T07:30:00+00:00"
    assert iso(None) == ""
    assert utc(MOMENT.replace(tzinfo=None)) == MOMENT


def test_offset_page_links_the_rest_only_when_there_is_more() -> None:
    rows = list(range(5))
    assert offset_page(rows, 0, 2, "/x") == ([0, 1], "/x?offset=2")
    assert offset_page(rows, 4, 2, "/x") == ([4], None)
    assert offset_page(rows, 3, 2, "/x") == ([3, 4], None)


def test_trimmed_and_refill() -> None:
    values = trimmed({"a": "  x ", "b": "   "}, "a", "b", "c")
    assert values == {"a": "x", "b": None, "c": None}
    shown = refill({**values, "secret": "s", "on": False}, "secret")
    assert shown == {"a": "x", "b": "", "c": "", "on": False}


def test_validated_words_the_first_error_as_the_api_and_names_its_field() -> None:
    assert validated(Body, {"name": "ab", "count": 1}) == Body(name="ab", count=1)
    with pytest.raises(InvalidInputError) as caught:
        validated(Body, {"name": "a", "count": 1})
    assert caught.value.field == "name"
    assert caught.value.detail.startswith("name: ")


def test_refusal_places_errors_and_picks_the_status() -> None:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"name": "a", "count": "many"})
    errors, status = refusal(caught.value, {"count": "amount"}, {"amount"})
    assert status == 422
    assert set(errors) == {"amount", ""}  # "name" is not on this form: above it
    assert errors["amount"].startswith("count: ")
    errors, status = refusal(ConflictError("taken", field="code"), None, {"code"})
    assert (errors, status) == ({"code": "taken"}, 409)


def test_placed_keeps_every_reason() -> None:
    out = placed(FormErrors({"x": "one", "": "two", "y": "three"}), {"y"})
    assert out == {"": "one two", "y": "three"}
