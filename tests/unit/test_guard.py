"""The request guard's pure parts: JSON nesting at the edge, the bad-token window,
and the recursion limit web3's imports raise."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence_api.core.guard import AuthFailures
from evidence_api.core.limits import RECURSION_LIMIT, restore_recursion_limit
from verifier.canonical import _STRINGS, exceeds_depth


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_depth_at_the_limit_passes_and_one_more_is_refused(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    at_limit = opener * 32 + b"1" + closer * 32
    assert not exceeds_depth(at_limit.decode(), 32)
    assert exceeds_depth((opener + at_limit + closer).decode(), 32)


def test_brackets_inside_strings_do_not_count() -> None:
    body = b'{"a": "' + b"[" * 1000 + b'", "b": "\\"[[[["}'
    assert not exceeds_depth(body.decode(), 2)


def test_a_huge_document_is_refused_at_the_first_level_over() -> None:
    assert exceeds_depth((b"[" * 10_000_000).decode(), 32)


def test_siblings_do_not_add_up() -> None:
    assert not exceeds_depth((b"[" + b"[[]]," * 10_000 + b"[]]").decode(), 3)


def _depth_by_walk(text: str, limit: int) -> bool:
    """The plain character walk (in a string or not, a backslash escaping the next
    character) that exceeds_depth's cut-the-strings-then-count form must agree with."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


@given(st.text(alphabet='[]{}"\\ab,:\n', max_size=80), st.integers(min_value=0, max_value=6))
def test_depth_agrees_with_the_character_walk_on_any_text(text: str, limit: int) -> None:
    assert exceeds_depth(text, limit) == _depth_by_walk(text, limit)


@given(st.text(alphabet='[]"\\a\n', max_size=80))
def test_a_string_match_never_fails_from_a_quote(text: str) -> None:
    """What keeps the scan linear: from any quote, the string pattern matches (to the
    closing quote or the end). The old pattern failed on an unclosed string, and the scan
    retried from every later quote: a 40 KB body of escaped quotes took seven seconds."""
    for pos, char in enumerate(text):
        if char == '"':
            assert _STRINGS.match(text, pos) is not None, (text, pos)


def test_an_unclosed_string_of_escaped_quotes() -> None:
    text = '"' + '\\"' * 32_768
    assert not exceeds_depth(text, 32)
    assert exceeds_depth("[" * 33 + text, 32)
    assert not exceeds_depth("[" * 32 + text, 32)


def test_a_thousand_strings_in_one_list_are_one_level() -> None:
    body = "[" + ",".join(f'"{n:064x}[{{"' for n in range(1000)) + "]"
    assert not exceeds_depth(body, 1)
    assert exceeds_depth("[" + body + "]", 1)


def test_bad_tokens_over_the_limit_wait_until_the_window_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("evidence_api.core.guard.time.monotonic", lambda: now[0])
    failures = AuthFailures(limit=3, window=60)
    for _ in range(3):
        assert failures.retry_after("10.0.0.1") is None
        failures.failed("10.0.0.1")
    assert failures.retry_after("10.0.0.1") == 61
    assert failures.retry_after("10.0.0.2") is None  # per client
    now[0] += 30
    assert failures.retry_after("10.0.0.1") == 31
    now[0] += 30.5
    assert failures.retry_after("10.0.0.1") is None


def test_the_failure_table_is_bounded() -> None:
    failures = AuthFailures(limit=1, window=60)
    for i in range(AuthFailures.MAX_CLIENTS + 50):
        failures.failed(f"client-{i}")
    assert len(failures._seen) == AuthFailures.MAX_CLIENTS


def test_recursion_limit_raised_by_a_library_is_put_back() -> None:
    before = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(100_000)  # what py_ecc does at import
        restore_recursion_limit()
        assert sys.getrecursionlimit() == RECURSION_LIMIT
        sys.setrecursionlimit(500)  # a lower limit is left alone
        restore_recursion_limit()
        assert sys.getrecursionlimit() == 500
    finally:
        sys.setrecursionlimit(before)
