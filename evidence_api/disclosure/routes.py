"""信息公示 over HTTP: officers publish and withdraw penalty decisions; anyone reads the
published decisions and spot checks, without a token, GET only (docs/disclosure.md).

Every other method on ``/v1/public/…`` is answered 405 by the router (no such route).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.openapi import PROOF_BUNDLE
from evidence_api.core.schemas import problem_responses
from evidence_api.disclosure import service, spotchecks
from evidence_api.disclosure.schemas import (
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY,
    PUBLICATION_ID,
    Publication,
    PublicationCreate,
    PublicPenaltyDetail,
    PublicPenaltyPage,
    PublicSpotCheckDetail,
    PublicSpotCheckPage,
    WithdrawBody,
)
from evidence_api.spotcheck.schemas import PLAN_ID
from evidence_api.takedowns.service import ledger_of

router = APIRouter(prefix="/v1", route_class=GuardedRoute)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="case id")]
PublicationId = Annotated[str, Path(pattern=PUBLICATION_ID, description="publication id (pub-…)")]
PlanId = Annotated[str, Path(pattern=PLAN_ID, description="spot-check plan id (sc-…)")]
Q = Annotated[
    str | None,
    Query(
        max_length=MAX_QUERY,
        description="entity name (part of it) or exact 统一社会信用代码 (search)",
    ),
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
WRITE = problem_responses(401, 403, 404, 409, 422)
PUBLIC_READ = problem_responses(404, 422)
TAGS: list[str | Any] = ["disclosure 信息公示"]
PLAN_EXAMPLE: dict[str, Any] = {
    "algorithm": "evidence-draw/v1",
    "plan_id": "sc-01a23ac6ee2e6a8c641af64da6b6",
    "items": ["wj-01-license"],
    "entities": [{"ref": "ent-1", "weight": 1}, {"ref": "ent-2", "weight": 2}],
    "officers": [{"ref": "off-1", "unit": "fj.qz.fz"}, {"ref": "off-2", "unit": "fj.qz.fz"}],
    "entity_count": 1,
    "officer_count": 2,
    "inspectors_per_entity": 2,
    "recusals": [],
    "chain_id": 31337,
    "seed_height": 120,
}
DRAW_EXAMPLE: dict[str, Any] = {
    "algorithm": "evidence-draw/v1",
    "plan_sha256": "d600cc51c08e79801bef36ebe46612b7813efd4e0acdc380ff5ac441f9f9b312",
    "seed": "0xaacbfd75a00e8244db2c13024c1d7a2f295fbcdac34c4f47b969c6c167182b56",
    "entities": ["ent-2"],
    "officers": ["off-2", "off-1"],
    "assignments": [{"entity": "ent-2", "officers": ["off-2", "off-1"]}],
}


# --- officers ------------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/publication",
    status_code=201,
    response_model=Publication,
    responses=WRITE,
    tags=TAGS,
    summary="Publish a closed case's penalty decision (行政处罚决定公示)",
)
def publish(
    case_id: CaseId, body: PublicationCreate, runtime: RuntimeDep, principal: Submitter
) -> Publication:
    """Publishes the administrative penalty decision of a case closed (结案) after handling:
    the decision number, facts, legal basis, penalty and date given here; the entity's name
    and 统一社会信用代码 and the deciding unit from the case. A `disclosure` log entry commits
    to the record's SHA-256. 404 outside the caller's jurisdiction; 409 (with the reason)
    for a case not closed, closed as 不予立案, without entity or unit, or already published."""
    return service.publish(ledger_of(runtime), principal, case_id, body)


@router.get(
    "/publications/{publication_id}",
    response_model=Publication,
    responses=problem_responses(401, 403, 404, 422),
    tags=TAGS,
    summary="A publication, published or withdrawn (公示记录)",
)
def get_publication(
    publication_id: PublicationId, runtime: RuntimeDep, principal: Submitter
) -> Publication:
    """The publication as its officers see it, withdrawn ones included; 404 outside the
    caller's jurisdiction."""
    with runtime.session() as session:
        return service.get_publication(session, principal, publication_id)


@router.post(
    "/publications/{publication_id}/withdraw",
    response_model=Publication,
    responses=WRITE,
    tags=TAGS,
    summary="Withdraw a publication, with the reason (撤回公示)",
)
def withdraw(
    publication_id: PublicationId, body: WithdrawBody, runtime: RuntimeDep, principal: Submitter
) -> Publication:
    """published → withdrawn: it leaves the public list and pages; a `disclosure` entry
    records the withdrawal (the reason's SHA-256 only). 409 if already withdrawn."""
    return service.withdraw(ledger_of(runtime), principal, publication_id, body)


# --- the public (no token) -------------------------------------------------------------


@router.get(
    "/public/penalties",
    response_model=PublicPenaltyPage,
    responses=PUBLIC_READ,
    tags=TAGS,
    summary="Published penalty decisions, no token (行政处罚公示列表)",
)
def public_penalties(
    runtime: RuntimeDep, q: Q = None, offset: Offset = 0, limit: Limit = 20
) -> PublicPenaltyPage:
    """Published administrative penalty decisions, newest first, `offset`/`limit` paged
    with the `total`; `q` keeps those whose entity's name contains it (any case) or whose
    统一社会信用代码 is it. Only allow-listed fields (docs/disclosure.md §3)."""
    with runtime.session() as session:
        return service.public_penalties(session, runtime.signer.name, q, offset, limit)


@router.get(
    "/public/penalties/{publication_id}",
    response_model=PublicPenaltyDetail,
    responses=PUBLIC_READ,
    tags=TAGS,
    summary="One published penalty decision with its proof bundle, no token (行政处罚公示详情)",
)
def public_penalty(publication_id: PublicationId, runtime: RuntimeDep) -> PublicPenaltyDetail:
    """The decision, the record whose SHA-256 its `disclosure` entry holds, and that entry's
    evidence-proof/v1 bundle (verify it offline with evidence-verify or on the portal). 404
    for an unknown or withdrawn decision."""
    with runtime.session() as session:
        return service.public_penalty(
            session,
            runtime.signer.name,
            publication_id,
            service.portal_page(runtime.settings.verifier_mount),
        )


@router.get(
    "/public/penalties/{publication_id}/proof",
    responses={
        **PUBLIC_READ,
        200: {
            "content": {"application/json": {"example": PROOF_BUNDLE}},
            "description": "the evidence-proof/v1 bundle of the decision's `disclosure` entry",
        },
    },
    tags=TAGS,
    summary="The proof bundle of a published penalty decision, no token (证明包)",
)
def public_penalty_proof(publication_id: PublicationId, runtime: RuntimeDep) -> Response:
    """The bundle alone (a download: `proof.json`), for `evidence-verify` or the portal."""
    with runtime.session() as session:
        bundle = service.public_penalty_bundle(session, runtime.signer.name, publication_id)
    return JSONResponse(
        bundle.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{publication_id}.proof.json"'},
    )


@router.get(
    "/public/spot-checks",
    response_model=PublicSpotCheckPage,
    responses=PUBLIC_READ,
    tags=TAGS,
    summary="Published spot-check plans, no token (双随机抽查公示列表)",
)
def public_spot_checks(
    runtime: RuntimeDep, q: Q = None, offset: Offset = 0, limit: Limit = 20
) -> PublicSpotCheckPage:
    """Published 双随机 plans, newest first, `offset`/`limit` paged with the `total`; `q`
    keeps plans that drew an entity whose name contains it or whose 统一社会信用代码 is it."""
    with runtime.session() as session:
        return spotchecks.public_spot_checks(session, q, offset, limit)


@router.get(
    "/public/spot-checks/{plan_id}",
    response_model=PublicSpotCheckDetail,
    responses=PUBLIC_READ,
    tags=TAGS,
    summary="One published spot check: plan, seed block, draw, results, proofs (抽查公示详情)",
)
def public_spot_check(plan_id: PlanId, runtime: RuntimeDep) -> PublicSpotCheckDetail:
    """The committed plan, the seed block (height and hash), the draw, the results by unit,
    the proof bundle of each step's log entry, and the exact command that redraws it."""
    with runtime.session() as session:
        return spotchecks.public_spot_check(session, runtime.signer.name, plan_id)


@router.get(
    "/public/spot-checks/{plan_id}/plan.json",
    responses={
        **PUBLIC_READ,
        200: {
            "content": {"application/json": {"example": PLAN_EXAMPLE}},
            "description": "the committed plan's canonical JSON (its SHA-256 is plan_sha256)",
        },
    },
    tags=TAGS,
    summary="The committed plan's canonical JSON, no token (抽查计划原文)",
)
def public_plan_json(plan_id: PlanId, runtime: RuntimeDep) -> Response:
    """Byte for byte the RFC 8785 JSON committed to the log before the draw: what
    `evidence-verify spot-check` redraws from, with the seed block's hash."""
    with runtime.session() as session:
        data = spotchecks.plan_json(session, plan_id)
    return Response(
        data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{plan_id}.plan.json"'},
    )


@router.get(
    "/public/spot-checks/{plan_id}/draw.json",
    responses={
        **PUBLIC_READ,
        200: {
            "content": {"application/json": {"example": DRAW_EXAMPLE}},
            "description": "the draw (evidence-draw/v1 DrawResult), canonical JSON",
        },
    },
    tags=TAGS,
    summary="The published draw's JSON, no token (抽取结果原文)",
)
def public_draw_json(plan_id: PlanId, runtime: RuntimeDep) -> Response:
    """What `evidence-verify spot-check … --draw` compares with the draw it recomputes;
    404 before the plan is drawn."""
    with runtime.session() as session:
        data = spotchecks.draw_json(session, plan_id)
    return Response(
        data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{plan_id}.draw.json"'},
    )
