"""A mediation's states, its parties and what each step may do (pure; docs/odr.md §2).

A mediation is ``open`` until an offer has the assent of both sides (``agreed``) or a
party refuses, the mediator ends it or its deadline passes (``failed``). Both end states
are final. The two sides are the consumer and the business (the merchant and its
platform, who speak for the same side); the mediator is neither.

Offers are numbered 1, 2, … within a mediation. An offer's state follows from the events
(:func:`fold`), it is never stored:

- ``open`` when made; its maker's side assents to it (a mediator's proposal: nobody yet);
- ``accepted`` once both sides assent (the mediation is then ``agreed``);
- ``rejected`` by a party of a side that has not assented;
- ``countered`` by a later offer naming it (``counter_to``) from another party;
- ``superseded`` by a later offer of the same party.

Only an ``open`` offer can be accepted, rejected or countered. Anything else is refused
with the reason (:class:`IllegalStepError`, 409).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    AGREED = "agreed"
    FAILED = "failed"


class Party(StrEnum):
    CONSUMER = "consumer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    MEDIATOR = "mediator"
    SYSTEM = "system"


class Kind(StrEnum):
    OPENED = "opened"
    OFFER = "offer"
    ACCEPT = "accept"
    REJECT = "reject"
    NOTE = "note"
    EXTEND = "extend"
    FAILED = "failed"


class OfferState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COUNTERED = "countered"
    SUPERSEDED = "superseded"


class Remedy(StrEnum):
    REFUND = "refund"
    REPLACE = "replace"
    REPAIR = "repair"
    COMPENSATION = "compensation"
    OTHER = "other"


#: Why a mediation failed (the ``reason`` of its ``failed`` event and its outcome).
FAIL_REFUSED = "refused"  # a party refused to go on
FAIL_ENDED = "ended"  # the mediator ended it
FAIL_DEADLINE = "deadline"  # the deadline passed (the odr-deadlines job)

#: Remedies that need an amount of at least 1 分.
PAID_REMEDIES = frozenset({Remedy.REFUND, Remedy.COMPENSATION})
#: The largest amount an offer may name: ¥100,000,000.00 in 分.
MAX_AMOUNT_FEN = 10_000_000_000
#: Deadline extensions a mediation may have, and the days one may add.
MAX_EXTENSIONS = 2
MAX_EXTENSION_DAYS = 30
BUSINESS = "business"

STATUS_LABELS: dict[Status, str] = {
    Status.OPEN: "调解中",
    Status.AGREED: "调解成功",
    Status.FAILED: "调解失败",
}
PARTY_LABELS: dict[Party, str] = {
    Party.CONSUMER: "消费者",
    Party.MERCHANT: "商家",
    Party.PLATFORM: "平台",
    Party.MEDIATOR: "调解员",
    Party.SYSTEM: "系统",
}
KIND_LABELS: dict[Kind, str] = {
    Kind.OPENED: "启动调解",
    Kind.OFFER: "提出方案",
    Kind.ACCEPT: "接受方案",
    Kind.REJECT: "拒绝方案",
    Kind.NOTE: "备注",
    Kind.EXTEND: "延长期限",
    Kind.FAILED: "调解终止",
}
OFFER_LABELS: dict[OfferState, str] = {
    OfferState.OPEN: "待答复",
    OfferState.ACCEPTED: "已达成",
    OfferState.REJECTED: "已拒绝",
    OfferState.COUNTERED: "已还价",
    OfferState.SUPERSEDED: "已被新方案取代",
}
REMEDY_LABELS: dict[Remedy, str] = {
    Remedy.REFUND: "退款",
    Remedy.REPLACE: "换货",
    Remedy.REPAIR: "维修",
    Remedy.COMPENSATION: "赔偿",
    Remedy.OTHER: "其他",
}
FAIL_LABELS: dict[str, str] = {
    FAIL_REFUSED: "一方拒绝调解",
    FAIL_ENDED: "调解员终止调解",
    FAIL_DEADLINE: "调解期限届满",
}


class IllegalStepError(ValueError):
    """A step the mediation's state does not allow (409)."""


def side(party: Party) -> str | None:
    """The side a party speaks for: ``consumer``, ``business`` or None (mediator, system)."""
    if party is Party.CONSUMER:
        return Party.CONSUMER.value
    if party in (Party.MERCHANT, Party.PLATFORM):
        return BUSINESS
    return None


@dataclass
class Offer:
    number: int
    party: Party
    state: OfferState = OfferState.OPEN
    assents: set[str] = field(default_factory=set)


@dataclass
class Step:
    """One event as the state machine sees it."""

    kind: Kind
    party: Party
    offer_no: int | None = None
    ref_offer: int | None = None


@dataclass
class Mediation:
    """The state the events so far lead to."""

    status: Status = Status.OPEN
    offers: dict[int, Offer] = field(default_factory=dict)
    extensions: int = 0

    @property
    def next_offer(self) -> int:
        return max(self.offers, default=0) + 1


def _open_offer(state: Mediation, number: int | None, party: Party, verb: str) -> Offer:
    if number is None or number not in state.offers:
        raise IllegalStepError(f"there is no offer {number} to {verb}")
    offer = state.offers[number]
    if offer.state is not OfferState.OPEN:
        raise IllegalStepError(
            f"offer {number} is {offer.state.value}, not open; it cannot be {verb}ed"
        )
    mine = side(party)
    if offer.party is party or (mine is not None and mine in offer.assents):
        raise IllegalStepError(
            f"offer {number} is already assented to by the {mine or party.value} side; "
            f"only the other side may {verb} it"
        )
    return offer


def step(state: Mediation, event: Step) -> Mediation:
    """Apply ``event`` to ``state`` (in place) and return it; :class:`IllegalStepError`
    when the event is not allowed."""
    if event.kind is Kind.OPENED:
        return state
    if state.status is not Status.OPEN:
        raise IllegalStepError(
            f"the mediation is {state.status.value}; a closed mediation is final"
        )
    if event.kind is Kind.OFFER:
        if event.party is Party.SYSTEM:
            raise IllegalStepError("the system makes no offers")
        if event.ref_offer is not None:
            _open_offer(state, event.ref_offer, event.party, "counter").state = OfferState.COUNTERED
        for earlier in state.offers.values():
            if earlier.party is event.party and earlier.state is OfferState.OPEN:
                earlier.state = OfferState.SUPERSEDED
        number = event.offer_no or state.next_offer
        made_by = side(event.party)
        state.offers[number] = Offer(number, event.party, assents={made_by} if made_by else set())
    elif event.kind is Kind.ACCEPT:
        mine = side(event.party)
        if mine is None:
            raise IllegalStepError("only the consumer, the merchant or the platform accepts")
        offer = _open_offer(state, event.ref_offer, event.party, "accept")
        offer.assents.add(mine)
        if {Party.CONSUMER.value, BUSINESS} <= offer.assents:
            offer.state = OfferState.ACCEPTED
            state.status = Status.AGREED
    elif event.kind is Kind.REJECT:
        if side(event.party) is None:
            raise IllegalStepError("only the consumer, the merchant or the platform rejects")
        _open_offer(state, event.ref_offer, event.party, "reject").state = OfferState.REJECTED
    elif event.kind is Kind.EXTEND:
        if state.extensions >= MAX_EXTENSIONS:
            raise IllegalStepError(
                f"the deadline was already extended {MAX_EXTENSIONS} times, the most allowed"
            )
        state.extensions += 1
    elif event.kind is Kind.FAILED:
        state.status = Status.FAILED
    return state


def fold(events: Iterable[Step]) -> Mediation:
    """The state ``events`` (oldest first) lead to."""
    state = Mediation()
    for event in events:
        step(state, event)
    return state
