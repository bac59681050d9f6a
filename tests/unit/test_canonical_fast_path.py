"""The C fast path of verifier.canonical.canonical_json writes exactly RFC 8785 (the rfc8785
package) for every value it accepts; anything else goes to rfc8785 itself."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.canonical import _json_compatible, canonical_json

SAFE = 2**53 - 1
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-SAFE, max_value=SAFE) | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(
    max_examples=150, deadline=None
)  # 1,500: tests/integration/test_canonical_fast_path_full.py
@given(values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    check_fast_path(value)


def check_fast_path(value: Any) -> None:
    try:
        want = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return  # e.g. lone surrogates: both paths refuse (checked below)
    assert canonical_json(value) == want


def test_control_characters_and_unicode_escape_as_rfc8785() -> None:
    tricky = {
        "é": '\x00\x01\x1f\x7f\u2028\u2029"\\/\b\f\n\r\t',
        "a": [True, False, None, 0, -1, SAFE, -SAFE],
        "z": "😀 中文",
        "\u00e9\u0301": 1,
    }
    assert canonical_json(tricky) == rfc8785.dumps(tricky)


def test_values_outside_the_fast_path_go_to_rfc8785() -> None:
    assert not _json_compatible({"x": 1.5})
    assert not _json_compatible({"x": 2**53})
    assert not _json_compatible({"😀": 1})  # key outside the BMP: UTF-16 order differs
    for value in ({"x": 1.5}, {"😀": 1, "\uffff": 2}, [10.0, 1e21]):
        assert canonical_json(value) == rfc8785.dumps(value)
