"""Cases (案件): number, title, entity, responsible officer, workflow status, evidence.

Every change is a :class:`~evidence_api.registry.models.CaseEvent` written in the
same transaction as the change itself, so the history cannot miss or invent one.
A status change is a conditional UPDATE (``WHERE status = <the status read>``):
of two officers moving the same case at once, one wins and the other gets the
409 a stale request deserves. A closed case (结案) is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal, holders
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.jurisdiction import (
    label,
    owner_unit,
    reachable,
    scope,
    unit_in_reach,
    units_under,
)
from evidence_api.core.ledger import SignReceipt
from evidence_api.core.models import ApiToken
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.intake.models import Evidence
from evidence_api.leniency import service as leniency
from evidence_api.leniency.labels import OUTCOMES
from evidence_api.leniency.schemas import ConditionCheck, LeniencyCheck, Reasoning
from evidence_api.registry import case_workflow as workflow
from evidence_api.registry.entities import entity_by_id
from evidence_api.registry.models import CaseEvent, CaseEvidence, CaseFile
from evidence_api.registry.schemas import (
    CaseCreate,
    CaseEventPage,
    CaseEventPublic,
    CasePage,
    CasePublic,
    CaseTransition,
    CaseUpdate,
    EvidenceLink,
    LinkedEvidence,
    LinkResult,
    Status,
)

MAX_PAGE = 200
_BY_LABEL = {label: code for code, label in workflow.STATUSES.items()}


def status_code(name: str, *, field: str) -> str:
    """A status given by code (``filed``) or label (``立案``); 422 naming ``field`` otherwise."""
    code = _BY_LABEL.get(name, name)
    try:
        return workflow.check_status(code)
    except workflow.UnknownStatusError as exc:
        raise InvalidInputError(f"{field}: {exc}", field=field) from exc


def evidence_linked_to(case: str) -> Select[str]:
    """The ids of the evidence linked to the case numbered ``case`` (or, all digits, with
    that id): what ``GET /v1/evidence?case=`` means besides the submission's own
    ``case_ref``."""
    match: ColumnElement[bool] = CaseFile.number == case
    if case.isdigit() and len(case) <= 18:
        match = or_(match, CaseFile.id == int(case))
    return (
        select(CaseEvidence.evidence_id)
        .join(CaseFile, CaseFile.id == CaseEvidence.case_id)
        .where(match)
    )


def _status(code: str | None) -> Status | None:
    return None if code is None else Status(code=code, label=workflow.STATUSES[code])


def _links(session: Session, case_ids: list[int]) -> dict[int, list[LinkedEvidence]]:
    """The evidence linked to each case, in link order (one query for a whole page)."""
    found: dict[int, list[LinkedEvidence]] = {case_id: [] for case_id in case_ids}
    rows = session.execute(
        select(CaseEvidence).where(CaseEvidence.case_id.in_(case_ids)).order_by(CaseEvidence.id)
    ).scalars()
    links = list(rows)
    names = holders(session, {link.linked_by for link in links})
    for link in links:
        found[link.case_id].append(
            LinkedEvidence(
                evidence_id=link.evidence_id,
                linked_at=link.linked_at,
                linked_by=link.linked_by,
                linked_by_name=names.get(link.linked_by),
            )
        )
    return found


def _reasoning(row: CaseFile) -> Reasoning | None:
    if row.outcome_reasoning is None:
        return None
    return Reasoning.model_validate_json(row.outcome_reasoning)


def _public(row: CaseFile, evidence: list[LinkedEvidence]) -> CasePublic:
    return CasePublic(
        id=row.id,
        number=row.number,
        title=row.title,
        entity_id=row.entity_id,
        officer=row.officer,
        status=Status(code=row.status, label=workflow.STATUSES[row.status]),
        allowed_next=[
            Status(code=s, label=workflow.STATUSES[s]) for s in workflow.allowed_next(row.status)
        ],
        evidence=evidence,
        outcome=None
        if row.outcome is None
        else Status(code=row.outcome, label=OUTCOMES[row.outcome]),
        leniency_item=row.leniency_item,
        outcome_reasoning=_reasoning(row),
        closed_at=row.closed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _one(session: Session, row: CaseFile) -> CasePublic:
    item = _public(row, _links(session, [row.id])[row.id])
    label(session, [(item, row.unit_id)])
    return item


def _case(session: Session, case_id: int, principal: Principal | None = None) -> CaseFile:
    """Case ``case_id``: 404 when there is none or it is outside ``principal``'s reach."""
    # an id beyond 64 bits names no row (and SQLite cannot even bind it)
    row = session.get(CaseFile, case_id) if 0 < case_id < 2**63 else None
    if row is not None and not reachable(session, principal, row.unit_id):
        row = None
    if row is None:
        raise NotFoundError(f"no case {case_id}")
    return row


def _open_case(session: Session, case_id: int, principal: Principal | None = None) -> CaseFile:
    row = _case(session, case_id, principal)
    if row.status == workflow.FINAL:
        raise ConflictError(
            f"case {row.number!r} is {workflow.describe(row.status)}; it can no longer be changed"
        )
    return row


def _event(
    session: Session,
    row: CaseFile,
    principal: Principal,
    kind: str,
    at: datetime,
    **fields: str | None,
) -> None:
    session.add(CaseEvent(case_id=row.id, kind=kind, actor=principal.pseudonym, at=at, **fields))


def _caller_name(session: Session, principal: Principal) -> str:
    """The responsible officer when none is named: the caller as people know them (a
    console user's display name, e.g. 张三; a token's display name, else its name)."""
    token = session.get(ApiToken, principal.token_id)
    return (token.display_name if token is not None else None) or principal.name


def create_case(session: Session, principal: Principal, body: CaseCreate) -> CasePublic:
    """A new case in 线索 (clue): every case starts as a lead and is filed by transition."""
    now = datetime.now(UTC)
    try:
        if body.entity_id is not None:
            entity_by_id(session, body.entity_id, field="entity_id", principal=principal)
        unit_id = owner_unit(session, principal, body.unit)
        row = CaseFile(
            number=body.number,
            title=body.title,
            entity_id=body.entity_id,
            officer=body.officer or _caller_name(session, principal),
            status=workflow.INITIAL,
            unit_id=unit_id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()  # a duplicate number: the caller's transaction is rolled back
        _event(session, row, principal, "created", now, to_status=row.status)
        session.flush()
        return _one(session, row)
    except IntegrityError as exc:
        raise ConflictError(f"case number {body.number!r} already exists", field="number") from exc


def get_case(session: Session, case_id: int, principal: Principal | None = None) -> CasePublic:
    return _one(session, _case(session, case_id, principal))


def update_case(
    session: Session, principal: Principal, case_id: int, body: CaseUpdate
) -> CasePublic:
    """Change title, entity or officer (checked as on creation); one ``updated`` event."""
    given = body.model_fields_set
    for name in ("title", "officer", "unit"):
        if name in given and getattr(body, name) is None:
            raise InvalidInputError(f"{name}: may not be null", field=name)
    now = datetime.now(UTC)
    row = _open_case(session, case_id, principal)
    changed = []
    if body.unit is not None:
        unit_id = unit_in_reach(session, principal, body.unit)
        if unit_id != row.unit_id:
            row.unit_id = unit_id
            changed.append(f"unit={body.unit}")
    if "entity_id" in given and body.entity_id != row.entity_id:
        if body.entity_id is not None:
            entity_by_id(session, body.entity_id, field="entity_id", principal=principal)
        row.entity_id = body.entity_id
        changed.append("entity_id")
    for name in ("title", "officer"):
        value = getattr(body, name)
        if name in given and value != getattr(row, name):
            setattr(row, name, value)
            changed.append(name)
    if changed:
        row.updated_at = now
        _event(session, row, principal, "updated", now, note="changed: " + ", ".join(changed))
    session.flush()
    return _one(session, row)


_CLOSING_FIELDS = ("outcome", "leniency_item", "corrected_in_time", "minor_harm", "evidence_ids")


def _closing_facts(body: CaseTransition) -> leniency.ClosingFacts:
    return leniency.ClosingFacts(
        corrected_in_time=body.corrected_in_time,
        minor_harm=body.minor_harm,
        evidence_ids=tuple(dict.fromkeys(body.evidence_ids)),
    )


def _decide(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    row: CaseFile,
    current: str,
    target: str,
    body: CaseTransition,
    at: datetime,
) -> leniency.Decision | None:
    """What closing records (docs/leniency.md §3); None for a move that is not a closing.
    Fields that only a closing takes are 422 elsewhere."""
    given = [name for name in _CLOSING_FIELDS if name in body.model_fields_set]
    if target != workflow.FINAL:
        if given:
            raise InvalidInputError(
                f"{given[0]}: only closing (结案) records an outcome", field=given[0]
            )
        return None
    if current == workflow.INITIAL:  # 不予立案: a clue that never became a case
        extra = [n for n in given if n != "outcome"]
        if body.outcome not in (None, "not_filed") or extra:
            field = "outcome" if body.outcome not in (None, "not_filed") else extra[0]
            raise InvalidInputError(
                f"{field}: a clue closed directly is 不予立案 (not_filed); "
                "an outcome with a leniency item needs the case handled first",
                field=field,
            )
        return leniency.Decision("not_filed", None, (), None)
    if body.outcome is None:
        raise InvalidInputError(
            "outcome: required to close a handled case: penalty (行政处罚), reduced (减轻处罚) "
            "or no_penalty (不予处罚)",
            field="outcome",
        )
    return leniency.decide_outcome(
        session,
        sign_receipt,
        principal,
        row,
        body.outcome,
        body.leniency_item,
        _closing_facts(body),
        at,
    )


def _outcome_note(decision: leniency.Decision) -> str:
    """``不予处罚：qz-ec-01 网店未亮照亮证首次被发现及时改正`` (the history's outcome line)."""
    label = OUTCOMES[decision.outcome]
    if decision.item is None:
        return label
    return f"{label}：{decision.item.code} {decision.item.title}"


def transition_case(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal,
    case_id: int,
    body: CaseTransition,
) -> CasePublic:
    """Move the case one step; 409 naming the allowed next statuses otherwise.

    Closing records the outcome (docs/leniency.md §3): ``not_filed`` for a clue, the
    body's ``outcome`` after handling, checked against the 免罚清单 item it cites; the
    ``case_outcome`` log entry and, for a case with an entity, the credit record are
    written in this transaction."""
    target = status_code(body.to, field="to")
    now = datetime.now(UTC)
    row = _case(session, case_id, principal)
    current = row.status
    try:
        workflow.transition(current, target)
    except workflow.TransitionError as exc:
        raise ConflictError(str(exc), field="to") from exc
    decision = _decide(session, sign_receipt, principal, row, current, target, body, now)
    values: dict[str, object] = {"status": target, "updated_at": now}
    if decision is not None:
        values |= {
            "outcome": decision.outcome,
            "leniency_item": None if decision.item is None else decision.item.code,
            "outcome_reasoning": decision.reasoning,
            "closed_at": now,
        }
    moved = session.execute(
        update(CaseFile)
        .where(CaseFile.id == case_id, CaseFile.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"case {row.number!r} changed status meanwhile; read it again and retry",
            field="to",
        )
    _event(
        session,
        row,
        principal,
        "transition",
        now,
        from_status=current,
        to_status=target,
        note=body.note,
    )
    if decision is not None:
        if current != workflow.INITIAL:
            _event(
                session,
                row,
                principal,
                "outcome",
                now,
                to_status=target,
                note=_outcome_note(decision),
            )
        session.flush()
        session.refresh(row)
        leniency.record_outcome(session, sign_receipt, principal, row, decision, now)
    session.flush()
    session.refresh(row)
    return _one(session, row)


def leniency_check(
    session: Session,
    principal: Principal,
    case_id: int,
    code: str,
    facts: leniency.ClosingFacts,
) -> LeniencyCheck:
    """Item ``code``'s conditions against case ``case_id`` now, as closing it would check
    them; changes nothing. 404 for an unknown item or a case out of reach."""
    row = _case(session, case_id, principal)
    item = leniency.find_item(session, code)
    checks = leniency.check_item(session, principal, row, item, facts, datetime.now(UTC))
    return LeniencyCheck(
        case_id=row.id,
        leniency_item=item.code,
        outcome=item.outcome,
        outcome_label=OUTCOMES[item.outcome],
        item_active=item.active,
        allowed=item.active and all(c.passed for c in checks),
        conditions=[ConditionCheck(**c.as_json()) for c in checks],
    )


def link_evidence(
    session: Session, principal: Principal, case_id: int, body: EvidenceLink
) -> LinkResult:
    """Link evidence ids to the case; 404 naming every id that does not exist.

    Linking what is already linked changes nothing (a retry is safe).
    """
    wanted = list(dict.fromkeys(body.evidence_ids))  # in order, once each
    now = datetime.now(UTC)
    try:
        row = _open_case(session, case_id, principal)
        known = set(session.execute(select(Evidence.id).where(Evidence.id.in_(wanted))).scalars())
        missing = [e for e in wanted if e not in known]
        if missing:
            raise NotFoundError(f"no evidence {', '.join(missing)}", field="evidence_ids")
        present = set(
            session.execute(
                select(CaseEvidence.evidence_id).where(
                    CaseEvidence.case_id == row.id, CaseEvidence.evidence_id.in_(wanted)
                )
            ).scalars()
        )
        new = [e for e in wanted if e not in present]
        for evidence_id in new:
            session.add(
                CaseEvidence(
                    case_id=row.id,
                    evidence_id=evidence_id,
                    linked_by=principal.pseudonym,
                    linked_at=now,
                )
            )
            _event(session, row, principal, "evidence_linked", now, evidence_id=evidence_id)
        if new:
            row.updated_at = now
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            "the same evidence was linked concurrently; retry", field="evidence_ids"
        ) from exc
    return LinkResult(linked=new, already_linked=[e for e in wanted if e in present])


def case_events(
    session: Session,
    case_id: int,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> CaseEventPage:
    """The case's history, oldest first; ``cursor`` continues after the previous page."""
    query = keyset(
        select(CaseEvent).where(CaseEvent.case_id == case_id),
        CaseEvent.id,
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )
    _case(session, case_id, principal)
    rows = list(session.execute(query).scalars())
    # Names at display time: the stored history keeps the pseudonym only.
    names = holders(session, {e.actor for e in rows[:limit]})
    items = [
        CaseEventPublic(
            id=e.id,
            kind=e.kind,
            from_status=_status(e.from_status),
            to_status=_status(e.to_status),
            step=workflow.TRANSITIONS.get((e.from_status, e.to_status))
            if e.kind == "transition" and e.from_status and e.to_status
            else None,
            evidence_id=e.evidence_id,
            note=e.note,
            actor=e.actor,
            actor_name=names.get(e.actor),
            at=e.at,
        )
        for e in rows[:limit]
    ]
    next_cursor = cursor_after(rows, limit, lambda r: r.id)
    return CaseEventPage(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    officer: str | None = None
    entity_id: int | None = None
    number: str | None = None
    #: A unit's code: its cases and those of the units below it.
    unit: str | None = None


def list_cases(
    session: Session,
    flt: CaseFilter,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> CasePage:
    """Newest first; ``cursor`` continues after the last item of the previous page. With
    ``principal``, only the cases in its jurisdiction."""
    query = keyset(select(CaseFile), CaseFile.id, limit=limit, cursor=cursor)
    if principal is not None:
        query = query.where(scope(principal, CaseFile.unit_id))
    if flt.unit is not None:
        query = query.where(CaseFile.unit_id.in_(units_under(flt.unit)))
    if flt.status is not None:
        query = query.where(CaseFile.status == status_code(flt.status, field="status"))
    if flt.officer is not None:
        query = query.where(CaseFile.officer == flt.officer)
    if flt.entity_id is not None:
        query = query.where(CaseFile.entity_id == flt.entity_id)
    if flt.number is not None:
        query = query.where(CaseFile.number == flt.number)
    rows = list(session.execute(query).scalars())
    links = _links(session, [r.id for r in rows[:limit]])
    items = [_public(r, links[r.id]) for r in rows[:limit]]
    label(session, [(item, r.unit_id) for item, r in zip(items, rows, strict=False)])
    next_cursor = cursor_after(rows, limit, lambda r: r.id)
    return CasePage(items=items, next_cursor=next_cursor)
