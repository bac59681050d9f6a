"""``/v1/platform/takedowns``: the platform API (平台接口), for platform tokens only.

A platform sees its own orders and the evidence they cite, nothing else; whatever
is not its own is answered 404, exactly like what does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.intake.routes import archive, file_response
from evidence_api.takedowns import platform as service
from evidence_api.takedowns import views as takedowns_views
from evidence_api.takedowns.routes import ledger
from evidence_api.takedowns.schemas import (
    EVIDENCE_ID,
    ORDER_ID,
    AckBody,
    CitedEvidence,
    CompleteBody,
    DisputeBody,
    FeedPage,
    PlatformTakedown,
    TakedownProofs,
    TakedownPublic,
)
from evidence_api.takedowns.workflow import Action

router = APIRouter(
    prefix="/v1/platform/takedowns", tags=["platform 平台接口"], route_class=GuardedRoute
)

PlatformToken = Annotated[Principal, Depends(require("platform"))]
OrderId = Annotated[str, Path(pattern=ORDER_ID, description="takedown order id")]
EvidenceId = Annotated[str, Path(pattern=EVIDENCE_ID, description="cited evidence id")]
ERRORS = problem_responses(401, 403, 404, 422, 503)
ACT_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)


@router.get(
    "",
    response_model=FeedPage,
    responses=ERRORS,
    summary="Orders changed since a cursor, oldest change first (通知拉取)",
)
def feed(
    runtime: RuntimeDep,
    principal: PlatformToken,
    since: Annotated[
        str | None,
        Query(max_length=64, description="`next_cursor` of the previous call; none: from start"),
    ] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_FEED_PAGE)] = 100,
) -> FeedPage:
    """Poll with `since=<next_cursor>`: every order issued or changed after it, each at its
    current state, in commit order; none is skipped, whatever commits concurrently."""
    with runtime.session() as session:
        return service.feed(session, principal, status=status, since=since, limit=limit)


@router.get(
    "/{order_id}",
    response_model=PlatformTakedown,
    responses=ERRORS,
    summary="An order, its history and the proof bundles of its evidence (通知详情)",
)
def order(order_id: OrderId, runtime: RuntimeDep, principal: PlatformToken) -> PlatformTakedown:
    """Only an order sent to the token's own platform (another platform's order is 404): its state,
    deadline, history and the proof bundles of the evidence it cites."""
    return service.platform_order(archive(runtime), principal, order_id)


@router.get(
    "/{order_id}/proofs",
    response_model=TakedownProofs,
    responses=ERRORS,
    summary="Proof bundles of every state change of the order (证明包)",
)
def proofs(order_id: OrderId, runtime: RuntimeDep, principal: PlatformToken) -> TakedownProofs:
    """One evidence-proof/v1 bundle per state change of the platform's own order, each verifiable
    offline."""
    with runtime.session() as session:
        return takedowns_views.order_proofs(
            session, runtime.signer.name, order_id, platform=principal.platform or "\x00"
        )


@router.get(
    "/{order_id}/evidence/{evidence_id}",
    response_model=CitedEvidence,
    responses=ACT_ERRORS,  # 409: the item fails its integrity check
    summary="One cited evidence item and its proof bundle (证据)",
)
def evidence(
    order_id: OrderId, evidence_id: EvidenceId, runtime: RuntimeDep, principal: PlatformToken
) -> CitedEvidence:
    """An evidence item the order cites, with its proof bundle; 409 when the stored item fails its
    integrity check."""
    return service.cited_evidence(archive(runtime), principal, order_id, evidence_id)


@router.get(
    "/{order_id}/evidence/{evidence_id}/files/{name}",
    responses={**ACT_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=StreamingResponse,
    summary="A cited file, when the order grants files; recorded as a custody entry (调取)",
)
def file(
    order_id: OrderId,
    evidence_id: EvidenceId,
    name: Annotated[str, Path(min_length=1, max_length=255)],
    runtime: RuntimeDep,
    principal: PlatformToken,
) -> StreamingResponse:
    """Streams one file of cited evidence when the order grants files; the read is sealed into the
    log as a custody entry."""
    download = service.open_cited_file(archive(runtime), principal, order_id, evidence_id, name)
    return file_response(download)


@router.post(
    "/{order_id}/ack",
    response_model=TakedownPublic,
    responses=ACT_ERRORS,
    summary="Acknowledge the order (确认收到)",
)
def ack(
    order_id: OrderId,
    runtime: RuntimeDep,
    principal: PlatformToken,
    body: AckBody | None = None,
) -> TakedownPublic:
    """Records that the platform received the order (an optional note); a sealed ``takedown`` log
    entry. 409 when the order's state does not allow it."""
    note = body.note if body else None
    return service.act(ledger(runtime), principal, order_id, Action.ACK, note=note)


@router.post(
    "/{order_id}/complete",
    response_model=TakedownPublic,
    responses=ACT_ERRORS,
    summary="Report the listings removed (已下架)",
)
def complete(
    order_id: OrderId, body: CompleteBody, runtime: RuntimeDep, principal: PlatformToken
) -> TakedownPublic:
    """Records the removal time and a note; a sealed ``takedown`` log entry, and the officer's re-
    capture check follows. 409 when the state does not allow it."""
    return service.act(
        ledger(runtime),
        principal,
        order_id,
        Action.COMPLETE,
        note=body.note,
        removed_at=body.removed_at,
    )


@router.post(
    "/{order_id}/dispute",
    response_model=TakedownPublic,
    responses=ACT_ERRORS,
    summary="Dispute the order (提出异议)",
)
def dispute(
    order_id: OrderId, body: DisputeBody, runtime: RuntimeDep, principal: PlatformToken
) -> TakedownPublic:
    """Records the platform's reason for disputing the order; a sealed ``takedown`` log entry an
    officer rules on. 409 when the state does not allow it."""
    return service.act(ledger(runtime), principal, order_id, Action.DISPUTE, note=body.reason)
