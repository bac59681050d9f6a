"""The case workflow 线索 -> 立案 -> 调查 -> 处理 -> 结案 (plus 线索 -> 结案 as 不予立案).

Every ordered pair of statuses is tried: the five allowed moves return their
step's name; every other pair raises with exactly the allowed targets named.
"""

from __future__ import annotations

from itertools import product

import pytest

from evidence_api.registry.case_workflow import (
    FINAL,
    INITIAL,
    STATUSES,
    TRANSITIONS,
    TransitionError,
    UnknownStatusError,
    allowed_next,
    transition,
)

ORDER = ["clue", "filed", "investigating", "handling", "closed"]
EXPECTED_MOVES = {
    ("clue", "filed"): "立案",
    ("clue", "closed"): "不予立案",
    ("filed", "investigating"): "调查",
    ("investigating", "handling"): "处理",
    ("handling", "closed"): "结案",
}


def test_statuses_and_labels_in_order() -> None:
    assert list(STATUSES) == ORDER
    assert list(STATUSES.values()) == ["线索", "立案", "调查", "处理", "结案"]
    assert (INITIAL, FINAL) == ("clue", "closed")
    assert TRANSITIONS == EXPECTED_MOVES


@pytest.mark.parametrize(("current", "target"), list(product(ORDER, ORDER)))
def test_every_pair(current: str, target: str) -> None:
    allowed = tuple(t for (f, t) in EXPECTED_MOVES if f == current)
    assert allowed_next(current) == allowed
    if (current, target) in EXPECTED_MOVES:
        assert transition(current, target) == EXPECTED_MOVES[current, target]
        return
    with pytest.raises(TransitionError) as caught:
        transition(current, target)
    err = caught.value
    assert (err.current, err.target, err.allowed) == (current, target, allowed)
    message = str(err)
    assert f"{current} ({STATUSES[current]})" in message
    for status in allowed:
        assert f"{status} ({STATUSES[status]}" in message
    for status in set(ORDER) - set(allowed):
        assert f"allowed: {status} " not in message and f", {status} (" not in message


def test_messages_read_as_officers_need_them() -> None:
    with pytest.raises(TransitionError) as caught:
        transition("clue", "handling")
    assert str(caught.value) == (
        "a case in clue (线索) cannot move to handling (处理); "
        "allowed: filed (立案), closed (结案: 不予立案)"
    )
    with pytest.raises(TransitionError) as final:
        transition("closed", "clue")
    assert str(final.value) == "a case in closed (结案) is final; it cannot move to clue (线索)"


def test_closed_is_final_and_reachable_from_everywhere() -> None:
    assert allowed_next(FINAL) == ()
    for start in ORDER:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in allowed_next(frontier.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert FINAL in seen
        if start == INITIAL:
            assert seen == set(ORDER)


def test_no_move_goes_backwards() -> None:
    for current, target in EXPECTED_MOVES:
        assert ORDER.index(target) > ORDER.index(current)


@pytest.mark.parametrize(("current", "target"), [("open", "filed"), ("clue", "立案"), ("", "")])
def test_unknown_status_names_the_real_ones(current: str, target: str) -> None:
    with pytest.raises(UnknownStatusError) as caught:
        transition(current, target)
    for code, label in STATUSES.items():
        assert f"{code} ({label})" in str(caught.value)
