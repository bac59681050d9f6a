"""The case workflow (案件办理流程): 线索 -> 立案 -> 调查 -> 处理 -> 结案.

A case moves forward one step at a time; 结案 (closed) is final. One shortcut
exists, because it is how a clue ends when it does not become a case:
线索 -> 结案 is **不予立案** (decided not to open a case); it is recorded under
that name, so a history never shows a clue "closed" as if it had been handled.
There is no way back: reopening a decision is a new case.

Statuses are stored as their English codes; the Chinese labels are for the
people who read them (officers, courts). Pure: no I/O.
"""

from __future__ import annotations

from typing import Final

#: Status code -> Chinese label, in workflow order.
STATUSES: Final[dict[str, str]] = {
    "clue": "线索",
    "filed": "立案",
    "investigating": "调查",
    "handling": "处理",
    "closed": "结案",
}
INITIAL: Final = "clue"
FINAL: Final = "closed"

#: (from, to) -> the name of the step, as recorded in the case history.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("clue", "filed"): "立案",
    ("clue", "closed"): "不予立案",
    ("filed", "investigating"): "调查",
    ("investigating", "handling"): "处理",
    ("handling", "closed"): "结案",
}


class WorkflowError(ValueError):
    """A status or a move the workflow does not have; the message says what would do."""


class UnknownStatusError(WorkflowError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"unknown case status {status!r}; statuses: "
            + ", ".join(f"{code} ({label})" for code, label in STATUSES.items())
        )
        self.status = status


class TransitionError(WorkflowError):
    """``current -> target`` is not allowed; ``allowed`` are the moves that are."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...]) -> None:
        if allowed:
            options = ", ".join(_option(current, s) for s in allowed)
            message = (
                f"a case in {describe(current)} cannot move to {describe(target)}; "
                f"allowed: {options}"
            )
        else:
            message = (
                f"a case in {describe(current)} is final; it cannot move to {describe(target)}"
            )
        super().__init__(message)
        self.current = current
        self.target = target
        self.allowed = allowed


def describe(status: str) -> str:
    """``'filed (立案)'``: the code and its label, as messages show them."""
    return f"{status} ({STATUSES[status]})"


def _option(current: str, target: str) -> str:
    """``'closed (结案: 不予立案)'``: the step's name too where it differs from the label."""
    step = TRANSITIONS[current, target]
    label = STATUSES[target]
    return f"{target} ({label})" if step == label else f"{target} ({label}: {step})"


def check_status(status: str) -> str:
    """``status`` if it is a status code, else :class:`UnknownStatusError`."""
    if status not in STATUSES:
        raise UnknownStatusError(status)
    return status


def allowed_next(current: str) -> tuple[str, ...]:
    """The statuses a case in ``current`` may move to, in workflow order."""
    check_status(current)
    return tuple(to for (frm, to) in TRANSITIONS if frm == current)


def transition(current: str, target: str) -> str:
    """The name of the step ``current -> target`` (e.g. ``'不予立案'``), or raise.

    Raises :class:`UnknownStatusError` for a status that does not exist and
    :class:`TransitionError` (naming the allowed targets) for a move that is not
    allowed, including staying where the case is.
    """
    check_status(current)
    check_status(target)
    step = TRANSITIONS.get((current, target))
    if step is None:
        raise TransitionError(current, target, allowed_next(current))
    return step
