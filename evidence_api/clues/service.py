"""Clues (线索) and their transfers between units (线索转办), docs/clues.md §2.

Who sees a clue (one clause, :func:`visible`): whoever's jurisdiction covers its
holding unit, and, while a transfer to a unit is pending, whoever's covers that
unit (the receiver must read what it is asked to accept). The sending unit holds
the clue until the receiver accepts it, so it sees the clue while the transfer is
pending or returned; on acceptance the clue moves to the receiver.

Every change locks the clue's row, asks :mod:`evidence_api.clues.workflow` whether
the step is allowed (409 with the reason otherwise) and writes the step's log entry
in the same transaction (:mod:`evidence_api.clues.steps`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.clues import workflow as wf
from evidence_api.clues.models import Clue, ClueEvidence, ClueTransfer
from evidence_api.clues.schemas import (
    AnswerBody,
    ClueCreate,
    ClueDetail,
    CluePage,
    CluePublic,
    TransferCreate,
    TransferPublic,
)
from evidence_api.clues.steps import CLUE_KIND, StepLedger, Subject, record_step, steps_of
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import in_jurisdiction, labels, scope
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.intake.service import require_evidence
from evidence_api.monitoring.models import Alert
from evidence_api.monitoring.observation import sha256_text
from evidence_api.registry.models import CaseFile, TradingEntity
from evidence_api.units.service import unit_by_code

MAX_PAGE = 200
#: How far ahead a deadline may lie.
MAX_DEADLINE_AHEAD = timedelta(days=366)
PENDING = "pending"
ACCEPTED = "accepted"
RETURNED = "returned"


# --- reach ------------------------------------------------------------------------------


def visible(principal: Principal) -> ColumnElement[bool]:
    """The clues ``principal`` may see: held in its reach, or pending towards it."""
    incoming = select(ClueTransfer.clue_seq).where(
        ClueTransfer.status == PENDING, scope(principal, ClueTransfer.to_unit_id)
    )
    return or_(scope(principal, Clue.unit_id), Clue.seq.in_(incoming))


def load(session: Session, principal: Principal, clue_id: str, *, lock: bool = False) -> Clue:
    """Clue ``clue_id`` if ``principal`` may see it (404 otherwise, as if it did not exist)."""
    query = select(Clue).where(Clue.id == clue_id, visible(principal))
    if lock:
        query = query.with_for_update(of=Clue)
    clue = session.execute(query).scalar_one_or_none()
    if clue is None:
        raise NotFoundError(f"no clue {clue_id!r}")
    return clue


def check_deadline(deadline: datetime, now: datetime) -> datetime:
    """``deadline`` in UTC, cut to milliseconds (what its entry states); 422 unless it is
    in the future and at most :data:`MAX_DEADLINE_AHEAD` ahead."""
    value = deadline.astimezone(UTC)
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if value <= now:
        raise InvalidInputError("deadline: must be in the future", field="deadline")
    if value > now + MAX_DEADLINE_AHEAD:
        raise InvalidInputError("deadline: at most 366 days ahead", field="deadline")
    return value


def _references(session: Session, principal: Principal, req: ClueCreate) -> None:
    # Any entity: a clue about a seller outside one's reach is what transfers are for.
    if session.get(TradingEntity, req.entity_id) is None:
        raise InvalidInputError(f"entity_id: no entity {req.entity_id}", field="entity_id")
    require_evidence(session, req.evidence_ids)
    if req.case_id is not None:
        case = session.get(CaseFile, req.case_id)
        if case is None or not in_jurisdiction(session, principal, case.unit_id):
            raise InvalidInputError(f"case_id: no case {req.case_id}", field="case_id")
    if req.alert_id is not None:
        alert = session.execute(select(Alert).where(Alert.id == req.alert_id)).scalar_one_or_none()
        if alert is None or not in_jurisdiction(session, principal, alert.unit_id):
            raise InvalidInputError(f"alert_id: no alert {req.alert_id!r}", field="alert_id")


# --- views ------------------------------------------------------------------------------


def code_of(units: dict[int, tuple[str, str]], unit_id: int | None) -> str | None:
    """The code of unit ``unit_id`` among ``units`` (None: the top)."""
    return units[unit_id][0] if unit_id is not None and unit_id in units else None


def _overdue_clues(session: Session, seqs: list[int]) -> set[int]:
    return set(
        session.execute(
            select(ClueTransfer.clue_seq).where(
                ClueTransfer.clue_seq.in_(seqs),
                ClueTransfer.status == PENDING,
                ClueTransfer.overdue.is_(True),
            )
        ).scalars()
    )


def _public(clue: Clue, units: dict[int, tuple[str, str]], overdue: bool) -> CluePublic:
    status = wf.ClueStatus(clue.status)
    return CluePublic(
        clue_id=clue.id,
        title=clue.title,
        summary=clue.summary,
        entity_id=clue.entity_id,
        evidence_ids=[e.evidence_id for e in clue.evidence],
        case_id=clue.case_id,
        alert_id=clue.alert_id,
        unit=code_of(units, clue.unit_id),
        status=status.value,
        status_label=wf.CLUE_LABELS[status],
        overdue=overdue,
        created_by=clue.created_by,
        created_at=clue.created_at,
        updated_at=clue.updated_at,
    )


def _transfer(row: ClueTransfer, units: dict[int, tuple[str, str]]) -> TransferPublic:
    return TransferPublic(
        transfer_id=row.id,
        from_unit=code_of(units, row.from_unit_id),
        to_unit=code_of(units, row.to_unit_id),
        reason=row.reason,
        deadline=row.deadline,
        status=row.status,
        overdue=row.overdue,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        answer=row.answer,
    )


def subject(clue: Clue) -> Subject:
    return Subject(CLUE_KIND, clue.id, clue_seq=clue.seq)


def detail(session: Session, clue: Clue) -> ClueDetail:
    """The clue, its transfers (oldest first) and every step with its log entry."""
    transfers = list(
        session.execute(
            select(ClueTransfer).where(ClueTransfer.clue_seq == clue.seq).order_by(ClueTransfer.seq)
        ).scalars()
    )
    units = labels(
        session,
        [clue.unit_id, *(t.from_unit_id for t in transfers), *(t.to_unit_id for t in transfers)],
    )
    overdue = any(t.status == PENDING and t.overdue for t in transfers)
    return ClueDetail(
        **_public(clue, units, overdue).model_dump(),
        transfers=[_transfer(t, units) for t in transfers],
        steps=steps_of(session, subject(clue)),
        proofs_url=f"/v1/clues/{clue.id}/proofs",
    )


def list_clues(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    entity_id: int | None,
    unit: str | None,
    limit: int,
    cursor: str | None,
) -> CluePage:
    """Newest first, the clues ``principal`` may see, filtered (422 on an unknown filter)."""
    query = select(Clue).where(visible(principal))
    if status is not None:
        if status not in set(wf.ClueStatus):
            allowed = ", ".join(s.value for s in wf.ClueStatus)
            raise InvalidInputError(f"status: one of {allowed}", field="status")
        query = query.where(Clue.status == status)
    if entity_id is not None:
        query = query.where(Clue.entity_id == entity_id)
    if unit is not None:
        query = query.where(Clue.unit_id == unit_by_code(session, unit, field="unit").id)
    rows = list(
        session.execute(keyset(query, Clue.seq, limit=limit, cursor=cursor)).scalars().all()
    )
    page = rows[:limit]
    units = labels(session, [c.unit_id for c in page])
    overdue = _overdue_clues(session, [c.seq for c in page])
    return CluePage(
        items=[_public(c, units, c.seq in overdue) for c in page],
        next_cursor=cursor_after(rows, limit, lambda c: c.seq),
    )


# --- changes ----------------------------------------------------------------------------


def create_clue(ledger: StepLedger, principal: Principal, req: ClueCreate) -> ClueDetail:
    """A clue held by the creator's unit (status ``held``) and its ``created`` entry."""
    unit_id = principal.unit_id  # None: the top (a creator without a unit)
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        _references(session, principal, req)
        clue = Clue(
            id=new_id("clu"),
            title=req.title,
            summary=req.summary,
            entity_id=req.entity_id,
            case_id=req.case_id,
            alert_id=req.alert_id,
            unit_id=unit_id,
            status=wf.ClueStatus.HELD.value,
            created_by=principal.pseudonym,
            created_at=now,
            updated_at=now,
        )
        clue.evidence = [
            ClueEvidence(position=i, evidence_id=e) for i, e in enumerate(req.evidence_ids)
        ]
        session.add(clue)
        session.flush()
        unit = code_of(labels(session, [unit_id]), unit_id)
        record_step(
            ledger,
            session,
            subject(clue),
            "created",
            actor=principal.pseudonym,
            at=now,
            body={
                "unit": unit,
                "status": clue.status,
                "entity_id": clue.entity_id,
                "evidence_ids": list(req.evidence_ids),
                "title_sha256": sha256_text(req.title),
                "summary_sha256": sha256_text(req.summary),
                "case_id": req.case_id,
                "alert_id": req.alert_id,
            },
        )
        answer = detail(session, clue)
    ledger.queued(1)
    return answer


def _step_allowed(status: str, action: wf.ClueAction) -> wf.ClueStatus:
    try:
        return wf.clue_next(wf.ClueStatus(status), action)
    except wf.IllegalStepError as exc:
        raise ConflictError(str(exc)) from exc


def send(ledger: StepLedger, principal: Principal, clue_id: str, req: TransferCreate) -> ClueDetail:
    """Send the clue to unit ``req.to_unit`` (a new pending transfer; ``transfer_sent``)."""
    now = datetime.now(UTC)
    deadline = check_deadline(req.deadline, now)
    with ledger.transaction() as session:
        clue = load(session, principal, clue_id, lock=True)
        if not in_jurisdiction(session, principal, clue.unit_id):
            raise ForbiddenError("only the unit holding the clue (or one above it) may send it")
        to_status = _step_allowed(clue.status, wf.ClueAction.SEND)
        target = unit_by_code(session, req.to_unit, field="to_unit")
        if target.id == clue.unit_id:
            raise InvalidInputError(
                f"to_unit: the clue is already held by {req.to_unit!r}", field="to_unit"
            )
        transfer = ClueTransfer(
            id=new_id("ctr"),
            clue_seq=clue.seq,
            from_unit_id=clue.unit_id,
            to_unit_id=target.id,
            reason=req.reason,
            deadline=deadline,
            status=PENDING,
            overdue=False,
            sent_by=principal.pseudonym,
            sent_at=now,
        )
        session.add(transfer)
        clue.status = to_status.value
        clue.updated_at = now
        session.flush()
        units = labels(session, [clue.unit_id, target.id])
        record_step(
            ledger,
            session,
            subject(clue),
            "transfer_sent",
            actor=principal.pseudonym,
            at=now,
            body={
                "unit": code_of(units, clue.unit_id),
                "status": clue.status,
                "transfer_id": transfer.id,
                "from_unit": code_of(units, clue.unit_id),
                "to_unit": target.code,
                "deadline": utc_timestamp(deadline),
                "reason_sha256": sha256_text(req.reason),
            },
            transfer=transfer,
        )
        answer = detail(session, clue)
    ledger.queued(1)
    return answer


def answer(
    ledger: StepLedger,
    principal: Principal,
    clue_id: str,
    transfer_id: str,
    action: wf.ClueAction,
    body: AnswerBody,
) -> ClueDetail:
    """The receiving unit accepts (the clue moves to it) or returns (reason required)."""
    if action is wf.ClueAction.RETURN and not body.reason:
        raise InvalidInputError("reason: required to return a clue", field="reason")
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        clue = load(session, principal, clue_id, lock=True)
        transfer = session.execute(
            select(ClueTransfer).where(
                ClueTransfer.id == transfer_id, ClueTransfer.clue_seq == clue.seq
            )
        ).scalar_one_or_none()
        if transfer is None:
            raise NotFoundError(f"no transfer {transfer_id!r} of clue {clue_id!r}")
        if not in_jurisdiction(session, principal, transfer.to_unit_id):
            raise ForbiddenError("only the receiving unit may accept or return a transfer")
        if transfer.status != PENDING:
            raise ConflictError(
                f"transfer {transfer_id!r} is already {transfer.status}; "
                "a returned clue is sent again as a new transfer"
            )
        to_status = _step_allowed(clue.status, action)
        transfer.status = ACCEPTED if action is wf.ClueAction.ACCEPT else RETURNED
        transfer.answered_by = principal.pseudonym
        transfer.answered_at = now
        transfer.answer = body.reason
        if action is wf.ClueAction.ACCEPT:
            clue.unit_id = transfer.to_unit_id
        clue.status = to_status.value
        clue.updated_at = now
        session.flush()
        units = labels(session, [transfer.from_unit_id, transfer.to_unit_id])
        note = None if body.reason is None else sha256_text(body.reason)
        record_step(
            ledger,
            session,
            subject(clue),
            f"transfer_{transfer.status}",
            actor=principal.pseudonym,
            at=now,
            body={
                "unit": code_of(units, clue.unit_id),
                "status": clue.status,
                "transfer_id": transfer.id,
                "from_unit": code_of(units, transfer.from_unit_id),
                "to_unit": code_of(units, transfer.to_unit_id),
                "deadline": utc_timestamp(transfer.deadline),
                "reason_sha256": note,
            },
            transfer=transfer,
        )
        result = detail(session, clue)
    ledger.queued(1)
    return result
