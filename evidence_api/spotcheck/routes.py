"""``/v1/inspection-items`` (抽查事项清单) and ``/v1/spot-checks`` (双随机抽查: plans
committed to the log, draws seeded by a future chain block, results; docs/inspections.md)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, Submitter, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.spotcheck import items, service
from evidence_api.spotcheck.schemas import (
    PLAN_ID,
    ItemCreate,
    ItemList,
    ItemPublic,
    PlanCreate,
    PlanDetail,
    PlanPage,
    ResultCreate,
)

router = APIRouter(prefix="/v1", tags=["spot checks 双随机、一公开"], route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
PlanId = Annotated[str, Path(pattern=PLAN_ID, description="plan id, sc-…")]
ERRORS = problem_responses(401, 403, 404, 409, 422)
CHAIN_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)

PLAN_JSON_EXAMPLE: dict[str, Any] = {
    "algorithm": "evidence-draw/v1",
    "chain_id": 31337,
    "entities": [{"ref": "ent-1", "weight": 1}, {"ref": "ent-2", "weight": 8}],
    "entity_count": 1,
    "inspectors_per_entity": 2,
    "items": ["wj-01-license"],
    "officer_count": 2,
    "officers": [
        {"ref": "off-1", "unit": "fj.qz.fz"},
        {"ref": "off-2", "unit": "fj.qz.lc"},
    ],
    "plan_id": "sc-019ae4c2b1d07f3c9a2e5b6d8f01",
    "recusals": [{"entity": "ent-2", "officer": "off-1", "reason": "unit_case"}],
    "seed_height": 1207,
}


@router.get(
    "/inspection-items",
    response_model=ItemList,
    responses=problem_responses(401, 403),
    summary="The inspection-item list (抽查事项清单)",
)
def list_items(runtime: RuntimeDep, _: Submitter) -> ItemList:
    """Every inspection item: code, name, legal basis (检查依据), department (实施部门) and
    the entity classes it applies to. The built-in list is loaded at first use. Officers
    and admins."""
    with runtime.session() as session:
        return items.list_items(session)


@router.post(
    "/inspection-items",
    response_model=ItemPublic,
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Add an inspection item (新增抽查事项)",
)
def create_item(body: ItemCreate, runtime: RuntimeDep, _: Admin) -> ItemPublic:
    """Add one item to the list; 409 if its code exists. Admins only."""
    with runtime.session() as session:
        return items.create_item(session, body)


@router.get(
    "/spot-checks",
    response_model=PlanPage,
    responses=problem_responses(401, 403, 422),
    summary="Spot-check plans, newest first (抽查计划列表)",
)
def list_plans(
    runtime: RuntimeDep,
    principal: Submitter,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> PlanPage:
    """Plans made in the caller's jurisdiction (a unit and those below it), with their
    status and commitment entry. Officers and admins."""
    return service.list_plans(runtime, principal, offset=offset, limit=limit)


@router.post(
    "/spot-checks",
    response_model=PlanDetail,
    status_code=201,
    responses=CHAIN_ERRORS,
    summary="Commit a spot-check plan to the log (制定并承诺抽查计划)",
)
def create_plan(body: PlanCreate, runtime: RuntimeDep, principal: Submitter) -> PlanDetail:
    """Resolve the entity pool (filters within the caller's jurisdiction, each entity
    weighted by its credit grade) and the officer pool (officers of the named units) now —
    the pool in a random order, its n-th officer named ``off-<n>`` in the plan, the draw,
    the log and 信息公示 (``officers`` of the answer maps each ref to its token pseudonym
    for officers) — compute the recusals (the officer's unit had a case on the entity within
    ``recusal_days``; declared conflicts), fix the seed block at the chain head plus
    ``EVIDENCE_SPOTCHECK_SEED_DELAY`` and commit the plan as a ``spotcheck`` log entry.
    422 names a filter, unit, item or size that cannot make a drawable plan; 503 when no
    chain is configured or it does not answer. Officers and admins."""
    return service.commit_plan(runtime, principal, body)


@router.get(
    "/spot-checks/{plan_id}",
    response_model=PlanDetail,
    responses=ERRORS,
    summary="A spot-check plan with its draw and results (抽查计划详情)",
)
def get_plan(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> PlanDetail:
    """The plan's items, pool sizes, seed block, draw (entities, officers as ``off-<n>``,
    who inspects whom), results, the log entry id of each step, and the officer pool
    with the token pseudonym and holder behind each ``off-<n>``. 404 outside the
    caller's jurisdiction. Officers and admins."""
    return service.get_plan(runtime, principal, plan_id)


@router.get(
    "/spot-checks/{plan_id}/plan.json",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "the committed plan's canonical bytes (RFC 8785 JSON), what "
            "`evidence-verify spot-check PLAN.json --block-hash 0x…` reads",
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": PLAN_JSON_EXAMPLE}
            },
        },
    },
    summary="The committed plan, byte for byte (承诺的抽查计划)",
)
def plan_json(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> Response:
    """Exactly the bytes whose SHA-256 the ``committed`` entry states (``X-Content-SHA256``
    repeats it). Officers and admins."""
    data = service.committed_bytes(runtime, principal, plan_id)
    return Response(
        data,
        media_type="application/json",
        headers={
            "Content-Disposition": f"attachment; filename={plan_id}.json",
            "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
        },
    )


@router.patch(
    "/spot-checks/{plan_id}",
    status_code=204,
    include_in_schema=False,  # refused, always: not an operation to offer (docs/inspections.md §7)
    responses=ERRORS,
    summary="Change a plan: always refused (计划承诺后不可更改)",
)
def patch_plan(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> None:
    """A committed plan never changes: 409 naming the entry that committed it (404 when
    no such plan is in the caller's jurisdiction). Officers and admins."""
    service.refuse_change(runtime, principal, plan_id)


@router.put(
    "/spot-checks/{plan_id}",
    status_code=204,
    include_in_schema=False,  # refused, always: not an operation to offer (docs/inspections.md §7)
    responses=ERRORS,
    summary="Replace a plan: always refused (计划承诺后不可更改)",
)
def put_plan(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> None:
    """A committed plan never changes: 409 naming the entry that committed it (404 when
    no such plan is in the caller's jurisdiction). Officers and admins."""
    service.refuse_change(runtime, principal, plan_id)


@router.post(
    "/spot-checks/{plan_id}/draw",
    response_model=PlanDetail,
    responses=CHAIN_ERRORS,
    summary="Draw, seeded by the committed future block (随机抽取)",
)
def draw_plan(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> PlanDetail:
    """Reads the hash of block ``seed_height``; before it is mined, 409 "seed block N not
    yet mined (chain head is M); the draw can be made after it" with ``Retry-After``.
    Then the draw (verifier.spotcheck.draw of the committed plan and that hash) is stored
    with a ``drawn`` entry. Idempotent: a drawn plan answers its stored draw. Officers
    and admins."""
    return service.draw_plan(runtime, principal, plan_id)


@router.post(
    "/spot-checks/{plan_id}/results",
    response_model=PlanDetail,
    status_code=201,
    responses=ERRORS,
    summary="Record the result for a drawn entity (录入抽查结果)",
)
def record_result(
    plan_id: PlanId, body: ResultCreate, runtime: RuntimeDep, principal: Submitter
) -> PlanDetail:
    """One result per drawn entity, by an officer the draw assigned to it (``off-<n>`` as
    the draw shows it, or the officer's ``token-<id>``; recorded as ``off-<n>``), with a
    ``result`` entry (the note only as its SHA-256). 409 before the draw or when the
    entity already has a result; 422 for an entity not drawn, an officer not assigned or
    unknown evidence. Officers and admins."""
    return service.record_result(runtime, principal, plan_id, body)


@router.post(
    "/spot-checks/{plan_id}/publish",
    response_model=PlanDetail,
    responses=ERRORS,
    summary="Publish a plan and its results (一公开)",
)
def publish_plan(plan_id: PlanId, runtime: RuntimeDep, principal: Submitter) -> PlanDetail:
    """Marks the plan public with a ``published`` entry: 信息公示 then lists it (never
    officers' names or notes). Again: no change. Officers and admins."""
    return service.publish(runtime, principal, plan_id)
