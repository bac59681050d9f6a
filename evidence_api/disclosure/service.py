"""Publishing penalty decisions (行政处罚决定公示) and reading them back in public.

Publishing and withdrawing each write a ``disclosure`` log entry, with its signed
receipt, in the same transaction as the row (the takedowns' :class:`Ledger`), so the
table and the log never disagree. The public reads answer only the allow-listed fields
of :mod:`evidence_api.disclosure.schemas`; who published or withdrew, and why, stay
private (the log holds the reason's SHA-256 only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select
from sqlalchemy.orm import Session

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import require_jurisdiction
from evidence_api.core.ledger import record_entry
from evidence_api.core.models import OrgUnit
from evidence_api.disclosure import record as rec
from evidence_api.disclosure.models import PUBLISHED, WITHDRAWN, CasePublication
from evidence_api.disclosure.schemas import (
    PAGE_FIELDS,
    PENALTY_DETAIL_FIELDS,
    PENALTY_FIELDS,
    Publication,
    PublicationCreate,
    PublicPenalty,
    PublicPenaltyDetail,
    PublicPenaltyPage,
    WithdrawBody,
    allowed,
)
from evidence_api.registry import case_workflow as workflow
from evidence_api.registry.models import CaseEvent, CaseFile, TradingEntity
from evidence_api.takedowns.service import Ledger
from verifier.bundle import Bundle

#: Where the public API and pages show one penalty decision.
PUBLIC_API = "/v1/public/penalties"
PUBLIC_PAGE = "/public/penalties"
#: A decision dated later than this after today (UTC) is a typo.
DATE_SLACK = timedelta(days=1)


def _record(row: CasePublication) -> dict[str, Any]:
    return rec.penalty_record(
        publication_id=row.id,
        case_number=row.case_number,
        decision_number=row.decision_number,
        entity_name=row.entity_name,
        entity_uscc=row.entity_uscc,
        facts=row.facts,
        legal_basis=row.legal_basis,
        penalty=row.penalty,
        decision_date=row.decision_date,
        deciding_unit=row.deciding_unit,
    )


def _write_entry(
    ledger: Ledger, session: Session, body: dict[str, Any], at: datetime
) -> tuple[str, str]:
    """Queue a ``disclosure`` entry with its receipt; its id and leaf hash (hex)."""
    entry, leaf = record_entry(session, ledger.sign_receipt, rec.ENTRY_KIND, "dc", body, at)
    return entry.id, leaf.hex()


def officer_view(row: CasePublication) -> Publication:
    return Publication(
        id=row.id,
        case_id=row.case_id,
        status=row.status,
        record=_record(row),
        record_sha256=row.record_sha256,
        published_at=row.published_at,
        entry_id=row.entry_id,
        withdrawn_at=row.withdrawn_at,
        withdraw_entry_id=row.withdraw_entry_id,
        public_url=f"{PUBLIC_PAGE}/{row.id}",
    )


# --- publishing (officers and admins, within their jurisdiction) -----------------------


def _closing_step(session: Session, case: CaseFile) -> str | None:
    """The status the case was closed from (``handling``; ``clue`` for 不予立案)."""
    found = session.execute(
        select(CaseEvent.from_status)
        .where(CaseEvent.case_id == case.id, CaseEvent.to_status == workflow.FINAL)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)


def _publishable(session: Session, principal: Principal, case_id: int) -> CaseFile:
    """The case, if in reach and a decided, closed case with an entity and a unit; 404
    or 409 with the reason otherwise."""
    case = session.get(CaseFile, case_id, with_for_update=True)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    require_jurisdiction(session, principal, case.unit_id, f"no case {case_id}")
    if case.status != workflow.FINAL:
        raise ConflictError(
            f"case {case.number!r} is in {workflow.describe(case.status)}: only a "
            f"{workflow.describe(workflow.FINAL)} case's penalty decision is published"
        )
    if _closing_step(session, case) == workflow.INITIAL:
        raise ConflictError(
            f"case {case.number!r} was closed as 不予立案 (not opened): "
            "it has no penalty decision to publish"
        )
    if case.entity_id is None:
        raise ConflictError(f"case {case.number!r} names no entity: there is no party to publish")
    if case.unit_id is None:
        raise ConflictError(
            f"case {case.number!r} belongs to no unit: the deciding unit is the case's unit"
        )
    return case


def _already(session: Session, where: ColumnElement[bool]) -> CasePublication | None:
    return session.execute(
        select(CasePublication).where(where, CasePublication.status == PUBLISHED).limit(1)
    ).scalar()


def publish(
    ledger: Ledger, principal: Principal, case_id: int, body: PublicationCreate
) -> Publication:
    """Publish the closed case's penalty decision: a ``case_publication`` row and its
    ``disclosure`` entry (one transaction). 409 if the case is not closed after handling,
    lacks an entity or a unit, already has a publication, or the decision number is
    already published; 422 for a decision date after tomorrow."""
    now = datetime.now(UTC)
    if body.decision_date > now.date() + DATE_SLACK:
        raise InvalidInputError(
            f"decision_date: {body.decision_date.isoformat()} is in the future",
            field="decision_date",
        )
    with ledger.transaction() as session:
        case = _publishable(session, principal, case_id)
        found = _already(session, CasePublication.case_id == case.id)
        if found is not None:
            raise ConflictError(
                f"case {case.number!r} is already published as {found.id}; withdraw it first"
            )
        found = _already(session, CasePublication.decision_number == body.decision_number)
        if found is not None:
            raise ConflictError(
                f"decision {body.decision_number!r} is already published as {found.id}",
                field="decision_number",
            )
        entity = session.get(TradingEntity, case.entity_id)
        unit = session.get(OrgUnit, case.unit_id)
        assert entity is not None and unit is not None  # foreign keys
        row = CasePublication(
            id=new_id("pub"),
            case_id=case.id,
            unit_id=case.unit_id,
            status=PUBLISHED,
            case_number=case.number,
            decision_number=body.decision_number,
            entity_name=entity.shop_name,
            entity_uscc=entity.uscc,
            facts=body.facts,
            legal_basis=body.legal_basis,
            penalty=body.penalty,
            decision_date=body.decision_date,
            deciding_unit=unit.name,
            published_at=now,
            published_by=principal.pseudonym,
        )
        record = _record(row)
        row.record_sha256 = rec.record_sha256(record)
        row.entry_id, row.leaf_hash = _write_entry(
            ledger, session, rec.publish_body(record, row.record_sha256), now
        )
        session.add(row)
        session.flush()
        answer = officer_view(row)
    ledger.queued(1)
    return answer


def _publication(session: Session, principal: Principal, publication_id: str) -> CasePublication:
    row = session.execute(
        select(CasePublication).where(CasePublication.id == publication_id).with_for_update()
    ).scalar()
    missing = f"no publication {publication_id!r}"
    if row is None:
        raise NotFoundError(missing)
    require_jurisdiction(session, principal, row.unit_id, missing)
    return row


def withdraw(
    ledger: Ledger, principal: Principal, publication_id: str, body: WithdrawBody
) -> Publication:
    """published → withdrawn, with a ``disclosure`` entry; 409 if already withdrawn."""
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        row = _publication(session, principal, publication_id)
        if row.status != PUBLISHED:
            raise ConflictError(f"publication {row.id} is already withdrawn")
        row.withdraw_entry_id, _ = _write_entry(
            ledger, session, rec.withdraw_body(_record(row), body.reason), now
        )
        row.status = WITHDRAWN
        row.withdrawn_at = now
        row.withdrawn_by = principal.pseudonym
        row.withdraw_reason = body.reason
        session.flush()
        answer = officer_view(row)
    ledger.queued(1)
    return answer


def get_publication(session: Session, principal: Principal, publication_id: str) -> Publication:
    """A publication, published or withdrawn, for an officer in its jurisdiction."""
    return officer_view(_publication(session, principal, publication_id))


# --- the public reads ------------------------------------------------------------------


def entry_bundle(conn: Connection, origin: str, entry_id: str) -> Bundle:
    """The proof bundle of a public log entry (its id from an allow-listed field)."""
    record = get_entry(conn, entry_id)
    if record is None:  # pragma: no cover - the row and its entry commit together
        raise NotFoundError(f"no log entry {entry_id!r}")
    return bundle_for(conn, record, origin=origin)


def _matching(search: rec.Search) -> ColumnElement[bool]:
    if search.text is None:
        return CasePublication.status == PUBLISHED
    match: ColumnElement[bool] = CasePublication.entity_name.icontains(search.text, autoescape=True)
    if search.uscc is not None:
        match = or_(match, CasePublication.entity_uscc == search.uscc)
    return (CasePublication.status == PUBLISHED) & match


def _listed(row: CasePublication, proof_status: str) -> dict[str, Any]:
    source = {
        "id": row.id,
        "decision_number": row.decision_number,
        "entity_name": row.entity_name,
        "entity_uscc": row.entity_uscc,
        "deciding_unit": row.deciding_unit,
        "decision_date": row.decision_date,
        "published_at": row.published_at,
        "entry_id": row.entry_id,
        "proof_status": proof_status,
        "url": f"{PUBLIC_API}/{row.id}",
    }
    return allowed(source, PENALTY_FIELDS)


def public_penalties(
    session: Session, origin: str, q: str | None, offset: int, limit: int
) -> PublicPenaltyPage:
    """Published penalty decisions, newest first; ``q``: the entity's name (part of
    it, any case) or its exact 统一社会信用代码."""
    search = rec.search(q, offset, limit)
    where = _matching(search)
    total = int(session.execute(select(func.count()).where(where)).scalar_one())
    rows: Sequence[CasePublication] = (
        session.execute(
            select(CasePublication)
            .where(where)
            .order_by(CasePublication.published_at.desc(), CasePublication.seq.desc())
            .offset(search.offset)
            .limit(search.limit)
        )
        .scalars()
        .all()
    )
    conn = session.connection()
    items = [
        PublicPenalty(**_listed(r, entry_bundle(conn, origin, r.entry_id).status)) for r in rows
    ]
    page = {"items": items, "total": total, "offset": offset, "limit": limit, "q": search.text}
    return PublicPenaltyPage(**allowed(page, PAGE_FIELDS))


def _public_row(session: Session, publication_id: str) -> CasePublication:
    row = session.execute(
        select(CasePublication).where(CasePublication.id == publication_id)
    ).scalar()
    if row is None or row.status != PUBLISHED:
        raise NotFoundError(f"no published penalty decision {publication_id!r}")
    return row


def public_penalty(
    session: Session, origin: str, publication_id: str, portal: str | None
) -> PublicPenaltyDetail:
    """One published decision with its record and its entry's proof bundle; 404 for an
    unknown or withdrawn one. ``portal``: the verification portal's page, if served."""
    row = _public_row(session, publication_id)
    bundle = entry_bundle(session.connection(), origin, row.entry_id)
    source = _listed(row, bundle.status) | {
        "case_number": row.case_number,
        "facts": row.facts,
        "legal_basis": row.legal_basis,
        "penalty": row.penalty,
        "record": _record(row),
        "record_sha256": row.record_sha256,
        "leaf_hash": row.leaf_hash,
        "bundle": bundle.model_dump(mode="json"),
        "proof_url": f"{PUBLIC_API}/{row.id}/proof",
        "verify_url": portal,
    }
    return PublicPenaltyDetail(**allowed(source, PENALTY_DETAIL_FIELDS))


def public_penalty_bundle(session: Session, origin: str, publication_id: str) -> Bundle:
    """The proof bundle of a published decision's entry (404 unknown or withdrawn)."""
    row = _public_row(session, publication_id)
    return entry_bundle(session.connection(), origin, row.entry_id)


def portal_page(verifier_mount: str) -> str | None:
    """The verification portal's page under ``EVIDENCE_VERIFIER_MOUNT`` (None: not served)."""
    return f"{verifier_mount.rstrip('/')}/verify" if verifier_mount else None


def decision_day(value: date) -> str:
    """A decision date as the public page shows it: 2026年11月30日."""
    return f"{value.year}年{value.month}月{value.day}日"
