"""The takedown order state machine (pure; no I/O).

::

    issued ──ack──▶ acknowledged ──complete──▶ completed
      │  ╲                 │  ╲
      │   dispute          │   dispute ──▶ disputed
      │                    │
      └──overdue──▶ overdue ◀──overdue──┘
                      │
                      ├──complete──▶ completed
                      └──dispute───▶ disputed

An order the platform has not finished by its deadline becomes ``overdue``
(the service's scan does it, not a person); an overdue order can still be
completed or disputed, so the record shows both that it was late and how it
ended. ``completed`` and ``disputed`` are final. Every transition is a
``takedown`` entry in the log, so this table is also what an auditor reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    DISPUTED = "disputed"
    OVERDUE = "overdue"


class Action(StrEnum):
    ACK = "ack"
    COMPLETE = "complete"
    DISPUTE = "dispute"
    #: taken by the service when the deadline passes, never by a caller
    OVERDUE = "overdue"


#: Labels for officers and courts (Chinese with English alongside).
LABELS: Mapping[Status, str] = {
    Status.ISSUED: "已下达 issued",
    Status.ACKNOWLEDGED: "已确认 acknowledged",
    Status.COMPLETED: "已完成 completed",
    Status.DISPUTED: "有异议 disputed",
    Status.OVERDUE: "已逾期 overdue",
}

TRANSITIONS: Mapping[Status, Mapping[Action, Status]] = {
    Status.ISSUED: {
        Action.ACK: Status.ACKNOWLEDGED,
        Action.DISPUTE: Status.DISPUTED,
        Action.OVERDUE: Status.OVERDUE,
    },
    Status.ACKNOWLEDGED: {
        Action.COMPLETE: Status.COMPLETED,
        Action.DISPUTE: Status.DISPUTED,
        Action.OVERDUE: Status.OVERDUE,
    },
    Status.OVERDUE: {
        Action.COMPLETE: Status.COMPLETED,
        Action.DISPUTE: Status.DISPUTED,
    },
    Status.COMPLETED: {},
    Status.DISPUTED: {},
}

#: States whose deadline still matters: the platform has not finished the order.
OPEN = frozenset({Status.ISSUED, Status.ACKNOWLEDGED})
FINAL = frozenset(s for s, moves in TRANSITIONS.items() if not moves)


class InvalidTransition(Exception):  # noqa: N818 - the name says what happened
    """``action`` is not allowed from ``current``; ``allowed`` lists what is."""

    def __init__(self, current: Status, action: Action) -> None:
        self.current = current
        self.action = action
        #: what a caller may do instead (``overdue`` is the service's, never named here)
        self.allowed: Mapping[Action, Status] = {
            a: s for a, s in TRANSITIONS[current].items() if a is not Action.OVERDUE
        }
        if self.allowed:
            options = ", ".join(f"{a.value} → {s.value}" for a, s in self.allowed.items())
            detail = f"allowed from {current.value}: {options}"
        else:
            detail = f"{current.value} is final; no further change is allowed"
        super().__init__(f"cannot {action.value} an order that is {current.value}; {detail}")


def parse_status(value: str) -> Status:
    """``value`` as a :class:`Status`; ``ValueError`` naming the valid ones otherwise."""
    try:
        return Status(value)
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {value!r}; one of {valid}") from None


def next_status(current: Status, action: Action) -> Status:
    """The state ``action`` leads to from ``current``, or :class:`InvalidTransition`."""
    target = TRANSITIONS[current].get(action)
    if target is None:
        raise InvalidTransition(current, action)
    return target


def platform_actions(current: Status) -> list[Action]:
    """What a platform may do next (the service's ``overdue`` is not theirs to take)."""
    return [a for a in TRANSITIONS[current] if a is not Action.OVERDUE]


def is_overdue(current: Status, deadline: datetime, now: datetime) -> bool:
    """True when an open order's ``deadline`` has passed at ``now`` (both time-zone aware)."""
    if deadline.tzinfo is None or now.tzinfo is None:
        raise ValueError("deadline and now must be time-zone aware")
    return current in OPEN and now >= deadline


def removal_precedes_order(removed_at: datetime, issued_at: datetime) -> bool:
    """True when a reported removal time is before the order was issued: a listing
    cannot have been taken down *in answer to* an order that did not exist yet (both
    time-zone aware; SQLite's naive UTC is the caller's to mark)."""
    if removed_at.tzinfo is None or issued_at.tzinfo is None:
        raise ValueError("removed_at and issued_at must be time-zone aware")
    return removed_at < issued_at
