"""Regrading: an entity's grade from its records and the active policy
(:mod:`verifier.credit`); a change is a ``credit_grade_change`` row and a ``credit_grade``
log entry, in the transaction that caused it (docs/credit.md §6).

Three callers:

- :func:`regrade`: one entity, in the transaction of a new record (``cause="record"``,
  from :func:`evidence_api.credit.records.add_record`) or of the job (``"decay"``);
- :func:`regrade_due`: the ``credit-regrade`` job, entities whose ``next_change_at`` has
  come or whose grade was computed with another policy version;
- :func:`regrade_all`: every graded entity after a policy change, in batches.

Concurrency: :func:`regrade` first makes sure the entity's ``credit_grade`` row exists
(``INSERT … ON CONFLICT DO NOTHING``) and locks it (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite serialises writers), and only then reads the records, so two
transactions adding records to one entity grade one after the other, the second with
both records. The job claims an entity by a conditional ``UPDATE`` (still due?) that
is its first write, so two processes running it at once regrade each entity once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from evidence_api.core.ids import new_id
from evidence_api.core.ledger import SignReceipt
from evidence_api.credit.models import CreditGrade, CreditGradeChange, CreditRecord
from evidence_api.credit.policies import ActivePolicy, active_policy
from evidence_api.registry.models import TradingEntity
from verifier.canonical import canonical_json
from verifier.credit import CreditFact, Grade, Line, grade, next_change

#: The log entry of a grade change, and its id prefix.
GRADE_ENTRY_KIND = "credit_grade"
GRADE_ENTRY_PREFIX = "crg"
#: Why a grade was recomputed.
CAUSES = ("record", "decay", "policy")
#: Entities one job transaction regrades.
DUE_BATCH = 200
#: A grade row inserted but not computed yet (never committed: the transaction fills it).
PENDING = "?"


def record_ref(record_id: int) -> str:
    """A record's reference, ``cr-<id>`` (as :func:`evidence_api.credit.records.record_ref`;
    records imports this module, not the other way round)."""
    return f"cr-{record_id}"


def table_of(model: Any) -> Table:
    """A model's table, typed as one."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def fact_of(
    record_id: int, kind: str, occurred_at: datetime, source: str, covers: str
) -> CreditFact:
    """A stored record as the grading sees it."""
    at = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
    return CreditFact(
        ref=record_ref(record_id),
        kind=kind,
        at=at,
        source=source,
        covers=tuple(json.loads(covers or "[]")),
    )


def lines_json(lines: Iterable[Line]) -> list[dict[str, Any]]:
    return [{"ref": x.ref, "kind": x.kind, "points": x.points, "text": x.text} for x in lines]


def _facts(session: Session, entity_id: int) -> tuple[list[CreditFact], int | None]:
    rows = session.execute(
        select(
            CreditRecord.id,
            CreditRecord.kind,
            CreditRecord.occurred_at,
            CreditRecord.source,
            CreditRecord.covers,
        )
        .where(CreditRecord.entity_id == entity_id)
        .order_by(CreditRecord.id)
    ).all()
    facts = [fact_of(*row) for row in rows]
    return facts, (int(rows[-1][0]) if rows else None)


def _lock_row(session: Session, entity_id: int, at: datetime) -> CreditGrade:
    """The entity's grade row, made (pending) if missing, locked until commit."""
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(table_of(CreditGrade))
        .values(
            entity_id=entity_id,
            grade=PENDING,
            score=0,
            policy_version=0,
            last_record_id=None,
            computed_at=at,
            next_change_at=None,
        )
        .on_conflict_do_nothing(index_elements=["entity_id"])
    )
    return session.execute(
        select(CreditGrade)
        .where(CreditGrade.entity_id == entity_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _changed_refs(
    facts: Sequence[CreditFact], policy: ActivePolicy, before: datetime | None, now: Grade
) -> list[str]:
    """The records whose lines differ between ``before`` and ``now`` (a decay step or a
    rule's period ending)."""
    current = {(x.ref, x.kind): x.points for x in now.lines if x.ref is not None}
    if before is None:
        return sorted({ref for ref, _ in current}, key=_ref_number)
    then = {
        (x.ref, x.kind): x.points
        for x in grade(facts, policy.policy, before).lines
        if x.ref is not None
    }
    return sorted(
        {key[0] for key in then.keys() | current.keys() if then.get(key) != current.get(key)},
        key=_ref_number,
    )


def _ref_number(ref: str) -> int:
    return int(ref.removeprefix("cr-"))


@dataclass(frozen=True)
class _Change:
    entity_id: int
    from_grade: str | None
    to: Grade
    cause: str
    refs: list[str]


def _entry_body(change: _Change, policy: ActivePolicy) -> dict[str, Any]:
    lines = lines_json(change.to.lines)
    return {
        "entity_id": change.entity_id,
        "from": change.from_grade,
        "to": change.to.grade,
        "score": change.to.score,
        "policy_version": policy.version,
        "policy_sha256": policy.sha256,
        "cause": change.cause,
        "records": change.refs,
        "lines_sha256": hashlib.sha256(canonical_json(lines)).hexdigest(),
    }


def _write_changes(
    session: Session,
    sign_receipt: SignReceipt,
    changes: Sequence[_Change],
    policy: ActivePolicy,
    at: datetime,
) -> None:
    """The change rows and their ``credit_grade`` entries (queued in one statement)."""
    if not changes:
        return
    queued: list[QueuedEntry] = []
    rows: list[dict[str, Any]] = []
    stamp = utc_timestamp(at)
    for change in changes:
        entry = make_entry(
            GRADE_ENTRY_KIND, new_id(GRADE_ENTRY_PREFIX), _entry_body(change, policy), at=stamp
        )
        leaf, receipt = sign_receipt(entry)
        queued.append(QueuedEntry(entry, leaf, at, receipt))
        rows.append(
            {
                "entity_id": change.entity_id,
                "from_grade": change.from_grade,
                "to_grade": change.to.grade,
                "score": change.to.score,
                "policy_version": policy.version,
                "cause": change.cause,
                "record_refs": json.dumps(change.refs),
                "lines": json.dumps(lines_json(change.to.lines), ensure_ascii=False),
                "entry_id": entry.id,
                "at": at,
            }
        )
    enqueue(session.connection(), queued)
    session.execute(table_of(CreditGradeChange).insert(), rows)
    table = table_of(TradingEntity)
    session.execute(
        update(table).where(table.c.id == bindparam("eid")).values(risk_grade=bindparam("g")),
        [{"eid": c.entity_id, "g": c.to.grade} for c in changes],
    )


def regrade(
    session: Session,
    sign_receipt: SignReceipt,
    entity_id: int,
    *,
    at: datetime,
    cause: str,
    policy: ActivePolicy | None = None,
) -> str | None:
    """Recompute ``entity_id``'s grade at ``at``; returns the new grade if it changed
    (a first grade is a change from none). The caller commits and nudges the sealer
    (one more queued entry when a grade is returned)."""
    if cause not in CAUSES:
        raise ValueError(f"cause must be one of {', '.join(CAUSES)}")
    row = _lock_row(session, entity_id, at)
    policy = policy or active_policy(session, sign_receipt, at)
    facts, last = _facts(session, entity_id)
    now = grade(facts, policy.policy, at)
    first = row.grade == PENDING
    before = None if first else row.grade
    refs: list[str] = []
    if cause == "record":
        seen = row.last_record_id or 0
        refs = [f.ref for f in facts if first or _ref_number(f.ref) > seen]
    elif cause == "decay":
        refs = _changed_refs(facts, policy, None if first else row.computed_at, now)
    row.grade, row.score, row.policy_version = now.grade, now.score, policy.version
    row.last_record_id, row.computed_at = last, at
    row.next_change_at = next_change(facts, policy.policy, at)
    session.flush()
    if not first and before == now.grade:
        return None
    _write_changes(
        session, sign_receipt, [_Change(entity_id, before, now, cause, refs)], policy, at
    )
    return now.grade


def regrade_due(runtime: Any, *, now: datetime | None = None, batch: int = DUE_BATCH) -> int:
    """The ``credit-regrade`` job: regrade every entity whose ``next_change_at`` has come
    (``decay``) or whose grade was computed with another policy version (``policy``: a
    policy regrade that did not finish); returns how many grades changed. Each entity is
    claimed by a conditional update, so running it in two processes at once is safe."""
    at = now or datetime.now(UTC)
    changed = 0
    with runtime.session() as session:
        version = active_policy(session, runtime.sign_receipt, at).version
    runtime.queued(1)  # the built-in policy's entry, when this installed it
    done: set[int] = set()
    while True:
        with runtime.session() as session:
            due = list(
                session.execute(
                    select(CreditGrade.entity_id)
                    .where(
                        or_(
                            CreditGrade.next_change_at <= at,
                            CreditGrade.policy_version != version,
                        ),
                        CreditGrade.grade != PENDING,
                    )
                    .order_by(CreditGrade.entity_id)
                    .limit(batch)
                ).scalars()
            )
        due = [e for e in due if e not in done]
        if not due:
            return changed
        for entity_id in due:
            done.add(entity_id)
            written = 0
            with runtime.session() as session:
                claimed = session.execute(
                    update(CreditGrade)
                    .where(
                        CreditGrade.entity_id == entity_id,
                        or_(
                            CreditGrade.next_change_at <= at,
                            CreditGrade.policy_version != version,
                        ),
                    )
                    .values(computed_at=CreditGrade.computed_at)
                    .execution_options(synchronize_session=False)
                )
                if not getattr(claimed, "rowcount", 0):
                    continue  # another process regraded it meanwhile
                stale = session.execute(
                    select(CreditGrade.policy_version).where(CreditGrade.entity_id == entity_id)
                ).scalar_one()
                cause = "policy" if stale != version else "decay"
                if regrade(session, runtime.sign_receipt, entity_id, at=at, cause=cause):
                    changed += 1
                    written = 1
            if written:
                runtime.queued(written)


def regrade_all(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    at: datetime,
    cause: str = "policy",
    batch: int = 1000,
    progress: Any = None,
) -> int:
    """Regrade every graded entity (every entity with a record) with the active policy
    (after a policy change); returns how many grades changed. ``progress(done)`` is
    called after each batch. The policy is loaded once; the records are read one range
    of entity ids at a time in (entity, id) order (the ``ix_credit_record_entity_id_id``
    index), the grade rows of the range at once, and the writes of a batch go in a few
    statements (bulk updates and inserts, the entries queued in one insert)."""
    if cause not in CAUSES:
        raise ValueError(f"cause must be one of {', '.join(CAUSES)}")
    batch = max(1, batch)
    policy = active_policy(session, sign_receipt, at)
    report: Callable[[int], object] | None = progress
    ids = list(
        session.execute(
            select(CreditRecord.entity_id).distinct().order_by(CreditRecord.entity_id)
        ).scalars()
    )
    changed = done = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        changed += _regrade_range(session, sign_receipt, policy, chunk, at, cause)
        done += len(chunk)
        if report is not None:
            report(done)
    return changed


def _regrade_range(
    session: Session,
    sign_receipt: SignReceipt,
    policy: ActivePolicy,
    chunk: Sequence[int],
    at: datetime,
    cause: str,
) -> int:
    lo, hi = chunk[0], chunk[-1]
    records = session.execute(
        select(
            CreditRecord.entity_id,
            CreditRecord.id,
            CreditRecord.kind,
            CreditRecord.occurred_at,
            CreditRecord.source,
            CreditRecord.covers,
        )
        .where(CreditRecord.entity_id >= lo, CreditRecord.entity_id <= hi)
        .order_by(CreditRecord.entity_id, CreditRecord.id)
    ).all()
    current = {
        int(e): (g, last)
        for e, g, last in session.execute(
            select(CreditGrade.entity_id, CreditGrade.grade, CreditGrade.last_record_id).where(
                CreditGrade.entity_id >= lo, CreditGrade.entity_id <= hi
            )
        ).all()
    }
    grouped: dict[int, list[CreditFact]] = {}
    last_of: dict[int, int] = {}
    for entity_id, record_id, kind, occurred_at, source, covers in records:
        grouped.setdefault(int(entity_id), []).append(
            fact_of(int(record_id), kind, occurred_at, source, covers)
        )
        last_of[int(entity_id)] = int(record_id)
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    changes: list[_Change] = []
    for entity_id, facts in grouped.items():
        now = grade(facts, policy.policy, at)
        values = {
            "eid": entity_id,
            "grade": now.grade,
            "score": now.score,
            "policy_version": policy.version,
            "last_record_id": last_of[entity_id],
            "computed_at": at,
            "next_change_at": next_change(facts, policy.policy, at),
        }
        before = current.get(entity_id)
        if before is None:
            inserts.append(values)
            changes.append(_Change(entity_id, None, now, cause, [f.ref for f in facts]))
        else:
            updates.append(values)
            if before[0] != now.grade:
                old = None if before[0] == PENDING else before[0]
                changes.append(_Change(entity_id, old, now, cause, []))
    table = table_of(CreditGrade)
    if updates:
        session.execute(
            update(table)
            .where(table.c.entity_id == bindparam("eid"))
            .values(
                grade=bindparam("grade"),
                score=bindparam("score"),
                policy_version=bindparam("policy_version"),
                last_record_id=bindparam("last_record_id"),
                computed_at=bindparam("computed_at"),
                next_change_at=bindparam("next_change_at"),
            )
            .execution_options(synchronize_session=False),
            updates,
        )
    if inserts:
        session.execute(
            table.insert(),
            [{"entity_id": v.pop("eid"), **v} for v in inserts],
        )
    _write_changes(session, sign_receipt, changes, policy, at)
    return len(changes)


def entity_changes_count(session: Session, entity_id: int) -> int:
    """How many grade changes ``entity_id`` has (the console's history size)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(CreditGradeChange)
            .where(CreditGradeChange.entity_id == entity_id)
        ).scalar_one()
    )
