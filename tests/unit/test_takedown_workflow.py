"""The takedown state machine: every (state, action) pair, checked against a table written
out by hand from the issues (issued -> acknowledged -> completed | disputed; overdue when
the deadline passes; overdue orders can still be completed or disputed; issue 14: a
completed order reopened when a re-capture finds a listing again, a disputed one moved
only by a ruling, uphold -> reopened, withdraw -> withdrawn, the one final state)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence_api.takedowns.workflow import (
    FINAL,
    LABELS,
    OPEN,
    Action,
    InvalidTransition,
    Status,
    is_overdue,
    next_status,
    parse_delays,
    parse_status,
    platform_actions,
    ruling_of,
)

ISS, A, C, D, OVD, R, W = (
    Status.ISSUED,
    Status.ACKNOWLEDGED,
    Status.COMPLETED,
    Status.DISPUTED,
    Status.OVERDUE,
    Status.REOPENED,
    Status.WITHDRAWN,
)
#: the issue's workflow, written independently of the module's table
EXPECTED = {
    (ISS, Action.ACK): A,
    (ISS, Action.DISPUTE): D,
    (ISS, Action.OVERDUE): OVD,
    (A, Action.COMPLETE): C,
    (A, Action.DISPUTE): D,
    (A, Action.OVERDUE): OVD,
    (OVD, Action.COMPLETE): C,
    (OVD, Action.DISPUTE): D,
    (R, Action.ACK): A,
    (R, Action.COMPLETE): C,
    (R, Action.DISPUTE): D,
    (R, Action.OVERDUE): OVD,
    (C, Action.REOPEN): R,
    (D, Action.UPHOLD): R,
    (D, Action.WITHDRAW): W,
}


@pytest.mark.parametrize(("state", "action"), list(product(Status, Action)))
def test_every_pair_matches_the_issue(state: Status, action: Action) -> None:
    expected = EXPECTED.get((state, action))
    if expected is not None:
        assert next_status(state, action) is expected
    else:
        with pytest.raises(InvalidTransition) as exc:
            next_status(state, action)
        assert exc.value.current is state and exc.value.action is action


def test_invalid_transition_names_the_allowed_actions() -> None:
    with pytest.raises(InvalidTransition) as exc:
        next_status(ISS, Action.COMPLETE)
    assert str(exc.value) == (
        "cannot complete an order that is issued; "
        "allowed from issued: ack → acknowledged, dispute → disputed"
    )
    assert dict(exc.value.allowed) == {Action.ACK: A, Action.DISPUTE: D}


def test_withdrawn_is_the_one_final_state() -> None:
    with pytest.raises(InvalidTransition, match="withdrawn is final"):
        next_status(W, Action.ACK)
    assert platform_actions(W) == []
    assert frozenset({W}) == FINAL


def test_completed_moves_only_by_the_service() -> None:
    with pytest.raises(InvalidTransition) as exc:
        next_status(C, Action.ACK)
    assert dict(exc.value.allowed) == {}  # reopen is the service's, never offered
    assert "completed changes only by the service (reopen" in str(exc.value)
    assert platform_actions(C) == []


def test_disputed_moves_only_by_a_ruling() -> None:
    with pytest.raises(InvalidTransition) as exc:
        next_status(D, Action.COMPLETE)
    assert str(exc.value) == (
        "cannot complete an order that is disputed; "
        "allowed from disputed: uphold → reopened, withdraw → withdrawn (an officer's ruling)"
    )
    assert platform_actions(D) == []  # rulings are the officer's


def test_sets_and_labels() -> None:
    assert {ISS, A, R} == OPEN
    assert set(LABELS) == set(Status)
    assert LABELS[OVD] == "已逾期 overdue"
    assert LABELS[R] == "已重新下达 reopened"
    assert LABELS[W] == "已撤回 withdrawn"
    # the service's own actions and the rulings are never offered to a platform
    for s in Status:
        offered = set(platform_actions(s))
        assert not offered & {Action.OVERDUE, Action.REOPEN, Action.UPHOLD, Action.WITHDRAW}
    assert platform_actions(OVD) == [Action.COMPLETE, Action.DISPUTE]
    assert platform_actions(R) == [Action.ACK, Action.COMPLETE, Action.DISPUTE]


def test_ruling_of_a_recorded_change() -> None:
    assert ruling_of("disputed", "reopened") is Action.UPHOLD
    assert ruling_of("disputed", "withdrawn") is Action.WITHDRAW
    assert ruling_of("completed", "reopened") is None  # a reopening is no ruling
    assert ruling_of(None, "issued") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3600,86400,604800", (3600, 86400, 604800)),
        (" 3 , 1 ,3", (1, 3)),  # sorted, each once
        ("", ()),
        ("   ", ()),
        ("1", (1,)),
        ("31622400", (31622400,)),  # 366 days, the most
    ],
)
def test_delays_parse(text: str, expected: tuple[int, ...]) -> None:
    assert parse_delays(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "item 0 (0) is not 1..31622400 s"),
        ("1,31622401", "item 1 (31622401) is not 1..31622400 s"),
        ("1,,2", "item 1 is empty"),
        ("1,x", "item 1 ('x') is not whole seconds"),
        ("-5", "item 0 ('-5') is not whole seconds"),
        ("1.5", "item 0 ('1.5') is not whole seconds"),
    ],
)
def test_delays_refused_name_the_item(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_delays(text)


def test_parse_status_names_the_valid_ones() -> None:
    assert parse_status("overdue") is OVD
    with pytest.raises(ValueError, match="one of issued, acknowledged, completed"):
        parse_status("done")


def test_overdue_exactly_at_the_deadline() -> None:
    deadline = datetime(2026, 11, 30, 18, 0, tzinfo=timezone(timedelta(hours=8)))
    just_before = deadline - timedelta(microseconds=1)
    assert not is_overdue(ISS, deadline, just_before)
    assert is_overdue(ISS, deadline, deadline.astimezone(UTC))  # same instant, other zone
    assert is_overdue(A, deadline, deadline + timedelta(days=1))
    assert is_overdue(R, deadline, deadline)  # reopened is open
    for settled in (C, D, OVD, W):
        assert not is_overdue(settled, deadline, deadline + timedelta(days=1))
    with pytest.raises(ValueError, match="time-zone aware"):
        is_overdue(ISS, deadline.replace(tzinfo=None), deadline)


@given(st.lists(st.sampled_from(list(Action)), max_size=12))
def test_any_sequence_stays_in_the_graph_and_ends_once(actions: list[Action]) -> None:
    state = ISS
    for action in actions:
        try:
            new = next_status(state, action)
        except InvalidTransition:
            continue
        assert state not in FINAL  # nothing leaves a final state
        assert (state, action) in EXPECTED
        state = new
    assert state in set(Status)
