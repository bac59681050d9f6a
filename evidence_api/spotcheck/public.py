"""What 信息公示 (evidence_api/disclosure) shows of published spot-check plans.

Only public fields: the plan's id, title and items; the committed plan JSON (entity
refs are public registry data; officers appear only as per-plan refs ``off-<n>`` and unit
codes — never a token pseudonym, which would link plans and log entries);
the seed block; the draw with the drawn entities' names and 统一社会信用代码; the
results with their unit's name; and the log entry id of every step, to which the
disclosure feature attaches proof bundles. Never an officer's name or a note's text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.core.models import OrgUnit
from evidence_api.registry.models import TradingEntity
from evidence_api.spotcheck.labels import OUTCOMES, STATUSES
from evidence_api.spotcheck.models import (
    InspectionItem,
    SpotCheckDrawn,
    SpotCheckPlan,
    SpotCheckResult,
)

#: Longest search text.
MAX_QUERY = 128


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else utc_timestamp(value)


def _matching(query: str | None) -> Any:
    """Plan seqs whose drawn entities match ``query`` (name substring or exact USCC)."""
    text = (query or "").strip()[:MAX_QUERY]
    if not text:
        return None
    return (
        select(SpotCheckDrawn.plan_seq)
        .join(TradingEntity, TradingEntity.id == SpotCheckDrawn.entity_id)
        .where(
            or_(
                TradingEntity.shop_name.contains(text, autoescape=True),
                TradingEntity.uscc == text.upper(),
            )
        )
    )


def _summary(plan: SpotCheckPlan, drawn: int, results: int) -> dict[str, Any]:
    return {
        "plan_id": plan.id,
        "title": plan.title,
        "status": plan.status,
        "status_label": STATUSES.get(plan.status, plan.status),
        "plan_sha256": plan.plan_sha256,
        "seed_height": plan.seed_height,
        "drawn_count": drawn,
        "result_count": results,
        "committed_at": _stamp(plan.created_at),
        "published_at": _stamp(plan.published_at),
        "commit_entry_id": plan.commit_entry_id,
        "draw_entry_id": plan.draw_entry_id,
    }


def published_plans(
    session: Session, *, query: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Published plans, newest published first, and how many match in all; ``query``
    keeps plans that drew an entity whose name contains it or whose USCC is it."""
    where = [SpotCheckPlan.public.is_(True)]
    matching = _matching(query)
    if matching is not None:
        where.append(SpotCheckPlan.seq.in_(matching))
    total = session.execute(select(func.count()).select_from(SpotCheckPlan).where(*where))
    count = int(total.scalar_one())
    plans = (
        session.execute(
            select(SpotCheckPlan)
            .where(*where)
            .order_by(SpotCheckPlan.published_at.desc(), SpotCheckPlan.seq.desc())
            .offset(max(0, offset))
            .limit(max(0, limit))
        )
        .scalars()
        .all()
    )
    seqs = [p.seq for p in plans]
    drawn = _counts(session, SpotCheckDrawn.plan_seq, seqs)
    results = _counts(session, SpotCheckResult.plan_seq, seqs)
    return [_summary(p, drawn.get(p.seq, 0), results.get(p.seq, 0)) for p in plans], count


def _counts(session: Session, column: Any, seqs: list[int]) -> dict[int, int]:
    if not seqs:
        return {}
    rows = session.execute(
        select(column, func.count()).where(column.in_(seqs)).group_by(column)
    ).all()
    return {int(seq): int(n) for seq, n in rows}


def items_of(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    """The items named by ``codes`` (code, name, legal basis, department), in that order."""
    rows = session.execute(select(InspectionItem).where(InspectionItem.code.in_(codes)))
    found = {i.code: i for i in rows.scalars()}
    return [
        {
            "code": code,
            "name": found[code].name,
            "legal_basis": found[code].legal_basis,
            "department": found[code].department,
        }
        for code in codes
        if code in found
    ]


def unit_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Unit code → name for ``codes``."""
    if not codes:
        return {}
    rows = session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code.in_(codes)))
    return {str(code): str(name) for code, name in rows}


def plan_view(session: Session, plan: SpotCheckPlan) -> dict[str, Any]:
    """Everything public about ``plan`` (also the core of the officers' detail)."""
    committed = json.loads(plan.plan_json)
    officer_units = {o["ref"]: o["unit"] for o in committed["officers"]}
    units = unit_names(session, set(officer_units.values()))
    drawn_rows = session.execute(
        select(SpotCheckDrawn, TradingEntity.shop_name, TradingEntity.uscc)
        .outerjoin(TradingEntity, TradingEntity.id == SpotCheckDrawn.entity_id)
        .where(SpotCheckDrawn.plan_seq == plan.seq)
        .order_by(SpotCheckDrawn.position)
    ).all()
    names = {row[0].entity_ref: (row[1], row[2]) for row in drawn_rows}
    drawn = [
        {
            "entity": row.entity_ref,
            "name": name,
            "uscc": uscc,
            "officers": json.loads(row.officers),
        }
        for row, name, uscc in drawn_rows
    ]
    result_rows = (
        session.execute(
            select(SpotCheckResult)
            .where(SpotCheckResult.plan_seq == plan.seq)
            .order_by(SpotCheckResult.id)
        )
        .scalars()
        .all()
    )
    results = []
    for r in result_rows:
        unit = officer_units.get(r.officer)
        name, uscc = names.get(r.entity_ref, (None, None))
        results.append(
            {
                "entity": r.entity_ref,
                "name": name,
                "uscc": uscc,
                "outcome": r.outcome,
                "outcome_label": OUTCOMES.get(r.outcome, r.outcome),
                "date": r.recorded_at.date().isoformat(),
                "unit": unit,
                "unit_name": units.get(unit or ""),
                "entry_id": r.entry_id,
            }
        )
    return {
        "plan_id": plan.id,
        "title": plan.title,
        "status": plan.status,
        "status_label": STATUSES.get(plan.status, plan.status),
        "items": items_of(session, list(committed["items"])),
        "plan": committed,
        "plan_sha256": plan.plan_sha256,
        "chain_id": plan.chain_id,
        "seed_height": plan.seed_height,
        "seed_block_hash": plan.seed_block_hash,
        "draw": None if plan.draw_json is None else json.loads(plan.draw_json),
        "result_sha256": plan.result_sha256,
        "drawn": drawn,
        "units": units,
        "results": results,
        "committed_at": _stamp(plan.created_at),
        "drawn_at": _stamp(plan.drawn_at),
        "published_at": _stamp(plan.published_at),
        "entries": {
            "committed": plan.commit_entry_id,
            "drawn": plan.draw_entry_id,
            "published": plan.publish_entry_id,
            "results": [r["entry_id"] for r in results],
        },
    }


def published_plan(session: Session, plan_id: str) -> dict[str, Any] | None:
    """The public view of published plan ``plan_id``; None when absent or unpublished."""
    plan = session.execute(
        select(SpotCheckPlan).where(SpotCheckPlan.id == plan_id, SpotCheckPlan.public.is_(True))
    ).scalar_one_or_none()
    return None if plan is None else plan_view(session, plan)
