"""The takedown order state machine (pure; no I/O).

::

    from           action         to            who
    issued         ack            acknowledged  platform
    issued         dispute        disputed      platform
    issued         overdue        overdue       service (the deadline passed)
    acknowledged   complete       completed     platform
    acknowledged   dispute        disputed      platform
    acknowledged   overdue        overdue       service
    overdue        complete       completed     platform
    overdue        dispute        disputed      platform
    reopened       ack            acknowledged  platform (open like issued; it may also
    reopened       complete       completed     platform  be completed at once)
    reopened       dispute        disputed      platform
    reopened       overdue        overdue       service
    completed      reopen         reopened      service (a re-capture found a listing)
    disputed       uphold         reopened      officer (ruling: the order stands)
    disputed       withdraw       withdrawn     officer (ruling: the order is withdrawn)
    withdrawn      (final)

An order the platform has not finished by its deadline becomes ``overdue`` (the
service's scan does it, not a person); an overdue order can still be completed or
disputed, so the record shows both that it was late and how it ended.

``completed`` is not final: the listed URLs are captured again at configured delays
after completion, and a capture that finds a listing again ``reopen`` s the order with a
new deadline (``reopened`` is an open state like ``issued``). ``disputed`` moves only by
an officer's ruling: ``uphold`` (the order stands: ``reopened`` with a new deadline) or
``withdraw`` (``withdrawn``, the one final state). Every transition is a ``takedown``
entry in the log, so this table is also what an auditor reads.
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
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    ACK = "ack"
    COMPLETE = "complete"
    DISPUTE = "dispute"
    #: taken by the service when the deadline passes, never by a caller
    OVERDUE = "overdue"
    #: taken by the service when a re-capture finds a removed listing again
    REOPEN = "reopen"
    #: an officer's ruling on a dispute: the order stands, with a new deadline
    UPHOLD = "uphold"
    #: an officer's ruling on a dispute: the order is withdrawn
    WITHDRAW = "withdraw"


#: Labels for officers and courts (Chinese with English alongside).
LABELS: Mapping[Status, str] = {
    Status.ISSUED: "已下达 issued",
    Status.ACKNOWLEDGED: "已确认 acknowledged",
    Status.COMPLETED: "已完成 completed",
    Status.DISPUTED: "有异议 disputed",
    Status.OVERDUE: "已逾期 overdue",
    Status.REOPENED: "已重新下达 reopened",
    Status.WITHDRAWN: "已撤回 withdrawn",
}

#: Labels of the actions (the history and the rulings show them).
ACTION_LABELS: Mapping[Action, str] = {
    Action.ACK: "确认收到 acknowledge",
    Action.COMPLETE: "完成下架 complete",
    Action.DISPUTE: "提出异议 dispute",
    Action.OVERDUE: "逾期 overdue",
    Action.REOPEN: "复查发现重现，重新下达 reopen",
    Action.UPHOLD: "维持通知 uphold",
    Action.WITHDRAW: "撤回通知 withdraw",
}

_OPEN_MOVES: Mapping[Action, Status] = {
    Action.ACK: Status.ACKNOWLEDGED,
    Action.COMPLETE: Status.COMPLETED,
    Action.DISPUTE: Status.DISPUTED,
    Action.OVERDUE: Status.OVERDUE,
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
    Status.REOPENED: _OPEN_MOVES,
    Status.COMPLETED: {Action.REOPEN: Status.REOPENED},
    Status.DISPUTED: {Action.UPHOLD: Status.REOPENED, Action.WITHDRAW: Status.WITHDRAWN},
    Status.WITHDRAWN: {},
}

#: Actions only the service takes (never offered to a platform or an officer).
SYSTEM_ACTIONS = frozenset({Action.OVERDUE, Action.REOPEN})
#: An officer's rulings on a dispute (never offered to a platform).
RULINGS = frozenset({Action.UPHOLD, Action.WITHDRAW})

#: States whose deadline still matters: the platform has not finished the order.
OPEN = frozenset({Status.ISSUED, Status.ACKNOWLEDGED, Status.REOPENED})
FINAL = frozenset(s for s, moves in TRANSITIONS.items() if not moves)


class InvalidTransition(Exception):  # noqa: N818 - the name says what happened
    """``action`` is not allowed from ``current``; ``allowed`` lists what a caller may do
    (the service's own actions are never named)."""

    def __init__(self, current: Status, action: Action) -> None:
        self.current = current
        self.action = action
        self.allowed: Mapping[Action, Status] = {
            a: s for a, s in TRANSITIONS[current].items() if a not in SYSTEM_ACTIONS
        }
        if self.allowed:
            options = ", ".join(f"{a.value} → {s.value}" for a, s in self.allowed.items())
            detail = f"allowed from {current.value}: {options}"
            if set(self.allowed) <= RULINGS:
                detail += " (an officer's ruling)"
        elif current in FINAL:
            detail = f"{current.value} is final; no further change is allowed"
        else:
            detail = (
                f"{current.value} changes only by the service "
                "(reopen, when a re-capture finds a listing again)"
            )
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
    """What a platform may do next (never the service's actions, never a ruling)."""
    return [a for a in TRANSITIONS[current] if a not in SYSTEM_ACTIONS and a not in RULINGS]


def ruling_of(from_status: str | None, to_status: str) -> Action | None:
    """The ruling a recorded change was (``uphold``/``withdraw``), or None: a change out
    of ``disputed`` is always a ruling."""
    if from_status != Status.DISPUTED.value:
        return None
    return Action.WITHDRAW if to_status == Status.WITHDRAWN.value else Action.UPHOLD


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


def parse_delays(text: str) -> tuple[int, ...]:
    """``takedown_verify_delays`` ("3600,86400,604800") as sorted distinct seconds, each
    at least 1; ``ValueError`` naming the bad item. Empty text: no re-captures."""
    delays: set[int] = set()
    for i, raw in enumerate(text.split(",")):
        item = raw.strip()
        if not item:
            if text.strip():
                raise ValueError(f"takedown_verify_delays: item {i} is empty")
            continue
        if not item.isdigit():
            raise ValueError(f"takedown_verify_delays: item {i} ({item!r}) is not whole seconds")
        value = int(item)
        if value < 1 or value > 366 * 86400:
            raise ValueError(f"takedown_verify_delays: item {i} ({value}) is not 1..31622400 s")
        delays.add(value)
    return tuple(sorted(delays))
