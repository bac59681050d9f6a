"""The takedown state machine: every (state, action) pair, checked against a table written
out by hand from the issue (issued -> acknowledged -> completed | disputed; overdue when
the deadline passes; overdue orders can still be completed or disputed)."""

from __future__ import annotations

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
    parse_status,
    platform_actions,
)

ISS, A, C, D, OVD = (
    Status.ISSUED,
    Status.ACKNOWLEDGED,
    Status.COMPLETED,
    Status.DISPUTED,
    Status.OVERDUE,
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


@pytest.mark.parametrize("final", [C, D])
def test_final_states_say_so(final: Status) -> None:
    with pytest.raises(InvalidTransition, match=f"{final.value} is final"):
        next_status(final, Action.ACK)
    assert platform_actions(final) == []


def test_sets_and_labels() -> None:
    assert {ISS, A} == OPEN
    assert {C, D} == FINAL
    assert set(LABELS) == set(Status)
    assert LABELS[OVD] == "已逾期 overdue"
    # the service's own action is never offered to a platform
    assert all(Action.OVERDUE not in platform_actions(s) for s in Status)
    assert platform_actions(OVD) == [Action.COMPLETE, Action.DISPUTE]


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
    for settled in (C, D, OVD):
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
