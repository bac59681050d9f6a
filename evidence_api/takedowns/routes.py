"""``/v1/takedowns``: officers issue takedown orders and follow them (责令下架通知)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.jurisdiction import guard
from evidence_api.core.runtime import Runtime
from evidence_api.core.schemas import problem_responses
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns import views as takedowns_views
from evidence_api.takedowns.models import TakedownOrder
from evidence_api.takedowns.schemas import (
    ORDER_ID,
    OfficerOrder,
    RulingBody,
    TakedownAssign,
    TakedownCreate,
    TakedownDetail,
    TakedownPage,
    TakedownProofs,
    TakedownPublic,
)
from evidence_api.takedowns.workflow import Action
from evidence_api.units.schemas import UNIT_CODE

router = APIRouter(prefix="/v1/takedowns", tags=["takedowns 下架通知"], route_class=GuardedRoute)

OrderId = Annotated[str, Path(pattern=ORDER_ID, description="takedown order id")]
ERRORS = problem_responses(401, 403, 404, 422, 503)
RULING_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)


def ledger(runtime: Runtime) -> takedowns.Ledger:
    """What a takedown state change uses, out of the running service."""
    return takedowns.ledger_of(runtime)


@router.post(
    "",
    status_code=201,
    response_model=OfficerOrder,
    responses=ERRORS,
    summary="Issue a takedown order to a platform (下达下架通知)",
)
def issue(body: TakedownCreate, runtime: RuntimeDep, principal: Submitter) -> OfficerOrder:
    """The order and its issuance are a `takedown` entry in the log; the platform sees it
    in its feed at once. It belongs to the issuer's unit, or to ``unit`` (a unit in the
    issuer's jurisdiction). 422: unknown platform, evidence (each named), case or unit; a
    deadline that is not in the future; a URL that is not http(s)."""
    return takedowns.issue_order(ledger(runtime), principal, body)


@router.get("", response_model=TakedownPage, responses=ERRORS, summary="List orders (下架通知列表)")
def list_orders(
    runtime: RuntimeDep,
    principal: Submitter,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    case: Annotated[str | None, Query(max_length=64, description="case number")] = None,
    unit: Annotated[
        str | None,
        Query(pattern=UNIT_CODE, description="a unit's code: its orders and those below"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=takedowns_views.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> TakedownPage:
    """Newest first, filtered by platform, status, case number or unit; ``next_cursor`` continues
    the list. Officers and admins; only the orders of the caller's unit and the units below."""
    with runtime.session() as session:
        return takedowns_views.list_orders(
            session,
            platform=platform,
            status=status,
            case_number=case,
            limit=limit,
            cursor=cursor,
            unit=unit,
            principal=principal,
        )


@router.get(
    "/{order_id}",
    response_model=TakedownDetail,
    responses=ERRORS,
    summary="An order: state, history with log entries, webhook deliveries (通知详情)",
)
def detail(order_id: OrderId, runtime: RuntimeDep, principal: Submitter) -> TakedownDetail:
    """The order's state and deadline, the evidence it cites, each state change with its log entry,
    and its webhook deliveries; 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return takedowns_views.order_detail(session, runtime.signer.name, order_id, principal)


@router.patch(
    "/{order_id}",
    response_model=OfficerOrder,
    responses=RULING_ERRORS,
    summary="Assign an order to a unit (指派)",
)
def assign(
    order_id: OrderId, body: TakedownAssign, runtime: RuntimeDep, principal: Submitter
) -> OfficerOrder:
    """The order then belongs to ``unit``, a unit in the caller's jurisdiction (a superior unit
    assigns work to a unit below it; 422 otherwise). The order itself, its entries and the
    platform's view do not change. 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return takedowns_views.assign_order(session, principal, order_id, body)


@router.get(
    "/{order_id}/proofs",
    response_model=TakedownProofs,
    responses=ERRORS,
    summary="Proof bundles of every state change of an order (证明包)",
)
def proofs(order_id: OrderId, runtime: RuntimeDep, principal: Submitter) -> TakedownProofs:
    """One evidence-proof/v1 bundle per state change of the order (issued, acknowledged, completed,
    disputed, ruled), each verifiable offline; 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return takedowns_views.order_proofs(
            session, runtime.signer.name, order_id, principal=principal
        )


@router.post(
    "/{order_id}/ruling",
    response_model=TakedownPublic,
    responses=RULING_ERRORS,
    summary="Rule on a disputed order: uphold with a new deadline, or withdraw (异议裁决)",
)
def ruling(
    order_id: OrderId, body: RulingBody, runtime: RuntimeDep, principal: Submitter
) -> TakedownPublic:
    """The ruling is a `takedown` entry (decision, reason_sha256, deadline) and a change in
    the platform's feed, which shows the decision and reason. 409 when the order is not
    disputed; 422: an uphold without a future deadline (at most 366 days ahead), a
    withdraw with one, a reason outside 1..2000 characters. 404 outside the caller's
    jurisdiction."""
    with runtime.session() as session:
        guard(
            session,
            principal,
            TakedownOrder.unit_id,
            TakedownOrder.id,
            order_id,
            f"no takedown order {order_id!r}",
        )
    return takedowns.rule_dispute(
        ledger(runtime),
        order_id,
        Action(body.decision),
        actor=principal.pseudonym,
        reason=body.reason,
        deadline=body.deadline,
    )
