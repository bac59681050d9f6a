"""The mediation state machine (evidence_api.odr.workflow): offers, counter-offers,
acceptance by both sides, rejection, supersession, extensions and final states."""

from __future__ import annotations

import pytest

from evidence_api.odr import workflow as wf
from evidence_api.odr.workflow import Kind, OfferState, Party, Status, Step


def run(*steps: Step) -> wf.Mediation:
    return wf.fold([Step(Kind.OPENED, Party.MEDIATOR), *steps])


def offer(party: Party, number: int, counter_to: int | None = None) -> Step:
    return Step(Kind.OFFER, party, number, counter_to)


def test_offer_counter_accept_agrees() -> None:
    state = run(
        offer(Party.MERCHANT, 1),
        offer(Party.CONSUMER, 2, counter_to=1),
        Step(Kind.ACCEPT, Party.PLATFORM, ref_offer=2),
    )
    assert state.status is Status.AGREED
    assert state.offers[1].state is OfferState.COUNTERED
    assert state.offers[2].state is OfferState.ACCEPTED
    assert state.offers[2].assents == {"consumer", "business"}


def test_a_side_cannot_accept_its_own_offer() -> None:
    state = run(offer(Party.MERCHANT, 1))
    with pytest.raises(wf.IllegalStepError, match="only the other side"):
        wf.step(state, Step(Kind.ACCEPT, Party.PLATFORM, ref_offer=1))
    with pytest.raises(wf.IllegalStepError, match="only the other side"):
        wf.step(state, Step(Kind.ACCEPT, Party.MERCHANT, ref_offer=1))


def test_a_mediators_proposal_needs_both_sides() -> None:
    state = run(offer(Party.MEDIATOR, 1), Step(Kind.ACCEPT, Party.CONSUMER, ref_offer=1))
    assert state.status is Status.OPEN
    assert state.offers[1].assents == {"consumer"}
    with pytest.raises(wf.IllegalStepError):
        wf.step(state, Step(Kind.ACCEPT, Party.CONSUMER, ref_offer=1))
    after = wf.step(state, Step(Kind.ACCEPT, Party.MERCHANT, ref_offer=1))
    assert after.status is Status.AGREED


def test_rejected_superseded_and_unknown_offers_cannot_be_accepted() -> None:
    state = run(
        offer(Party.MERCHANT, 1),
        Step(Kind.REJECT, Party.CONSUMER, ref_offer=1),
        offer(Party.MERCHANT, 2),
        offer(Party.MERCHANT, 3),
    )
    assert state.offers[1].state is OfferState.REJECTED
    assert state.offers[2].state is OfferState.SUPERSEDED
    assert state.offers[3].state is OfferState.OPEN
    for number in (1, 2, 9):
        with pytest.raises(wf.IllegalStepError):
            wf.step(state, Step(Kind.ACCEPT, Party.CONSUMER, ref_offer=number))
    with pytest.raises(wf.IllegalStepError):
        wf.step(state, Step(Kind.ACCEPT, Party.CONSUMER, ref_offer=None))


def test_the_mediator_and_the_system_neither_accept_nor_reject() -> None:
    state = run(offer(Party.MERCHANT, 1))
    for party in (Party.MEDIATOR, Party.SYSTEM):
        for kind in (Kind.ACCEPT, Kind.REJECT):
            with pytest.raises(wf.IllegalStepError):
                wf.step(state, Step(kind, party, ref_offer=1))


def test_extensions_are_bounded() -> None:
    state = run(*[Step(Kind.EXTEND, Party.MEDIATOR)] * wf.MAX_EXTENSIONS)
    assert state.extensions == wf.MAX_EXTENSIONS
    with pytest.raises(wf.IllegalStepError, match="already extended"):
        wf.step(state, Step(Kind.EXTEND, Party.MEDIATOR))


@pytest.mark.parametrize(
    "closing",
    [
        (Step(Kind.FAILED, Party.SYSTEM),),
        (Step(Kind.FAILED, Party.CONSUMER),),
        (offer(Party.CONSUMER, 1), Step(Kind.ACCEPT, Party.MERCHANT, ref_offer=1)),
    ],
)
def test_a_closed_mediation_is_final(closing: tuple[Step, ...]) -> None:
    state = run(*closing)
    assert state.status is not Status.OPEN
    for later in (
        offer(Party.MERCHANT, 9),
        Step(Kind.NOTE, Party.MEDIATOR),
        Step(Kind.EXTEND, Party.MEDIATOR),
        Step(Kind.FAILED, Party.SYSTEM),
    ):
        with pytest.raises(wf.IllegalStepError, match="final"):
            wf.step(state, later)


def test_every_code_has_a_chinese_label() -> None:
    assert set(wf.STATUS_LABELS) == set(Status)
    assert set(wf.PARTY_LABELS) == set(Party)
    assert set(wf.KIND_LABELS) == set(Kind)
    assert set(wf.OFFER_LABELS) == set(OfferState)
    assert set(wf.REMEDY_LABELS) == set(wf.Remedy)
