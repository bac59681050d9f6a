"""Triage (分流) and resolution (办结) of complaints by officers and admins within their
jurisdiction (docs/complaints.md §5).

``received`` → ``clue`` (a clue made through the clue service), ``odr`` (a mediation
opened through :func:`evidence_api.odr.service.open_mediation`) or ``rejected`` (reason
required); ``clue`` | ``odr`` → ``resolved`` (substantiated or not). Any other step is 409.
A flag never decides: a flagged complaint takes the same steps, by an officer's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from evidence_api.clues import service as clue_service
from evidence_api.clues.schemas import MAX_SUMMARY, ClueCreate
from evidence_api.clues.steps import StepLedger
from evidence_api.complaints import service
from evidence_api.complaints.categories import CATEGORIES, KINDS
from evidence_api.complaints.models import Complaint
from evidence_api.complaints.schemas import ComplaintDetail, ResolveBody, TriageBody
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, ServiceUnavailableError
from evidence_api.core.jurisdiction import labels, unit_in_reach
from evidence_api.credit.records import add_record
from evidence_api.odr import service as odr_service
from evidence_api.registry.models import TradingEntity


@dataclass(frozen=True)
class Triage:
    """What triage uses: the step ledger (transactions, receipts, the sealer's nudge) and
    the days a mediation has."""

    ledger: StepLedger
    odr_days: int


def _require_status(row: Complaint, allowed: tuple[str, ...], what: str) -> None:
    if row.status not in allowed:
        raise ConflictError(
            f"complaint {row.id} is {row.status}; {what} needs status {' or '.join(allowed)}"
        )


def _entity(session: Session, row: Complaint, body: TriageBody) -> int | None:
    if body.entity_id is None:
        return row.entity_id
    if row.entity_id is not None and row.entity_id != body.entity_id:
        raise InvalidInputError(
            f"entity_id: the complaint is about entity {row.entity_id}", field="entity_id"
        )
    if session.get(TradingEntity, body.entity_id) is None:
        raise InvalidInputError(f"entity_id: no entity {body.entity_id}", field="entity_id")
    return body.entity_id


def _apply(
    session: Session, principal: Principal, row: Complaint, body: TriageBody
) -> dict[str, object]:
    """Entity and unit chosen at triage, set on the row; the step body's part for them."""
    entity_id = _entity(session, row, body)
    if entity_id is not None and row.entity_id is None:
        row.entity_id = entity_id
    if body.unit is not None:
        row.unit_id = unit_in_reach(session, principal, body.unit)
    unit = labels(session, [row.unit_id]).get(row.unit_id) if row.unit_id else None
    return {"entity_id": row.entity_id, "unit": unit[0] if unit else None}


def triage(
    ctx: Triage, principal: Principal, complaint_id: str, body: TriageBody
) -> ComplaintDetail:
    """One triage action (docs/complaints.md §5), its step and log entry."""
    if body.action == "reject" and not body.reason:
        raise InvalidInputError("reason: required to reject", field="reason")
    ledger = ctx.ledger
    now = datetime.now(UTC)
    clue_id = None
    if body.action == "to_clue":
        # The clue is made by the clue service in its own transaction; the complaint is
        # checked first and again under its lock when the clue id is stored.
        with ledger.transaction() as session:
            row = service.load(session, principal, complaint_id)
            _require_status(row, ("received",), "triage")
            entity_id = _entity(session, row, body)
            if entity_id is None:
                raise InvalidInputError(
                    "entity_id: required (the complaint's target is not a known entity)",
                    field="entity_id",
                )
            evidence_ids = service.detail(session, row).evidence_ids
            title = f"{KINDS[row.kind]}：{CATEGORIES[row.category]}（{row.id}）"
            summary = row.text[:MAX_SUMMARY]
        clue = clue_service.create_clue(
            ledger,
            principal,
            ClueCreate(
                title=title, summary=summary, entity_id=entity_id, evidence_ids=evidence_ids
            ),
        )
        clue_id = clue.clue_id
    queued = 1
    with ledger.transaction() as session:
        row = service.load(session, principal, complaint_id, lock=True)
        _require_status(row, ("received",), "triage")
        extra = _apply(session, principal, row, body)
        if body.action == "to_clue":
            row.status = "clue"
            row.clue_id = clue_id
            extra["clue_id"] = clue_id
        elif body.action == "to_odr":
            if row.kind != "complaint":
                raise InvalidInputError(
                    "action: only a complaint (投诉), not a report, goes to mediation",
                    field="action",
                )
            try:
                case = odr_service.open_mediation(
                    session,
                    ledger.sign_receipt,
                    complaint=row,
                    actor=principal.pseudonym,
                    at=now,
                    days=ctx.odr_days,
                )
            except NotImplementedError as exc:
                raise ServiceUnavailableError("online mediation (ODR) is not available") from exc
            row.status = "odr"
            row.odr_id = case.id
            extra["odr_id"] = case.id
            queued += 1
        else:
            row.status = "rejected"
        row.triage_reason = body.reason
        row.triaged_at = now
        service.record_step(
            session,
            ledger.sign_receipt,
            row,
            body.action,
            actor=principal.pseudonym,
            at=now,
            note=body.reason,
            body=extra,
        )
        session.flush()
        answer = service.detail(session, row)
    ledger.queued(queued)
    return answer


def resolve(
    ledger: StepLedger, principal: Principal, complaint_id: str, body: ResolveBody
) -> ComplaintDetail:
    """Resolved (办结), substantiated or not; substantiated with a known entity, a
    ``complaint_verified`` credit record (source ``complaint:<id>``)."""
    now = datetime.now(UTC)
    queued = 1
    with ledger.transaction() as session:
        row = service.load(session, principal, complaint_id, lock=True)
        _require_status(row, ("clue", "odr"), "resolving")
        row.status = "resolved"
        row.substantiated = body.substantiated
        row.resolved_at = now
        record = None
        if body.substantiated and row.entity_id is not None:
            record = add_record(
                session,
                ledger.sign_receipt,
                entity_id=row.entity_id,
                kind="complaint_verified",
                source=f"complaint:{row.id}",
                occurred_at=row.received_at,
                details={"complaint_id": row.id, "kind": row.kind, "category": row.category},
                actor=principal.pseudonym,
                at=now,
            )
            queued += 2  # the record's entry and, perhaps, a grade change's
        service.record_step(
            session,
            ledger.sign_receipt,
            row,
            "resolve",
            actor=principal.pseudonym,
            at=now,
            note=body.note,
            body={
                "substantiated": body.substantiated,
                "entity_id": row.entity_id,
                "credit_record": None if record is None else record.id,
            },
        )
        session.flush()
        answer = service.detail(session, row)
    ledger.queued(queued)
    return answer
