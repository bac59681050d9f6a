"""The full run of tests/unit/test_canonical_fast_path.py's property: the C fast path of
verifier.canonical.canonical_json writes exactly RFC 8785 for 1,500 generated values (the
unit tier checks 150)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from tests.unit.test_canonical_fast_path import check_fast_path, values

pytestmark = pytest.mark.slow


@settings(max_examples=1500, deadline=None)
@given(values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    check_fast_path(value)
