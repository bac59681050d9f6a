"""Reading an entity's credit (its grade explained, records, history) and changing the
policy; the routes and the console pages call these (docs/credit.md §6)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchoring.queue import get_entry
from anchoring.schema import log_entry
from evidence_api.core.auth import Principal
from evidence_api.core.errors import NotFoundError
from evidence_api.core.ledger import SignReceipt
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.credit import grading, policies
from evidence_api.credit.models import CreditGrade, CreditGradeChange, CreditRecord
from evidence_api.credit.records import record_ref
from evidence_api.credit.schemas import (
    CAUSES,
    VERIFY,
    CreditEntry,
    CreditLine,
    CreditRecordPublic,
    EntityCredit,
    GradeChangePublic,
    PolicyDetail,
    PolicyInstalled,
    PolicySummary,
)
from evidence_api.registry.entities import entity_by_id
from verifier.credit import GRADE_LABELS, RECORD_KINDS, RULES, grade, next_change

#: Records on one page of an entity's credit.
MAX_PAGE = 200
#: Grade changes an entity's credit shows (newest first).
HISTORY = 200


def label_of(kind: str) -> str:
    return RECORD_KINDS.get(kind) or RULES.get(kind) or kind


def leaf_hashes(session: Session, entry_ids: set[str]) -> dict[str, str]:
    """The leaf hash (hex) of each of ``entry_ids`` (the log's entry table)."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(log_entry.c.entry_id, log_entry.c.leaf_hash).where(
            log_entry.c.entry_id.in_(sorted(entry_ids))
        )
    ).all()
    return {str(e): bytes(h).hex() for e, h in rows}


def _record(row: CreditRecord, leaves: dict[str, str] | None = None) -> CreditRecordPublic:
    return CreditRecordPublic(
        ref=record_ref(row.id),
        kind=row.kind,
        label=label_of(row.kind),
        source=row.source,
        occurred_at=row.occurred_at,
        details=json.loads(row.details or "{}"),
        covers=list(json.loads(row.covers or "[]")),
        entry_id=row.entry_id,
        leaf_hash=(leaves or {}).get(row.entry_id),
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


def _change(row: CreditGradeChange, leaves: dict[str, str]) -> GradeChangePublic:
    return GradeChangePublic(
        id=row.id,
        from_grade=row.from_grade,
        to_grade=row.to_grade,
        to_label=GRADE_LABELS.get(row.to_grade, row.to_grade),
        score=row.score,
        policy_version=row.policy_version,
        cause=row.cause,
        cause_label=CAUSES.get(row.cause, row.cause),
        records=list(json.loads(row.record_refs or "[]")),
        entry_id=row.entry_id,
        leaf_hash=leaves.get(row.entry_id),
        at=row.at,
    )


def entity_credit(
    session: Session,
    sign_receipt: SignReceipt,
    principal: Principal | None,
    entity_id: int,
    *,
    at: datetime,
    limit: int = 50,
    cursor: str | None = None,
) -> EntityCredit:
    """The entity's grade at ``at`` with the active policy, explained line by line; 404
    for an unknown entity or one outside ``principal``'s jurisdiction."""
    entity = entity_by_id(session, entity_id, principal=principal)
    policy = policies.active_policy(session, sign_receipt, at)
    rows = list(
        session.execute(
            select(CreditRecord)
            .where(CreditRecord.entity_id == entity_id)
            .order_by(CreditRecord.id)
        ).scalars()
    )
    facts = [grading.fact_of(r.id, r.kind, r.occurred_at, r.source, r.covers) for r in rows]
    by_ref = {record_ref(r.id): r for r in rows}
    now = grade(facts, policy.policy, at)
    lines = []
    for line in now.lines:
        source = by_ref.get(line.ref) if line.ref is not None else None
        lines.append(
            CreditLine(
                ref=line.ref,
                kind=line.kind,
                label=label_of(line.kind),
                points=line.points,
                text=line.text,
                source=source.source if source is not None else None,
                entry_id=source.entry_id if source is not None else None,
            )
        )
    page = list(
        session.execute(
            keyset(
                select(CreditRecord).where(CreditRecord.entity_id == entity_id),
                CreditRecord.id,
                limit=limit,
                cursor=cursor,
            )
        ).scalars()
    )
    history = list(
        session.execute(
            select(CreditGradeChange)
            .where(CreditGradeChange.entity_id == entity_id)
            .order_by(CreditGradeChange.id.desc())
            .limit(HISTORY)
        ).scalars()
    )
    leaves = leaf_hashes(
        session,
        {item.entry_id for item in lines if item.entry_id}
        | {r.entry_id for r in page[:limit]}
        | {c.entry_id for c in history},
    )
    for item in lines:
        item.leaf_hash = leaves.get(item.entry_id or "")
    stored = session.get(CreditGrade, entity_id)
    return EntityCredit(
        entity_id=entity.id,
        shop_name=entity.shop_name,
        graded=stored is not None and bool(rows),
        grade=now.grade,
        grade_label=GRADE_LABELS.get(now.grade, now.grade),
        score=now.score,
        policy_version=policy.version,
        policy_sha256=policy.sha256,
        policy_entry_id=policy.entry_id,
        as_of=at,
        next_change_at=next_change(facts, policy.policy, at),
        lines=lines,
        records=[_record(r, leaves) for r in page[:limit]],
        records_next_cursor=cursor_after(page, limit, lambda r: r.id),
        history=[_change(c, leaves) for c in history],
        verify=VERIFY,
    )


def _summary(item: policies.ActivePolicy, leaf: str | None = None) -> PolicySummary:
    return PolicySummary(
        version=item.version,
        sha256=item.sha256,
        active=item.active,
        name=item.policy.name or None,
        created_by=item.created_by,
        created_at=item.created_at,
        entry_id=item.entry_id,
        leaf_hash=leaf,
    )


def _detail(session: Session, item: policies.ActivePolicy) -> PolicyDetail:
    leaf = leaf_hashes(session, {item.entry_id}).get(item.entry_id)
    return PolicyDetail(
        **_summary(item, leaf).model_dump(), document=json.loads(item.policy.document)
    )


def list_policies(session: Session, sign_receipt: SignReceipt, at: datetime) -> list[PolicySummary]:
    items = policies.list_policies(session, sign_receipt, at)
    leaves = leaf_hashes(session, {p.entry_id for p in items})
    return [_summary(p, leaves.get(p.entry_id)) for p in items]


def get_policy(
    session: Session, sign_receipt: SignReceipt, version: int, at: datetime
) -> PolicyDetail:
    policies.active_policy(session, sign_receipt, at)
    return _detail(session, policies.get_policy(session, version))


def install(
    session: Session, sign_receipt: SignReceipt, data: bytes, *, actor: str, at: datetime
) -> PolicyDetail:
    """Store and activate a new version (its entry); the caller regrades in a second
    transaction (:func:`regrade_for_policy`)."""
    return _detail(
        session, policies.install_policy(session, sign_receipt, data, actor=actor, at=at)
    )


def regrade_for_policy(
    session: Session, sign_receipt: SignReceipt, detail: PolicyDetail, *, at: datetime
) -> PolicyInstalled:
    changed = grading.regrade_all(session, sign_receipt, at=at, cause="policy")
    return PolicyInstalled(**detail.model_dump(), regraded=changed)


#: The entry kinds this feature writes (what GET /v1/credit/entries/{id} serves).
ENTRY_KINDS = ("credit_record", "credit_grade", "credit_policy")


def credit_entry(session: Session, entry_id: str) -> CreditEntry:
    """One credit entry as the log holds it; 404 for another kind or none."""
    found = get_entry(session.connection(), entry_id)
    if found is None or found.kind not in ENTRY_KINDS:
        raise NotFoundError(f"no credit log entry {entry_id}")
    return CreditEntry(
        entry_id=found.entry_id,
        kind=found.kind,
        entry=json.loads(found.entry_json),
        leaf_data=found.entry_json,
        leaf_hash=bytes(found.leaf_hash).hex(),
        leaf_index=found.leaf_index,
        receipt=found.receipt,
    )
