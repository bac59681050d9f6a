"""Spot-check plans (双随机、一公开): commitment, draw, results, publication — each step
a ``spotcheck`` log entry written in the same transaction as the row it records
(docs/inspections.md §6)."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.core.auth import Principal, holders
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import scope
from evidence_api.core.ledger import record_entry
from evidence_api.core.runtime import Runtime
from evidence_api.credit import hooks as credit_hooks
from evidence_api.intake.models import Evidence
from evidence_api.monitoring.observation import sha256_text
from evidence_api.spotcheck import items as item_list
from evidence_api.spotcheck import pools
from evidence_api.spotcheck.labels import STATUSES
from evidence_api.spotcheck.models import (
    PLAN_COMMITTED,
    PLAN_DRAWN,
    SpotCheckDrawn,
    SpotCheckPlan,
    SpotCheckResult,
)
from evidence_api.spotcheck.public import plan_view
from evidence_api.spotcheck.schemas import (
    PlanCreate,
    PlanDetail,
    PlanOfficer,
    PlanPage,
    PlanSummary,
    ResultCreate,
)
from evidence_api.spotcheck.seed import chain_client, commitment_point, seed_block
from verifier.canonical import canonical_json
from verifier.spotcheck import (
    ALGORITHM,
    DrawPlan,
    SpotCheckError,
    draw,
    load_plan,
    plan_bytes,
    validate_plan,
)

#: The log entry kind of every step, and its id prefix.
KIND = "spotcheck"
ID_PREFIX = "sck"
#: Most plans one page lists.
MAX_PAGE = 200


def _entry(runtime: Runtime, session: Session, body: dict[str, Any], at: datetime) -> str:
    entry, _ = record_entry(session, runtime.sign_receipt, KIND, ID_PREFIX, body, at)
    return entry.id


# --- reading ------------------------------------------------------------------------------


def find_plan(
    session: Session, principal: Principal, plan_id: str, *, lock: bool = False
) -> SpotCheckPlan:
    """Plan ``plan_id`` in ``principal``'s jurisdiction (404 otherwise)."""
    query = select(SpotCheckPlan).where(
        SpotCheckPlan.id == plan_id, scope(principal, SpotCheckPlan.unit_id)
    )
    if lock:
        query = query.with_for_update()
    plan = session.execute(query).scalar_one_or_none()
    if plan is None:
        raise NotFoundError(f"no spot-check plan {plan_id}")
    return plan


def officer_tokens(plan: SpotCheckPlan) -> list[int]:
    """The token ids of the plan's officers in ref order (private: the n-th is off-<n>)."""
    return [int(t) for t in json.loads(plan.officer_tokens)]


def plan_officers(
    session: Session, plan: SpotCheckPlan, committed: dict[str, Any]
) -> list[PlanOfficer]:
    """The pool as officers see it: each ref with its token pseudonym and holder."""
    tokens = [pools.token_pseudonym(t) for t in officer_tokens(plan)]
    names = holders(session, set(tokens))
    return [
        PlanOfficer(ref=o["ref"], unit=o["unit"], pseudonym=token, holder=names.get(token))
        for o, token in zip(committed["officers"], tokens, strict=True)
    ]


def detail(session: Session, plan: SpotCheckPlan) -> PlanDetail:
    view = plan_view(session, plan)
    committed = view.pop("plan")
    view.pop("units")
    return PlanDetail(
        **view,
        algorithm=committed["algorithm"],
        entity_pool=plan.entity_pool,
        officer_pool=plan.officer_pool,
        recusals=plan.recusals,
        entity_count=committed["entity_count"],
        officer_count=committed["officer_count"],
        inspectors_per_entity=committed["inspectors_per_entity"],
        public=plan.public,
        plan_url=f"/v1/spot-checks/{plan.id}/plan.json",
        officers=plan_officers(session, plan, committed),
    )


def get_plan(runtime: Runtime, principal: Principal, plan_id: str) -> PlanDetail:
    with runtime.session() as session:
        return detail(session, find_plan(session, principal, plan_id))


def committed_bytes(runtime: Runtime, principal: Principal, plan_id: str) -> bytes:
    """The plan's canonical bytes exactly as committed."""
    with runtime.session() as session:
        return find_plan(session, principal, plan_id).plan_json.encode("utf-8")


def list_plans(runtime: Runtime, principal: Principal, *, offset: int, limit: int) -> PlanPage:
    where = scope(principal, SpotCheckPlan.unit_id)
    with runtime.session() as session:
        total = session.execute(select(func.count()).select_from(SpotCheckPlan).where(where))
        rows = session.execute(
            select(SpotCheckPlan)
            .where(where)
            .order_by(SpotCheckPlan.seq.desc())
            .offset(offset)
            .limit(limit)
        ).scalars()
        plans = [
            PlanSummary(
                plan_id=p.id,
                title=p.title,
                status=p.status,
                status_label=STATUSES.get(p.status, p.status),
                plan_sha256=p.plan_sha256,
                seed_height=p.seed_height,
                entity_pool=p.entity_pool,
                officer_pool=p.officer_pool,
                public=p.public,
                committed_at=utc_timestamp(p.created_at),
                commit_entry_id=p.commit_entry_id,
            )
            for p in rows
        ]
        return PlanPage(plans=plans, total=int(total.scalar_one()))


# --- commitment ---------------------------------------------------------------------------


def build_plan(
    session: Session,
    principal: Principal,
    body: PlanCreate,
    *,
    plan_id: str,
    chain_id: int,
    seed_height: int,
    now: datetime,
    rng: random.Random,
) -> tuple[DrawPlan, list[int]]:
    """The plan's pools resolved now, frozen into a :class:`DrawPlan` (422 naming what
    cannot be drawn), and the token ids of its officers in ref order (``rng`` orders
    the officer pool: the n-th is ``off-<n>``)."""
    item_list.require_items(session, body.items)
    where = pools.entity_filter(
        session,
        principal,
        region=body.region,
        risk_classes=body.risk_classes,
        risk_grades=list(body.risk_grades),
    )
    entities = pools.entity_pool(session, where, {str(k): v for k, v in body.weights.items()})
    officers = pools.plan_order(pools.officer_pool(session, body.officer_units, now), rng)
    cases: set[tuple[int, int]] = set()
    if body.recusal_days > 0:
        since = pools.window_start(now, body.recusal_days)
        cases = pools.unit_cases(session, officers, where, since)
    pool_ids = {pools.ref_id(e.ref) for e in entities}
    recusals = pools.recusals_of(officers, cases, body.conflicts, pool_ids)
    try:
        plan = DrawPlan(
            algorithm="evidence-draw/v1",
            plan_id=plan_id,
            items=tuple(body.items),
            entities=tuple(entities),
            officers=tuple(pools.pool_officers(officers)),
            entity_count=body.entity_count,
            officer_count=body.officer_count,
            inspectors_per_entity=body.inspectors_per_entity,
            recusals=tuple(recusals),
            chain_id=chain_id,
            seed_height=seed_height,
        )
        validate_plan(plan)
    except SpotCheckError as exc:
        raise InvalidInputError(f"the plan cannot be drawn: {exc}") from exc
    return plan, [o.token_id for o in officers]


def commit_plan(runtime: Runtime, principal: Principal, body: PlanCreate) -> PlanDetail:
    """Resolve the pools, fix the seed block (head + delay) and commit the plan: its
    canonical bytes stored and a ``committed`` entry, in one transaction."""
    chain_id, seed_height = commitment_point(
        chain_client(runtime), runtime.settings.spotcheck_seed_delay
    )
    now = datetime.now(UTC)
    plan_id = new_id("sc")
    with runtime.session() as session:
        plan, tokens = build_plan(
            session,
            principal,
            body,
            plan_id=plan_id,
            chain_id=chain_id,
            seed_height=seed_height,
            now=now,
            rng=random.SystemRandom(),
        )
        data = plan_bytes(plan)
        digest = hashlib.sha256(data).hexdigest()
        entry_id = _entry(
            runtime,
            session,
            {
                "plan_id": plan_id,
                "step": "committed",
                "plan_sha256": digest,
                "chain_id": chain_id,
                "seed_height": seed_height,
                "algorithm": ALGORITHM,
                "entity_pool": len(plan.entities),
                "officer_pool": len(plan.officers),
                "recusals": len(plan.recusals),
            },
            now,
        )
        row = SpotCheckPlan(
            id=plan_id,
            title=body.title,
            request=body.model_dump_json(),
            unit_id=principal.unit_id,
            created_by=principal.pseudonym,
            status=PLAN_COMMITTED,
            plan_json=data.decode("utf-8"),
            plan_sha256=digest,
            chain_id=chain_id,
            seed_height=seed_height,
            entity_pool=len(plan.entities),
            officer_pool=len(plan.officers),
            recusals=len(plan.recusals),
            officer_tokens=json.dumps(tokens),
            commit_entry_id=entry_id,
            public=False,
            created_at=now,
        )
        session.add(row)
        session.flush()
        result = detail(session, row)
    runtime.queued(1)
    return result


def refuse_change(runtime: Runtime, principal: Principal, plan_id: str) -> None:
    """Any change of a committed plan: 409 naming its commitment entry."""
    with runtime.session() as session:
        plan = find_plan(session, principal, plan_id)
        raise ConflictError(
            f"the plan was committed at entry {plan.commit_entry_id} "
            f"(plan_sha256 {plan.plan_sha256}) and cannot change"
        )


# --- the draw -----------------------------------------------------------------------------


def draw_bytes(plan: DrawPlan, block_hash: bytes) -> tuple[Any, bytes]:
    """The draw and its canonical bytes (RFC 8785 JSON); 409 when it cannot be made."""
    try:
        result = draw(plan, block_hash)
    except SpotCheckError as exc:
        raise ConflictError(f"the draw cannot be made: {exc}") from exc
    return result, canonical_json(result.model_dump(mode="json"))


def draw_plan(runtime: Runtime, principal: Principal, plan_id: str) -> PlanDetail:
    """Draw once the seed block is mined (409 with ``Retry-After`` before); a plan
    already drawn answers its stored draw."""
    with runtime.session() as session:
        row = find_plan(session, principal, plan_id)
        if row.status == PLAN_DRAWN:
            return detail(session, row)
        chain_id, height, text = row.chain_id, row.seed_height, row.plan_json
    block = seed_block(chain_client(runtime), chain_id, height)
    plan = load_plan(text.encode("utf-8"))
    result, data = draw_bytes(plan, block)
    now = datetime.now(UTC)
    with runtime.session() as session:
        row = find_plan(session, principal, plan_id, lock=True)
        if row.status == PLAN_DRAWN:  # a concurrent request drew first: the same draw
            return detail(session, row)
        block_hex = "0x" + block.hex()
        digest = hashlib.sha256(data).hexdigest()
        row.draw_entry_id = _entry(
            runtime,
            session,
            {
                "plan_id": row.id,
                "step": "drawn",
                "plan_sha256": row.plan_sha256,
                "seed_height": row.seed_height,
                "seed_block_hash": block_hex,
                "result_sha256": digest,
            },
            now,
        )
        row.status = PLAN_DRAWN
        row.seed_block_hash = block_hex
        row.draw_json = data.decode("utf-8")
        row.result_sha256 = digest
        row.drawn_at = now
        session.add_all(
            SpotCheckDrawn(
                plan_seq=row.seq,
                position=position,
                entity_ref=a.entity,
                entity_id=pools.ref_id(a.entity),
                officers=json.dumps(list(a.officers)),
            )
            for position, a in enumerate(result.assignments)
        )
        session.flush()
        answer = detail(session, row)
    runtime.queued(1)
    return answer


# --- results and publication --------------------------------------------------------------


def _check_evidence(session: Session, ids: list[str]) -> None:
    if not ids:
        return
    found = set(session.execute(select(Evidence.id).where(Evidence.id.in_(ids))).scalars())
    for evidence_id in ids:
        if evidence_id not in found:
            raise InvalidInputError(f"no evidence {evidence_id}", field="evidence_ids")


def record_result(
    runtime: Runtime, principal: Principal, plan_id: str, body: ResultCreate
) -> PlanDetail:
    """The outcome for one drawn entity, by one of its assigned officers (``off-<n>`` or
    ``token-<id>``, recorded as ``off-<n>``): a ``result`` entry, and the entity's
    ``spotcheck_*`` credit record (:mod:`evidence_api.credit.hooks`). 409 before the draw
    or when the entity has a result already."""
    now = datetime.now(UTC)
    with runtime.session() as session:
        row = find_plan(session, principal, plan_id, lock=True)
        if row.status != PLAN_DRAWN:
            raise ConflictError(f"the plan has not been drawn yet (seed block {row.seed_height})")
        drawn = session.execute(
            select(SpotCheckDrawn).where(
                SpotCheckDrawn.plan_seq == row.seq, SpotCheckDrawn.entity_ref == body.entity
            )
        ).scalar_one_or_none()
        if drawn is None:
            raise InvalidInputError(f"{body.entity} was not drawn in this plan", field="entity")
        officer = pools.plan_ref(body.officer, officer_tokens(row))
        if officer is None or officer not in json.loads(drawn.officers):
            raise InvalidInputError(
                f"{body.officer} is not assigned to {body.entity}", field="officer"
            )
        done = session.execute(
            select(SpotCheckResult.entry_id).where(
                SpotCheckResult.plan_seq == row.seq, SpotCheckResult.entity_ref == body.entity
            )
        ).scalar_one_or_none()
        if done is not None:
            raise ConflictError(f"the result for {body.entity} was recorded at entry {done}")
        evidence = list(dict.fromkeys(body.evidence_ids))
        _check_evidence(session, evidence)
        entry_body: dict[str, Any] = {
            "plan_id": row.id,
            "step": "result",
            "entity": body.entity,
            "outcome": body.outcome,
            "officer": officer,
        }
        if body.note is not None:
            entry_body["note_sha256"] = sha256_text(body.note)
        if evidence:
            entry_body["evidence_ids"] = evidence
        entry_id = _entry(runtime, session, entry_body, now)
        session.add(
            SpotCheckResult(
                plan_seq=row.seq,
                entity_ref=body.entity,
                outcome=body.outcome,
                note=body.note,
                officer=officer,
                evidence_ids=json.dumps(evidence),
                entry_id=entry_id,
                recorded_by=principal.pseudonym,
                recorded_at=now,
            )
        )
        session.flush()
        # the result's credit record (docs/credit.md §6.5), in the same transaction
        credit_entries = credit_hooks.spotcheck_result(
            session,
            runtime.sign_receipt,
            plan_id=row.id,
            entity_ref=body.entity,
            entity_id=drawn.entity_id,
            outcome=body.outcome,
            entry_id=entry_id,
            actor=principal.pseudonym,
            at=now,
        )
        answer = detail(session, row)
    runtime.queued(1 + credit_entries)
    return answer


def publish(runtime: Runtime, principal: Principal, plan_id: str) -> PlanDetail:
    """Mark the plan public (信息公示 lists it): a ``published`` entry; again: no change."""
    now = datetime.now(UTC)
    with runtime.session() as session:
        row = find_plan(session, principal, plan_id, lock=True)
        if row.public:
            return detail(session, row)
        row.publish_entry_id = _entry(
            runtime,
            session,
            {"plan_id": row.id, "step": "published", "plan_sha256": row.plan_sha256},
            now,
        )
        row.public = True
        row.published_at = now
        session.flush()
        answer = detail(session, row)
    runtime.queued(1)
    return answer
