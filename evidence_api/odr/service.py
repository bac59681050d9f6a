"""ODR's service: opening a mediation from a complaint's triage, every step of it, what
each side may see, and closing it (docs/odr.md).

Who reaches a mediation (one clause, :func:`visible`): officers and admins whose
jurisdiction covers the complaint's unit (the mediator); a platform token, the
mediations whose platform is its own; the consumer, the one mediation whose complaint's
access token it presents (:func:`load_for_consumer`). Anything else is 404, exactly as a
mediation that does not exist.

Every step locks the mediation's row, folds its events into their state
(:mod:`evidence_api.odr.workflow`), asks whether the step is allowed (409 with the reason
otherwise) and writes the event with its log entry (kind ``odr``) in the same
transaction. When a step closes the mediation (agreed or failed), the outcome is
recorded and the complaint is told: its ``status`` becomes ``resolved`` with
``resolved_at`` (``substantiated`` is left alone: a mediation is not a finding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.complaints.models import Complaint
from evidence_api.core import ledger
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import labels, scope
from evidence_api.core.ledger import Ledger, SignReceipt, record_entry
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.monitoring.observation import sha256_text
from evidence_api.odr import workflow as wf
from evidence_api.odr.models import OdrCase, OdrEvent
from evidence_api.odr.schemas import (
    ConsumerView,
    EventPublic,
    MediatorOffer,
    OdrDetail,
    OdrPage,
    OdrPublic,
    OfferPublic,
    Outcome,
    Parties,
    PlatformOffer,
    RespondBody,
)
from evidence_api.registry.models import Platform, TradingEntity

#: The log entries' kind and their id prefix (``oe-…``).
KIND = "odr"
PREFIX = "oe"
#: Who the consumer is in events (the access token, not a person's name).
CONSUMER_ACTOR = "consumer"
SYSTEM_ACTOR = "system"
#: The ledger of a step (core.ledger: one for every workflow).
ledger_of = ledger.ledger_of
#: The complaint's status once its mediation closed (the complaints feature's code).
RESOLVED = "resolved"


@dataclass(frozen=True)
class Action:
    """One step asked for: its kind, on whose behalf, by whom, and its fields."""

    kind: wf.Kind
    party: wf.Party
    actor: str
    offer: int | None = None
    remedy: str | None = None
    amount_fen: int | None = None
    text: str | None = None
    days: int | None = None
    #: a failure's reason code (refused, ended, deadline)
    reason: str | None = None


def offer_action(who: str, actor: str, body: MediatorOffer | PlatformOffer) -> Action:
    """An offer's body as an action on behalf of ``who``."""
    return Action(
        wf.Kind.OFFER,
        wf.Party(who),
        actor,
        offer=body.counter_to,
        remedy=body.remedy,
        amount_fen=body.amount_fen,
        text=body.text,
    )


def respond_action(party: wf.Party, actor: str, body: RespondBody) -> Action:
    """A party's answer (the consumer's or the platform's) as an action; ``refuse``: the
    mediation fails with reason ``refused``."""
    if body.action == "accept":
        return Action(wf.Kind.ACCEPT, party, actor, offer=body.offer)
    if body.action == "reject":
        return Action(wf.Kind.REJECT, party, actor, offer=body.offer, text=body.reason)
    if body.action == "refuse":
        return Action(wf.Kind.FAILED, party, actor, text=body.reason, reason=wf.FAIL_REFUSED)
    return Action(
        wf.Kind.OFFER,
        party,
        actor,
        offer=body.offer,
        remedy=body.remedy,
        amount_fen=body.amount_fen or 0,
        text=body.text,
    )


# --- opening ------------------------------------------------------------------------------


def open_mediation(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    complaint: Complaint,
    actor: str,
    at: datetime,
    days: int,
) -> OdrCase:
    """Open a mediation for ``complaint`` (deadline ``at`` + ``days``) with its log entry,
    in the caller's transaction. The caller sets the complaint's ``odr_id``, commits and
    nudges the sealer. 409 when the complaint already has one."""
    if not 1 <= days <= 366:
        raise InvalidInputError("days: 1..366", field="days")
    taken = session.execute(
        select(OdrCase.id).where(OdrCase.complaint_id == complaint.id)
    ).scalar_one_or_none()
    if taken is not None:
        raise ConflictError(f"complaint {complaint.id!r} already has mediation {taken!r}")
    platform_id = complaint.platform_id
    if platform_id is None and complaint.entity_id is not None:
        entity = session.get(TradingEntity, complaint.entity_id)
        platform_id = None if entity is None else entity.platform_id
    at = _ms(at)
    case = OdrCase(
        id=new_id("odr"),
        complaint_id=complaint.id,
        entity_id=complaint.entity_id,
        platform_id=platform_id,
        status=wf.Status.OPEN.value,
        deadline=at + timedelta(days=days),
        outcome=None,
        opened_by=actor,
        opened_at=at,
        closed_at=None,
        entry_id="",
    )
    session.add(case)
    session.flush()
    event = _record(
        session,
        sign_receipt,
        case,
        wf.Kind.OPENED,
        wf.Party.MEDIATOR,
        actor,
        at,
        extra={
            "entity_id": case.entity_id,
            "platform": _platform_code(session, case.platform_id),
            "deadline": utc_timestamp(case.deadline),
        },
    )
    case.entry_id = event.entry_id
    session.flush()
    return case


def _ms(moment: datetime) -> datetime:
    """``moment`` in UTC cut to milliseconds (what entries state)."""
    value = moment.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _platform_code(session: Session, platform_id: int | None) -> str | None:
    if platform_id is None:
        return None
    return session.execute(select(Platform.code).where(Platform.id == platform_id)).scalar()


# --- events -------------------------------------------------------------------------------


def _events(session: Session, case: OdrCase) -> list[OdrEvent]:
    return list(
        session.execute(
            select(OdrEvent).where(OdrEvent.odr_seq == case.seq).order_by(OdrEvent.number)
        ).scalars()
    )


def _as_step(event: OdrEvent) -> wf.Step:
    return wf.Step(wf.Kind(event.kind), wf.Party(event.party), event.offer_no, event.ref_offer)


def _record(
    session: Session,
    sign_receipt: SignReceipt,
    case: OdrCase,
    kind: wf.Kind,
    party: wf.Party,
    actor: str,
    at: datetime,
    *,
    offer_no: int | None = None,
    ref_offer: int | None = None,
    remedy: str | None = None,
    amount_fen: int | None = None,
    text: str | None = None,
    deadline: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> OdrEvent:
    """One event and its entry (body: docs/odr.md §5; no free text, only its SHA-256)."""
    number = (
        session.execute(
            select(func.max(OdrEvent.number)).where(OdrEvent.odr_seq == case.seq)
        ).scalar()
        or 0
    ) + 1
    body: dict[str, Any] = {
        "odr_id": case.id,
        "complaint_id": case.complaint_id,
        "event": kind.value,
        "number": number,
        "party": party.value,
        "actor": actor,
        "status": case.status,
        "offer": offer_no,
        "ref_offer": ref_offer,
        "remedy": remedy,
        "amount_fen": amount_fen,
        "text_sha256": None if text is None else sha256_text(text),
        "deadline": None if deadline is None else utc_timestamp(deadline),
        **(extra or {}),
    }
    entry, leaf = record_entry(
        session,
        sign_receipt,
        KIND,
        PREFIX,
        {k: v for k, v in body.items() if v is not None},
        at,
    )
    event = OdrEvent(
        odr_seq=case.seq,
        number=number,
        kind=kind.value,
        party=party.value,
        actor=actor,
        offer_no=offer_no,
        ref_offer=ref_offer,
        remedy=remedy,
        amount_fen=amount_fen,
        text=text,
        deadline=deadline,
        at=at,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(event)
    session.flush()
    return event


def _close(session: Session, case: OdrCase, at: datetime, outcome: dict[str, Any]) -> None:
    """Record the outcome and tell the complaint (only its status and resolved_at)."""
    case.outcome = json.dumps(outcome, ensure_ascii=False, sort_keys=True)
    case.closed_at = at
    session.execute(
        update(Complaint)
        .where(Complaint.id == case.complaint_id, Complaint.status != RESOLVED)
        .values(status=RESOLVED, resolved_at=at)
    )


def _agreed_terms(events: list[OdrEvent], number: int) -> dict[str, Any]:
    offer = next(e for e in events if e.offer_no == number)
    return {
        "result": wf.Status.AGREED.value,
        "offer": number,
        "party": offer.party,
        "remedy": offer.remedy,
        "amount_fen": offer.amount_fen,
        "text": offer.text,
    }


def apply_action(
    session: Session, sign_receipt: SignReceipt, case: OdrCase, act: Action, now: datetime
) -> OdrEvent:
    """Apply ``act`` to the (locked) mediation ``case`` at ``now``: 409 when its state or its
    deadline does not allow it; the event, and the closing when it closes the mediation."""
    if (
        case.status == wf.Status.OPEN.value
        and act.reason != wf.FAIL_DEADLINE
        and _aware(case.deadline) <= now
    ):
        raise ConflictError(
            f"the mediation's deadline passed at {utc_timestamp(case.deadline)}; "
            "it is closed as failed by the next deadline scan"
        )
    events = _events(session, case)
    state = wf.fold(_as_step(e) for e in events)
    offer_no = state.next_offer if act.kind is wf.Kind.OFFER else None
    ref_offer = act.offer
    try:
        wf.step(state, wf.Step(act.kind, act.party, offer_no, ref_offer))
    except wf.IllegalStepError as exc:
        raise ConflictError(str(exc)) from exc
    deadline = None
    if act.kind is wf.Kind.EXTEND:
        deadline = _aware(case.deadline) + timedelta(days=act.days or 0)
        case.deadline = deadline
    if state.status is not wf.Status.OPEN:
        case.status = state.status.value
    extra: dict[str, Any] = {"reason": act.reason}
    if state.status is not wf.Status.OPEN:
        extra["complaint_status"] = RESOLVED
    event = _record(
        session,
        sign_receipt,
        case,
        act.kind,
        act.party,
        act.actor,
        now,
        offer_no=offer_no,
        ref_offer=ref_offer,
        remedy=act.remedy,
        amount_fen=act.amount_fen,
        text=act.text,
        deadline=deadline,
        extra=extra,
    )
    if state.status is wf.Status.AGREED:
        _close(session, case, now, _agreed_terms([*events, event], ref_offer or 0))
    elif state.status is wf.Status.FAILED:
        _close(
            session,
            case,
            now,
            {
                "result": wf.Status.FAILED.value,
                "reason": act.reason,
                "party": act.party.value,
                "text": act.text,
            },
        )
    return event


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- reach --------------------------------------------------------------------------------


def visible(principal: Principal) -> ColumnElement[bool]:
    """The mediations ``principal`` may see: a platform its own platform's; an officer or
    admin those whose complaint's unit is in its jurisdiction."""
    if principal.role == "platform":
        mine = select(Platform.id).where(Platform.code == principal.platform).scalar_subquery()
        clause: ColumnElement[bool] = OdrCase.platform_id == mine
        return clause
    reach = select(Complaint.id).where(scope(principal, Complaint.unit_id))
    return OdrCase.complaint_id.in_(reach)


def _missing(odr_id: str) -> NotFoundError:
    return NotFoundError(f"no mediation {odr_id!r}")


def load(session: Session, principal: Principal, odr_id: str, *, lock: bool = False) -> OdrCase:
    """Mediation ``odr_id`` if ``principal`` may see it (404 otherwise)."""
    query = select(OdrCase).where(OdrCase.id == odr_id, visible(principal))
    if lock:
        query = query.with_for_update(of=OdrCase)
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise _missing(odr_id)
    return case


def load_for_consumer(session: Session, odr_id: str, token: str, *, lock: bool = False) -> OdrCase:
    """Mediation ``odr_id`` if ``token`` is its complaint's access token; 404 in the same
    words for an unknown mediation and a wrong token (nothing tells them apart)."""
    from evidence_api.complaints.service import check_access  # noqa: PLC0415 - a cycle

    query = select(OdrCase).where(OdrCase.id == odr_id)
    if lock:
        query = query.with_for_update(of=OdrCase)
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise _missing(odr_id)
    try:
        check_access(session, case.complaint_id, token)
    except NotFoundError:
        raise _missing(odr_id) from None
    return case


# --- views --------------------------------------------------------------------------------


def _public(case: OdrCase, platform: str | None, now: datetime) -> OdrPublic:
    status = wf.Status(case.status)
    return OdrPublic(
        odr_id=case.id,
        complaint_id=case.complaint_id,
        entity_id=case.entity_id,
        platform=platform,
        status=status.value,
        status_label=wf.STATUS_LABELS[status],
        deadline=case.deadline,
        overdue=status is wf.Status.OPEN and _aware(case.deadline) <= now,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
    )


def _event(event: OdrEvent, *, consumer: bool) -> EventPublic:
    kind, party = wf.Kind(event.kind), wf.Party(event.party)
    remedy = None if event.remedy is None else wf.Remedy(event.remedy)
    return EventPublic(
        number=event.number,
        kind=kind.value,
        kind_label=wf.KIND_LABELS[kind],
        party=party.value,
        party_label=wf.PARTY_LABELS[party],
        actor=None if consumer else event.actor,
        offer=event.offer_no,
        ref_offer=event.ref_offer,
        remedy=event.remedy,
        remedy_label=None if remedy is None else wf.REMEDY_LABELS[remedy],
        amount_fen=event.amount_fen,
        text=event.text,
        deadline=event.deadline,
        at=event.at,
        entry_id=event.entry_id,
        leaf_hash=event.leaf_hash,
    )


def _offers(events: list[OdrEvent]) -> list[OfferPublic]:
    state = wf.fold(_as_step(e) for e in events)
    answer = []
    for event in events:
        if event.offer_no is None:
            continue
        offer = state.offers[event.offer_no]
        party, remedy = wf.Party(event.party), wf.Remedy(event.remedy or "other")
        answer.append(
            OfferPublic(
                offer=event.offer_no,
                party=party.value,
                party_label=wf.PARTY_LABELS[party],
                remedy=remedy.value,
                remedy_label=wf.REMEDY_LABELS[remedy],
                amount_fen=event.amount_fen or 0,
                text=event.text or "",
                state=offer.state.value,
                state_label=wf.OFFER_LABELS[offer.state],
                assents=sorted(offer.assents),
                at=event.at,
            )
        )
    return answer


def _outcome(case: OdrCase) -> Outcome | None:
    if not case.outcome:
        return None
    data = json.loads(case.outcome)
    reason = data.get("reason")
    return Outcome(**data, reason_label=wf.FAIL_LABELS.get(reason) if reason else None)


def detail(session: Session, case: OdrCase, now: datetime | None = None) -> OdrDetail:
    """The mediation, its parties, offers (with their state) and every event."""
    now = now or datetime.now(UTC)
    events = _events(session, case)
    complaint = session.execute(
        select(Complaint.unit_id).where(Complaint.id == case.complaint_id)
    ).scalar()
    units = labels(session, [complaint])
    platform = session.get(Platform, case.platform_id) if case.platform_id else None
    entity = session.get(TradingEntity, case.entity_id) if case.entity_id else None
    extended = sum(1 for e in events if e.kind == wf.Kind.EXTEND.value)
    return OdrDetail(
        **_public(case, platform.code if platform else None, now).model_dump(),
        parties=Parties(
            complaint_id=case.complaint_id,
            entity_id=case.entity_id,
            shop_name=entity.shop_name if entity else None,
            platform=platform.code if platform else None,
            platform_name=platform.name if platform else None,
            unit=units[complaint][0] if complaint in units else None,
        ),
        offers=_offers(events),
        events=[_event(e, consumer=False) for e in events],
        outcome=_outcome(case),
        extensions_left=max(0, wf.MAX_EXTENSIONS - extended),
    )


def consumer_view(session: Session, case: OdrCase) -> ConsumerView:
    """What the consumer sees: no officers' pseudonyms, no units."""
    events = _events(session, case)
    platform = session.get(Platform, case.platform_id) if case.platform_id else None
    entity = session.get(TradingEntity, case.entity_id) if case.entity_id else None
    status = wf.Status(case.status)
    return ConsumerView(
        odr_id=case.id,
        complaint_id=case.complaint_id,
        status=status.value,
        status_label=wf.STATUS_LABELS[status],
        deadline=case.deadline,
        shop_name=entity.shop_name if entity else None,
        platform_name=platform.name if platform else None,
        offers=_offers(events),
        events=[_event(e, consumer=True) for e in events],
        outcome=_outcome(case),
    )


def list_cases(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    platform: str | None = None,
    entity_id: int | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> OdrPage:
    """Newest first, the mediations ``principal`` may see, filtered (422 on an unknown
    status)."""
    now = now or datetime.now(UTC)
    query = select(OdrCase).where(visible(principal))
    if status is not None:
        if status not in set(wf.Status):
            allowed = ", ".join(s.value for s in wf.Status)
            raise InvalidInputError(f"status: one of {allowed}", field="status")
        query = query.where(OdrCase.status == status)
    if platform is not None:
        code = select(Platform.id).where(Platform.code == platform).scalar_subquery()
        query = query.where(OdrCase.platform_id == code)
    if entity_id is not None:
        query = query.where(OdrCase.entity_id == entity_id)
    if overdue is True:
        query = query.where(OdrCase.status == wf.Status.OPEN.value, OdrCase.deadline <= now)
    elif overdue is False:
        query = query.where((OdrCase.status != wf.Status.OPEN.value) | (OdrCase.deadline > now))
    rows = list(
        session.execute(keyset(query, OdrCase.seq, limit=limit, cursor=cursor)).scalars().all()
    )
    page = rows[:limit]
    codes = dict(
        session.execute(
            select(Platform.id, Platform.code).where(
                Platform.id.in_({c.platform_id for c in page if c.platform_id})
            )
        ).all()
    )
    return OdrPage(
        items=[_public(c, codes.get(c.platform_id or 0), now) for c in page],
        next_cursor=cursor_after(rows, limit, lambda c: c.seq),
    )


# --- steps --------------------------------------------------------------------------------


def act(
    ledger: Ledger,
    principal: Principal,
    odr_id: str,
    action: Action,
    now: datetime | None = None,
) -> OdrDetail:
    """A mediator's or a platform's step on mediation ``odr_id`` (404 outside its reach)."""
    now = _ms(now or datetime.now(UTC))
    with ledger.transaction() as session:
        case = load(session, principal, odr_id, lock=True)
        apply_action(session, ledger.sign_receipt, case, action, now)
        answer = detail(session, case, now)
    ledger.queued(1)
    return answer


def consumer_act(
    ledger: Ledger, odr_id: str, token: str, action: Action, now: datetime | None = None
) -> ConsumerView:
    """The consumer's step, authorised by the complaint's access token."""
    now = _ms(now or datetime.now(UTC))
    with ledger.transaction() as session:
        case = load_for_consumer(session, odr_id, token, lock=True)
        apply_action(session, ledger.sign_receipt, case, action, now)
        answer = consumer_view(session, case)
    ledger.queued(1)
    return answer
