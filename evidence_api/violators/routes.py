"""``/v1/serious-violators`` (officers and admins), ``/v1/platform/serious-violators``
(platform tokens: the feed and acknowledgements) and ``/v1/public/serious-violators``
(anyone, GET only): the serious-violator list (docs/violators.md)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, Submitter, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.disclosure.routes import Limit, Offset, Q
from evidence_api.takedowns.service import ledger_of
from evidence_api.units.schemas import UNIT_CODE
from evidence_api.violators import service
from evidence_api.violators.schemas import (
    MAX_FEED_PAGE,
    MAX_ID,
    MAX_PAGE,
    VIOLATION_ID,
    AckBody,
    AckResult,
    FeedPage,
    PlacementCreate,
    PublicViolationDetail,
    PublicViolationPage,
    RemoveBody,
    ViolationDetail,
    ViolationPage,
    ViolationProofs,
)

router = APIRouter(route_class=GuardedRoute)
OFFICERS: list[str | Enum] = ["serious violators 严重违法失信名单"]
PLATFORM: list[str | Enum] = ["platform 平台接口"]
PUBLIC: list[str | Enum] = ["disclosure 信息公示"]

Admin = Annotated[Principal, Depends(require("admin"))]
PlatformToken = Annotated[Principal, Depends(require("platform"))]
ViolationId = Annotated[
    str, Path(pattern=VIOLATION_ID, max_length=31, description="placement id (sv-…)")
]
READ_ERRORS = problem_responses(401, 403, 404, 422, 503)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)
PUBLIC_READ = problem_responses(404, 422)


@router.post(
    "/v1/serious-violators",
    status_code=201,
    response_model=ViolationDetail,
    responses=WRITE_ERRORS,
    tags=OFFICERS,
    summary="Place an entity on the serious-violator list (列入严重违法失信名单)",
)
def place(body: PlacementCreate, runtime: RuntimeDep, principal: Admin) -> ViolationDetail:
    """Admins only. The entity (and the case, if named) must be in the caller's
    jurisdiction (422 otherwise); the period is `years` (1-3, default 3) or `listed_until`,
    at most three years from `listed_from` (default now, never in the future). Writes the
    placement, feed change 'listed' with its `serious_violation` log entry, a webhook
    delivery per platform, and the `serious_listed` credit record. 409 when the entity is
    already listed."""
    return service.place(ledger_of(runtime), principal, body)


@router.get(
    "/v1/serious-violators",
    response_model=ViolationPage,
    responses=READ_ERRORS,
    tags=OFFICERS,
    summary="Placements on the list (严重违法失信名单)",
)
def list_violations(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[
        str | None, Query(pattern=r"^(listed|removed|expired)$", max_length=16)
    ] = None,
    entity: Annotated[int | None, Query(ge=1, le=MAX_ID, description="entity id")] = None,
    unit: Annotated[
        str | None, Query(pattern=UNIT_CODE, max_length=64, description="deciding unit code")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the last page")
    ] = None,
) -> ViolationPage:
    """Newest first, in the caller's jurisdiction; filter by `status`, `entity`, `unit`."""
    with runtime.session() as session:
        return service.list_violations(
            session,
            principal,
            status=status,
            entity_id=entity,
            unit=unit,
            limit=limit,
            cursor=cursor,
        )


@router.get(
    "/v1/serious-violators/{violation_id}",
    response_model=ViolationDetail,
    responses=READ_ERRORS,
    tags=OFFICERS,
    summary="A placement, its feed changes and the platforms' acknowledgements (名单详情)",
)
def violation_detail(
    violation_id: ViolationId, runtime: RuntimeDep, principal: Submitter
) -> ViolationDetail:
    """Each change with its log entry and the platforms that acknowledged it (with their
    measures). 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, violation_id))


@router.get(
    "/v1/serious-violators/{violation_id}/proofs",
    response_model=ViolationProofs,
    responses=READ_ERRORS,
    tags=OFFICERS,
    summary="Proof bundles of every entry of a placement (证明包)",
)
def violation_proofs(
    violation_id: ViolationId, runtime: RuntimeDep, principal: Submitter
) -> ViolationProofs:
    """One evidence-proof/v1 bundle per change and per acknowledgement, in feed order, each
    verifiable offline with `evidence-verify`. 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        row = service.load(session, principal, violation_id)
        return service.proofs(session, runtime.signer.name, row)


@router.post(
    "/v1/serious-violators/{violation_id}/remove",
    response_model=ViolationDetail,
    responses=WRITE_ERRORS,
    tags=OFFICERS,
    summary="Remove a placement, with the reason (移出名单)",
)
def remove(
    violation_id: ViolationId, body: RemoveBody, runtime: RuntimeDep, principal: Admin
) -> ViolationDetail:
    """Admins only: listed → removed, a feed change 'removed' and the `serious_removed`
    credit record. 409 when the placement is no longer listed."""
    return service.remove(ledger_of(runtime), principal, violation_id, body)


# --- platforms --------------------------------------------------------------------------


@router.get(
    "/v1/platform/serious-violators/feed",
    response_model=FeedPage,
    responses=READ_ERRORS,
    tags=PLATFORM,
    summary="Changes of the serious-violator list after a cursor (失信名单推送)",
)
def feed(
    runtime: RuntimeDep,
    principal: PlatformToken,
    cursor: Annotated[
        int, Query(ge=0, le=MAX_ID, description="`next_cursor` of the last call; 0: start")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 100,
) -> FeedPage:
    """Every change with `seq > cursor`, in `seq` order; every platform gets every change
    (一处失信、处处受限), the shop's id and URL only when the shop is on the reader's
    platform. None is skipped, whatever commits concurrently; `seq` has no gaps."""
    with runtime.session() as session:
        return service.feed(session, principal, cursor=cursor, limit=limit)


@router.post(
    "/v1/platform/serious-violators/changes/{seq}/ack",
    response_model=AckResult,
    responses=WRITE_ERRORS,
    tags=PLATFORM,
    summary="Acknowledge a change with the measures taken (联合惩戒措施反馈)",
)
def acknowledge(
    seq: Annotated[int, Path(ge=1, le=MAX_ID, description="the change's feed position")],
    body: AckBody,
    runtime: RuntimeDep,
    principal: PlatformToken,
) -> AckResult:
    """Once per platform and change, a `serious_violation` log entry (the note as its
    SHA-256). Repeating the same acknowledgement answers the recorded one (`created`
    false); other measures then are 409. 404 for a seq not in the feed."""
    return service.acknowledge(ledger_of(runtime), principal, seq, body)


# --- the public -------------------------------------------------------------------------


@router.get(
    "/v1/public/serious-violators",
    response_model=PublicViolationPage,
    responses=PUBLIC_READ,
    tags=PUBLIC,
    summary="The published serious-violator list, no token (严重违法失信名单公示)",
)
def public_list(
    runtime: RuntimeDep, q: Q = None, offset: Offset = 0, limit: Limit = 20
) -> PublicViolationPage:
    """Placements listed and within their period, newest first, `offset`/`limit` paged
    with the `total`; removed and expired ones are not shown. Allow-listed fields only."""
    with runtime.session() as session:
        return service.public_list(session, q, offset, limit)


@router.get(
    "/v1/public/serious-violators/{violation_id}",
    response_model=PublicViolationDetail,
    responses=PUBLIC_READ,
    tags=PUBLIC,
    summary="One published placement, no token (严重违法失信名单公示详情)",
)
def public_detail(violation_id: ViolationId, runtime: RuntimeDep) -> PublicViolationDetail:
    """The placement, its `serious_violation` entry id and that entry's proof status
    (pending, sealed, anchored). 404 for an unknown, removed or expired one."""
    with runtime.session() as session:
        return service.public_detail(session, runtime.signer.name, violation_id)
