"""The states of a clue and of an assistance request, and every allowed step (pure).

A clue (docs/clues.md §2)::

    held ──send──▶ pending ──accept──▶ accepted ──send──▶ pending …
                      │
                      └──return──▶ returned ──send──▶ pending (a new transfer)

An assistance request (协查, §3)::

    open ──reply──▶ replied ──reply──▶ replied
      │                │
      └────close───────┴──close──▶ closed

Anything else is refused with the reason (409). Being overdue is a flag on a pending
transfer or an open request, not a state: the answer may still come.
"""

from __future__ import annotations

from enum import StrEnum


class ClueStatus(StrEnum):
    HELD = "held"
    PENDING = "pending"
    RETURNED = "returned"
    ACCEPTED = "accepted"


class ClueAction(StrEnum):
    SEND = "send"
    ACCEPT = "accept"
    RETURN = "return"


class AssistStatus(StrEnum):
    OPEN = "open"
    REPLIED = "replied"
    CLOSED = "closed"


class AssistAction(StrEnum):
    REPLY = "reply"
    CLOSE = "close"


#: (status, action) -> the status it leads to: every allowed step of a clue.
CLUE_STEPS: dict[tuple[ClueStatus, ClueAction], ClueStatus] = {
    (ClueStatus.HELD, ClueAction.SEND): ClueStatus.PENDING,
    (ClueStatus.RETURNED, ClueAction.SEND): ClueStatus.PENDING,
    (ClueStatus.ACCEPTED, ClueAction.SEND): ClueStatus.PENDING,
    (ClueStatus.PENDING, ClueAction.ACCEPT): ClueStatus.ACCEPTED,
    (ClueStatus.PENDING, ClueAction.RETURN): ClueStatus.RETURNED,
}

#: (status, action) -> the status it leads to: every allowed step of a request.
ASSIST_STEPS: dict[tuple[AssistStatus, AssistAction], AssistStatus] = {
    (AssistStatus.OPEN, AssistAction.REPLY): AssistStatus.REPLIED,
    (AssistStatus.REPLIED, AssistAction.REPLY): AssistStatus.REPLIED,
    (AssistStatus.OPEN, AssistAction.CLOSE): AssistStatus.CLOSED,
    (AssistStatus.REPLIED, AssistAction.CLOSE): AssistStatus.CLOSED,
}

CLUE_LABELS: dict[ClueStatus, str] = {
    ClueStatus.HELD: "在办",
    ClueStatus.PENDING: "转办中",
    ClueStatus.RETURNED: "已退回",
    ClueStatus.ACCEPTED: "已接收",
}
ASSIST_LABELS: dict[AssistStatus, str] = {
    AssistStatus.OPEN: "待回复",
    AssistStatus.REPLIED: "已回复",
    AssistStatus.CLOSED: "已办结",
}

#: What a 协查 request may ask for (its ``topics``), with the labels officers read.
TOPICS: dict[str, str] = {
    "seller_identity": "经营者身份信息",
    "order_data": "订单数据",
    "listing_history": "商品信息及变更记录",
    "payment_records": "支付记录",
    "logistics": "物流信息",
    "other": "其他",
}


class IllegalStepError(ValueError):
    """A step the state machine does not allow from the current status (409)."""


def clue_allowed(status: ClueStatus) -> list[ClueAction]:
    """The actions allowed on a clue in ``status``, in a stable order."""
    return [a for a in ClueAction if (status, a) in CLUE_STEPS]


def assist_allowed(status: AssistStatus) -> list[AssistAction]:
    """The actions allowed on a request in ``status``, in a stable order."""
    return [a for a in AssistAction if (status, a) in ASSIST_STEPS]


def _names(actions: list[ClueAction] | list[AssistAction]) -> str:
    return ", ".join(a.value for a in actions) or "none"


def clue_next(status: ClueStatus, action: ClueAction) -> ClueStatus:
    """The status ``action`` leads a clue in ``status`` to; :class:`IllegalStepError` naming
    the allowed actions when it is not allowed."""
    try:
        return CLUE_STEPS[(status, action)]
    except KeyError:
        raise IllegalStepError(
            f"a clue that is {status.value!r} cannot {action.value}; "
            f"allowed: {_names(clue_allowed(status))}"
        ) from None


def assist_next(status: AssistStatus, action: AssistAction) -> AssistStatus:
    """The status ``action`` leads a request in ``status`` to; :class:`IllegalStepError`
    naming the allowed actions when it is not allowed."""
    try:
        return ASSIST_STEPS[(status, action)]
    except KeyError:
        raise IllegalStepError(
            f"an assistance request that is {status.value!r} cannot {action.value}; "
            f"allowed: {_names(assist_allowed(status))}"
        ) from None
