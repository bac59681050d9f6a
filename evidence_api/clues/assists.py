"""Assistance requests (协查), docs/clues.md §3: an officer asks another unit, or a
platform (政企协作: seller identity, order data …), for information by a deadline; the
one asked replies with text and files, each file fixed as evidence through the intake
service (:func:`evidence_api.intake.submit.record_evidence`: its own ``evidence``
entry and bundle, submitted by the replier), then the reply is a step of its own.

Officers see the requests their reach covers at either end (sender or receiver); a
platform sees only those sent to it (others are 404, as if they did not exist).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.clues import workflow as wf
from evidence_api.clues.models import Assist, AssistReply, Clue
from evidence_api.clues.schemas import (
    AssistCreate,
    AssistDetail,
    AssistPage,
    AssistPublic,
    ReplyPublic,
)
from evidence_api.clues.service import check_deadline, code_of
from evidence_api.clues.service import visible as clue_visible
from evidence_api.clues.steps import ASSIST_KIND, StepLedger, Subject, record_step, steps_of
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import in_jurisdiction, labels, scope
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.intake.submit import RECORDED_BY, Intake, Recorder, record_evidence
from evidence_api.intake.upload import ReceivedFile
from evidence_api.monitoring.observation import sha256_text
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.units.service import unit_by_code

MAX_PAGE = 200
#: ``capture.tool`` of the evidence a reply's files become.
REPLY_TOOL = "evidence-api assist reply"


def visible(session: Session, principal: Principal) -> ColumnElement[bool]:
    """The requests ``principal`` may see: its platform's, or (officers) those whose
    sending or receiving unit its reach covers."""
    if principal.role == "platform":
        platform = session.execute(
            select(Platform.id).where(Platform.code == principal.platform)
        ).scalar_one_or_none()
        return false() if platform is None else Assist.to_platform_id == platform
    return or_(scope(principal, Assist.from_unit_id), scope(principal, Assist.to_unit_id))


def load(session: Session, principal: Principal, assist_id: str, *, lock: bool = False) -> Assist:
    """Request ``assist_id`` if ``principal`` may see it (404 otherwise)."""
    query = select(Assist).where(Assist.id == assist_id, visible(session, principal))
    if lock:
        query = query.with_for_update(of=Assist)
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no assistance request {assist_id!r}")
    return row


# --- views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    units: dict[int, tuple[str, str]]
    platforms: dict[int, str]
    clues: dict[int, str]


def _names(session: Session, rows: list[Assist]) -> _Names:
    units = labels(session, [u for r in rows for u in (r.from_unit_id, r.to_unit_id)])
    platform_ids = {r.to_platform_id for r in rows if r.to_platform_id is not None}
    clue_seqs = {r.clue_seq for r in rows if r.clue_seq is not None}
    found = select(Platform.id, Platform.code).where(Platform.id.in_(platform_ids))
    platforms = {int(i): str(c) for i, c in session.execute(found).all()}
    seqs = select(Clue.seq, Clue.id).where(Clue.seq.in_(clue_seqs))
    clues = {int(s): str(c) for s, c in session.execute(seqs).all()}
    return _Names(units, platforms, clues)


def _public(row: Assist, names: _Names) -> AssistPublic:
    status = wf.AssistStatus(row.status)
    return AssistPublic(
        assist_id=row.id,
        from_unit=code_of(names.units, row.from_unit_id),
        to_unit=code_of(names.units, row.to_unit_id),
        to_platform=names.platforms.get(row.to_platform_id) if row.to_platform_id else None,
        entity_id=row.entity_id,
        clue_id=names.clues.get(row.clue_seq) if row.clue_seq is not None else None,
        topics=json.loads(row.topics),
        questions=row.questions,
        deadline=row.deadline,
        status=status.value,
        status_label=wf.ASSIST_LABELS[status],
        overdue=row.overdue,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
        updated_at=row.updated_at,
    )


def view_of(session: Session, row: Assist) -> AssistPublic:
    """One request as lists show it."""
    return _public(row, _names(session, [row]))


def subject(row: Assist) -> Subject:
    return Subject(ASSIST_KIND, row.id, assist_seq=row.seq)


def detail(session: Session, row: Assist) -> AssistDetail:
    """The request, its replies (oldest first) and every step with its log entry."""
    replies = session.execute(
        select(AssistReply).where(AssistReply.assist_seq == row.seq).order_by(AssistReply.id)
    ).scalars()
    return AssistDetail(
        **view_of(session, row).model_dump(),
        replies=[
            ReplyPublic(
                text=r.text,
                evidence_ids=json.loads(r.evidence_ids),
                replied_by=r.replied_by,
                replied_at=r.replied_at,
            )
            for r in replies
        ],
        steps=steps_of(session, subject(row)),
        proofs_url=f"/v1/assists/{row.id}/proofs",
    )


def list_assists(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    overdue: bool | None,
    limit: int,
    cursor: str | None,
) -> AssistPage:
    """Newest first, the requests ``principal`` may see, filtered."""
    query = select(Assist).where(visible(session, principal))
    if status is not None:
        if status not in set(wf.AssistStatus):
            allowed = ", ".join(s.value for s in wf.AssistStatus)
            raise InvalidInputError(f"status: one of {allowed}", field="status")
        query = query.where(Assist.status == status)
    if overdue is not None:
        query = query.where(Assist.overdue.is_(overdue))
    rows = list(
        session.execute(keyset(query, Assist.seq, limit=limit, cursor=cursor)).scalars().all()
    )
    page = rows[:limit]
    names = _names(session, page)
    return AssistPage(
        items=[_public(r, names) for r in page],
        next_cursor=cursor_after(rows, limit, lambda r: r.seq),
    )


# --- changes ----------------------------------------------------------------------------


def _target(
    session: Session, req: AssistCreate, own_unit: int | None
) -> tuple[int | None, int | None]:
    """(to_unit_id, to_platform_id): exactly one named (422 otherwise)."""
    if (req.to_unit is None) == (req.to_platform is None):
        raise InvalidInputError("name exactly one of to_unit and to_platform", field="to_unit")
    if req.to_unit is not None:
        unit = unit_by_code(session, req.to_unit, field="to_unit")
        if unit.id == own_unit:
            raise InvalidInputError("to_unit: a unit does not ask itself", field="to_unit")
        return unit.id, None
    platform = session.execute(
        select(Platform.id).where(Platform.code == req.to_platform)
    ).scalar_one_or_none()
    if platform is None:
        raise InvalidInputError(
            f"to_platform: no platform {req.to_platform!r}", field="to_platform"
        )
    return None, int(platform)


def create_assist(ledger: StepLedger, principal: Principal, req: AssistCreate) -> AssistDetail:
    """A request (status ``open``) from the sender's unit and its ``sent`` entry."""
    unit_id = principal.unit_id  # None: the top (a sender without a unit)
    now = datetime.now(UTC)
    deadline = check_deadline(req.deadline, now)
    with ledger.transaction() as session:
        to_unit_id, to_platform_id = _target(session, req, unit_id)
        if session.get(TradingEntity, req.entity_id) is None:
            raise InvalidInputError(f"entity_id: no entity {req.entity_id}", field="entity_id")
        clue_seq = None
        if req.clue_id is not None:
            clue_seq = session.execute(
                select(Clue.seq).where(Clue.id == req.clue_id, clue_visible(principal))
            ).scalar_one_or_none()
            if clue_seq is None:
                raise InvalidInputError(f"clue_id: no clue {req.clue_id!r}", field="clue_id")
        row = Assist(
            id=new_id("ast"),
            clue_seq=clue_seq,
            entity_id=req.entity_id,
            from_unit_id=unit_id,
            to_unit_id=to_unit_id,
            to_platform_id=to_platform_id,
            topics=json.dumps(req.topics),
            questions=req.questions,
            deadline=deadline,
            status=wf.AssistStatus.OPEN.value,
            overdue=False,
            sent_by=principal.pseudonym,
            sent_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        view = view_of(session, row)
        record_step(
            ledger,
            session,
            subject(row),
            "sent",
            actor=principal.pseudonym,
            at=now,
            body={
                **ends(view),
                "status": row.status,
                "entity_id": row.entity_id,
                "clue_id": req.clue_id,
                "topics": list(req.topics),
                "questions_sha256": sha256_text(req.questions),
                "deadline": utc_timestamp(deadline),
            },
        )
        answer = detail(session, row)
    ledger.queued(1)
    return answer


def ends(view: AssistPublic) -> dict[str, str | None]:
    """The ends of a request as its entries state them: ``from_unit`` and ``to_unit`` or
    ``to_platform`` (the other left out)."""
    return {"from_unit": view.from_unit, "to_unit": view.to_unit, "to_platform": view.to_platform}


def _may_reply(session: Session, principal: Principal, row: Assist) -> None:
    if principal.role == "platform":
        return  # load() found it among its own platform's
    if row.to_unit_id is None:
        raise ForbiddenError("the platform asked replies, through /v1/platform/assists")
    if not in_jurisdiction(session, principal, row.to_unit_id):
        raise ForbiddenError("only the unit asked may reply")


def _allowed(status: str, action: wf.AssistAction) -> wf.AssistStatus:
    try:
        return wf.assist_next(wf.AssistStatus(status), action)
    except wf.IllegalStepError as exc:
        raise ConflictError(str(exc)) from exc


def check_reply(ledger: StepLedger, principal: Principal, assist_id: str) -> None:
    """Refuse a reply before its files are stored: 404 unseen, 403 not the one asked, 409
    closed."""
    with ledger.transaction() as session:
        row = load(session, principal, assist_id)
        _may_reply(session, principal, row)
        _allowed(row.status, wf.AssistAction.REPLY)


def reply(
    ledger: StepLedger,
    recorder: Recorder,
    principal: Principal,
    assist_id: str,
    text: str,
    files: list[ReceivedFile],
) -> AssistDetail:
    """Fix each file as evidence (one evidence item per file, submitted by the replier),
    then record the reply and its ``replied`` entry."""
    check_reply(ledger, principal, assist_id)
    evidence_ids = [
        record_evidence(recorder, principal, _intake(principal, assist_id, f), [f]).evidence_id
        for f in files
    ]
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        row = load(session, principal, assist_id, lock=True)
        _may_reply(session, principal, row)
        row.status = _allowed(row.status, wf.AssistAction.REPLY).value
        row.updated_at = now
        session.add(
            AssistReply(
                assist_seq=row.seq,
                text=text,
                evidence_ids=json.dumps(evidence_ids),
                replied_by=principal.pseudonym,
                replied_at=now,
            )
        )
        session.flush()
        view = view_of(session, row)
        record_step(
            ledger,
            session,
            subject(row),
            "replied",
            actor=principal.pseudonym,
            at=now,
            body={
                **ends(view),
                "status": row.status,
                "text_sha256": sha256_text(text),
                "evidence_ids": evidence_ids,
            },
        )
        answer = detail(session, row)
    ledger.queued(1)
    return answer


def _intake(principal: Principal, assist_id: str, item: ReceivedFile) -> Intake:
    """A reply file's manifest facts: written by this server, naming the request."""
    return Intake(
        source_url=None,
        platform=principal.platform,
        entity=None,
        captured_at=utc_timestamp(),
        case_ref=None,
        notes=f"协查回复 {assist_id}: {item.name}",
        capture_tool=REPLY_TOOL,
        capture_environment={"assist_id": assist_id, RECORDED_BY: "server"},
    )


def close(
    ledger: StepLedger, principal: Principal, assist_id: str, note: str | None
) -> AssistDetail:
    """The sending unit closes the request (``closed``; open or replied before)."""
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        row = load(session, principal, assist_id, lock=True)
        if not in_jurisdiction(session, principal, row.from_unit_id):
            raise ForbiddenError("only the unit that sent the request may close it")
        row.status = _allowed(row.status, wf.AssistAction.CLOSE).value
        row.updated_at = now
        session.flush()
        view = view_of(session, row)
        record_step(
            ledger,
            session,
            subject(row),
            "closed",
            actor=principal.pseudonym,
            at=now,
            body={
                **ends(view),
                "status": row.status,
                "note_sha256": None if note is None else sha256_text(note),
            },
        )
        answer = detail(session, row)
    ledger.queued(1)
    return answer
