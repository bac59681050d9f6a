"""``/v1/platforms``, ``/v1/entities``, ``/v1/cases``: the registries of the supervision work.

Who may call what (and why):

- platforms: admins create and change them (webhook settings and secret); officers
  and admins read them (an officer picks the platform an order goes to);
- entities and cases: officers and admins, read and write;
- appraisers and platform tokens get 403: appraisers work from evidence ids and
  proof bundles, and enforcement files (suspects, officers, case status) are not
  theirs to browse; a platform sees its own orders only (the takedown API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from evidence_api.core.auth import PLATFORM_CODE, Principal
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.registry import cases, entities, platforms
from evidence_api.registry.schemas import (
    CaseCreate,
    CaseEventPage,
    CasePage,
    CasePublic,
    CaseTransition,
    CaseUpdate,
    EntityCreate,
    EntityPage,
    EntityPublic,
    EntityUpdate,
    EvidenceLink,
    LinkResult,
    PlatformCreate,
    PlatformPage,
    PlatformPublic,
    PlatformUpdate,
    PlatformWithSecret,
    RiskGrade,
)
from evidence_api.units.schemas import UNIT_CODE

Admin = Annotated[Principal, Depends(require("admin"))]
Officer = Annotated[Principal, Depends(require("officer", "admin"))]

Code = Annotated[str, Path(pattern=PLATFORM_CODE, description="platform code")]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1, description="trading entity id")]
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="case id")]
Limit = Annotated[int, Query(ge=1, le=platforms.MAX_PAGE)]
UnitFilter = Annotated[
    str | None,
    Query(pattern=UNIT_CODE, description="a unit's code: its rows and those of the units below"),
]
Cursor = Annotated[str | None, Query(max_length=64)]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(401, 403, 404, 409, 422, 503)

platform_router = APIRouter(
    prefix="/v1/platforms", tags=["platforms 平台"], route_class=GuardedRoute
)
entity_router = APIRouter(
    prefix="/v1/entities", tags=["entities 网络交易经营者"], route_class=GuardedRoute
)
case_router = APIRouter(prefix="/v1/cases", tags=["cases 案件"], route_class=GuardedRoute)

# --- platforms ------------------------------------------------------------------------


@platform_router.post(
    "",
    status_code=201,
    response_model=PlatformWithSecret,
    responses=WRITE,
    summary="Register a platform (登记平台)",
)
def create_platform(body: PlatformCreate, runtime: RuntimeDep, _: Admin) -> PlatformWithSecret:
    """Without ``webhook_secret`` one is generated and shown in this answer only."""
    with runtime.session() as session:
        return platforms.create_platform(session, runtime.settings, body)


@platform_router.get("", response_model=PlatformPage, responses=READ, summary="List platforms")
def list_platforms(
    runtime: RuntimeDep, _: Officer, limit: Limit = 50, cursor: Cursor = None
) -> PlatformPage:
    """Newest first; ``next_cursor`` continues the list. Officers and admins (an officer picks the
    platform an order goes to)."""
    with runtime.session() as session:
        return platforms.list_platforms(session, limit=limit, cursor=cursor)


@platform_router.get(
    "/{code}", response_model=PlatformPublic, responses=READ, summary="Read a platform"
)
def get_platform(code: Code, runtime: RuntimeDep, _: Officer) -> PlatformPublic:
    """Name and webhook settings; the webhook secret is never shown again (``webhook_secret_set``
    says whether one is set)."""
    with runtime.session() as session:
        return platforms.get_platform(session, code)


@platform_router.patch(
    "/{code}", response_model=PlatformPublic, responses=WRITE, summary="Change a platform"
)
def update_platform(
    code: Code, body: PlatformUpdate, runtime: RuntimeDep, _: Admin
) -> PlatformPublic:
    """Name and webhook settings; the code is fixed (tokens are bound to it)."""
    with runtime.session() as session:
        return platforms.update_platform(session, runtime.settings, code, body)


@platform_router.post(
    "/{code}/webhook-secret",
    response_model=PlatformWithSecret,
    responses=WRITE,
    summary="Rotate the webhook secret (shown once)",
)
def rotate_webhook_secret(code: Code, runtime: RuntimeDep, _: Admin) -> PlatformWithSecret:
    """A new generated secret, shown in this answer only; the old one stops signing deliveries at
    once. Admins."""
    with runtime.session() as session:
        return platforms.rotate_secret(session, runtime.settings, code)


# --- entities -------------------------------------------------------------------------


@entity_router.post(
    "",
    status_code=201,
    response_model=EntityPublic,
    responses=WRITE,
    summary="Register an online trading entity (登记网络交易经营者)",
)
def create_entity(body: EntityCreate, runtime: RuntimeDep, principal: Officer) -> EntityPublic:
    """The 统一社会信用代码, when given, must pass GB 32100-2015 (422 says why not). The entity
    belongs to the caller's unit, or to ``unit`` when named (a unit in the caller's
    jurisdiction; 422 otherwise)."""
    with runtime.session() as session:
        return entities.create_entity(session, body, principal)


@entity_router.get("", response_model=EntityPage, responses=READ, summary="List entities")
def list_entities(
    runtime: RuntimeDep,
    principal: Officer,
    platform: Annotated[str | None, Query(max_length=64, description="platform code")] = None,
    uscc: Annotated[str | None, Query(max_length=64, description="统一社会信用代码")] = None,
    risk_grade: Annotated[RiskGrade | None, Query()] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=256, description="part of the shop name")
    ] = None,
    unit: UnitFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EntityPage:
    """Newest first, filtered by platform, 统一社会信用代码, risk grade, part of the shop name or
    unit; ``next_cursor`` continues the list. Only the entities of the caller's unit and the
    units below it."""
    flt = entities.EntityFilter(platform=platform, uscc=uscc, risk_grade=risk_grade, q=q, unit=unit)
    with runtime.session() as session:
        return entities.list_entities(session, flt, limit=limit, cursor=cursor, principal=principal)


@entity_router.get(
    "/{entity_id}", response_model=EntityPublic, responses=READ, summary="Read an entity"
)
def get_entity(entity_id: EntityId, runtime: RuntimeDep, principal: Officer) -> EntityPublic:
    """The shop, its platform, its 统一社会信用代码, its risk grade (A-D) and its unit; 404
    outside the caller's jurisdiction."""
    with runtime.session() as session:
        return entities.get_entity(session, entity_id, principal)


@entity_router.patch(
    "/{entity_id}", response_model=EntityPublic, responses=WRITE, summary="Change an entity"
)
def update_entity(
    entity_id: EntityId, body: EntityUpdate, runtime: RuntimeDep, principal: Officer
) -> EntityPublic:
    """Only the fields the body names change; ``null`` clears a field that may be empty. A duplicate
    shop id on the platform is 409. ``unit`` assigns the entity to a unit in the caller's
    jurisdiction (a superior unit assigns work down)."""
    with runtime.session() as session:
        return entities.update_entity(session, entity_id, body, principal)


# --- cases ----------------------------------------------------------------------------


@case_router.post(
    "",
    status_code=201,
    response_model=CasePublic,
    responses=WRITE,
    summary="Open a case as a lead (线索)",
)
def create_case(body: CaseCreate, runtime: RuntimeDep, principal: Officer) -> CasePublic:
    """A new case in status 线索 (lead), optionally about an entity and an officer; its creation is
    the first event of its history."""
    with runtime.session() as session:
        return cases.create_case(session, principal, body)


@case_router.get("", response_model=CasePage, responses=READ, summary="List cases")
def list_cases(
    runtime: RuntimeDep,
    principal: Officer,
    status: Annotated[
        str | None, Query(max_length=16, description="status code or label, e.g. filed or 立案")
    ] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    number: Annotated[str | None, Query(max_length=64, description="案件编号")] = None,
    unit: UnitFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CasePage:
    """Newest first, filtered by status, officer, entity, case number or unit; ``next_cursor``
    continues the list. Only the cases of the caller's unit and the units below it."""
    flt = cases.CaseFilter(
        status=status, officer=officer, entity_id=entity_id, number=number, unit=unit
    )
    with runtime.session() as session:
        return cases.list_cases(session, flt, limit=limit, cursor=cursor, principal=principal)


@case_router.get("/{case_id}", response_model=CasePublic, responses=READ, summary="Read a case")
def get_case(case_id: CaseId, runtime: RuntimeDep, principal: Officer) -> CasePublic:
    """The case, its status, its unit and the evidence linked to it; 404 outside the caller's
    jurisdiction."""
    with runtime.session() as session:
        return cases.get_case(session, case_id, principal)


@case_router.patch(
    "/{case_id}",
    response_model=CasePublic,
    responses=WRITE,
    summary="Change title, entity, officer or unit",
)
def update_case(
    case_id: CaseId, body: CaseUpdate, runtime: RuntimeDep, principal: Officer
) -> CasePublic:
    """Only the fields the body names change; the change is an event of the case's history (who,
    when, what). A closed case is 409. ``unit`` assigns the case to a unit in the caller's
    jurisdiction (a superior unit assigns work down); 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return cases.update_case(session, principal, case_id, body)


@case_router.post(
    "/{case_id}/transition",
    response_model=CasePublic,
    responses=WRITE,
    summary="Move the case along 线索 → 立案 → 调查 → 处理 → 结案",
)
def transition_case(
    case_id: CaseId, body: CaseTransition, runtime: RuntimeDep, principal: Officer
) -> CasePublic:
    """One step forward; 线索 → 结案 is 不予立案 (outcome ``not_filed``). Anything else: 409 naming
    the allowed moves. 处理 → 结案 needs ``outcome``: ``penalty`` (行政处罚), or ``reduced`` /
    ``no_penalty`` citing an active 免罚清单 item (``leniency_item``) whose every condition holds
    (首次违法 from the entity's history, ``corrected_in_time``, ``minor_harm``); otherwise 422
    naming each failed condition and what was found (docs/leniency.md). The outcome, the
    reasoning and ``closed_at`` are stored, a ``case_outcome`` log entry is written and, for a
    case with an entity, its credit record (case_penalty / case_reduced / case_no_penalty)."""
    with runtime.session() as session:
        answer = cases.transition_case(session, runtime.sign_receipt, principal, case_id, body)
    if answer.outcome is not None:  # the case_outcome entry, and the credit record's
        runtime.queued(1 if answer.entity_id is None else 2)
    return answer


@case_router.post(
    "/{case_id}/evidence",
    response_model=LinkResult,
    responses=WRITE,
    summary="Link evidence to the case",
)
def link_evidence(
    case_id: CaseId, body: EvidenceLink, runtime: RuntimeDep, principal: Officer
) -> LinkResult:
    """404 names every evidence id that does not exist; already linked ones are skipped."""
    with runtime.session() as session:
        return cases.link_evidence(session, principal, case_id, body)


@case_router.get(
    "/{case_id}/events",
    response_model=CaseEventPage,
    responses=READ,
    summary="The case's history (办案记录), oldest first",
)
def case_events(
    case_id: CaseId,
    runtime: RuntimeDep,
    principal: Officer,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CaseEventPage:
    """Every creation, change, transition and evidence link, each with who did it (pseudonym and
    display name) and when; ``next_cursor`` continues."""
    with runtime.session() as session:
        return cases.case_events(session, case_id, limit=limit, cursor=cursor, principal=principal)


#: Included one by one: FastAPI builds a nested router's routes when it is included.
routers = (platform_router, entity_router, case_router)
