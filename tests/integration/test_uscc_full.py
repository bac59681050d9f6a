"""The full runs of tests/unit/test_uscc.py's properties: 1,000 generated 统一社会信用代码 per
property (the unit tier checks 60): each is accepted, any one substitution and every adjacent
transposition is caught, and a wrong check character names the right one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_uscc import (
    REF_ALPHABET,
    check_accepted,
    check_substitution_caught,
    check_transpositions_caught,
    check_wrong_check_character,
    valid_codes,
)

pytestmark = pytest.mark.slow

FULL = settings(max_examples=1000, deadline=None)


@FULL
@given(valid_codes())
def test_generated_codes_are_accepted(code: str) -> None:
    check_accepted(code)


@FULL
@given(valid_codes(), st.data())
def test_any_single_substitution_is_caught(code: str, data: st.DataObject) -> None:
    check_substitution_caught(code, data)


@FULL
@given(valid_codes())
def test_every_adjacent_transposition_is_caught(code: str) -> None:
    check_transpositions_caught(code)


@FULL
@given(valid_codes(), st.sampled_from(REF_ALPHABET))
def test_a_wrong_check_character_names_the_right_one(code: str, wrong: str) -> None:
    check_wrong_check_character(code, wrong)
