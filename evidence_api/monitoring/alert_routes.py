"""``/v1/alerts`` (预警: list, triage, the event stream) and ``/v1/stats/monitoring``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.core.timestamps import ClientTime
from evidence_api.monitoring import alerts, stats, stream
from evidence_api.monitoring.alert_log import ledger_of
from evidence_api.monitoring.alert_schemas import (
    ALERT_ID,
    AlertDetail,
    AlertPage,
    AlertProofs,
    ConvertBody,
    DismissBody,
    MonitoringStats,
)
from evidence_api.monitoring.models import ALERT_STATUSES
from evidence_api.monitoring.observation import RULES
from evidence_api.units.schemas import UNIT_CODE

router = APIRouter(prefix="/v1", tags=["alerts 预警"], route_class=GuardedRoute)

AlertId = Annotated[str, Path(pattern=ALERT_ID, description="alert id")]
ERRORS = problem_responses(401, 403, 404, 409, 422)
Rule = Literal[RULES]  # type: ignore[valid-type]
Status = Literal[ALERT_STATUSES]  # type: ignore[valid-type]


@router.get(
    "/alerts",
    response_model=AlertPage,
    responses=ERRORS,
    summary="List alerts, newest first (预警列表)",
)
def list_alerts(
    runtime: RuntimeDep,
    principal: Submitter,
    rule: Annotated[Rule | None, Query(description="a rule, e.g. price_changed")] = None,
    platform: Annotated[str | None, Query(max_length=64, description="platform code")] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    status: Annotated[Status | None, Query(description="open, dismissed or converted")] = None,
    monitor: Annotated[str | None, Query(max_length=64, description="monitor id")] = None,
    recipient: Annotated[
        Literal["me"] | None, Query(description="me: only alerts for the caller")
    ] = None,
    since: Annotated[ClientTime | None, Query(description="created at or after")] = None,
    until: Annotated[ClientTime | None, Query(description="created before")] = None,
    unit: Annotated[
        str | None,
        Query(pattern=UNIT_CODE, description="a unit's code: its alerts and those below"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=alerts.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> AlertPage:
    """Every filter narrows the list; ``since``/``until`` need a time zone (422 otherwise)."""
    flt = alerts.AlertFilter(
        rule=rule,
        platform=platform,
        entity_id=entity_id,
        status=status,
        monitor=monitor,
        recipient=principal.pseudonym if recipient == "me" else None,
        since=since,
        until=until,
        unit=unit,
    )
    with runtime.session() as session:
        return alerts.list_alerts(session, flt, limit=limit, cursor=cursor, principal=principal)


@router.get(
    "/alerts/stream",
    response_class=stream.EventStream,
    responses={
        **problem_responses(401, 403, 422, 503),
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "server-sent events: `id: <event id>`, `event: alert.<status>`, "
            "`data: {JSON}` (docs/alerts.md)",
        },
    },
    summary="Alert events as server-sent events (预警推送)",
)
async def alert_stream(
    request: Request,
    runtime: RuntimeDep,
    principal: Submitter,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="resume after this event id")
    ] = None,
    recipient: Annotated[
        Literal["me"] | None, Query(description="me: only alerts for the caller")
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64, description="resume point")
    ] = None,
) -> stream.EventStream:
    """One event per alert event (opened, dismissed, converted), resuming after
    ``Last-Event-ID`` or ``after``; a keepalive comment every 15 s; each connection ends
    after 300 s (reconnect: the browser's EventSource does it by itself). 503 with
    ``Retry-After`` when this process already serves its most streams. Only the alerts in
    the caller's jurisdiction."""
    return stream.open_stream(
        runtime.session,
        stream.gate_of(request.app.state),
        last_event_id=last_event_id,
        after=after,
        recipient=principal.pseudonym if recipient == "me" else None,
        disconnected=request.is_disconnected,
        principal=principal,
    )


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetail,
    responses=ERRORS,
    summary="An alert with its history and log entries (预警详情)",
)
def get_alert(alert_id: AlertId, runtime: RuntimeDep, principal: Submitter) -> AlertDetail:
    """The alert, what it found (the rule and the evidence), and each state change with its log
    entry. Officers and admins; 404 outside the caller's jurisdiction (the alert's unit is its
    monitor's or its takedown order's)."""
    with runtime.session() as session:
        return alerts.get_alert(session, runtime.signer.name, alert_id, principal)


@router.get(
    "/alerts/{alert_id}/proofs",
    response_model=AlertProofs,
    responses=ERRORS,
    summary="Proof bundles of every state change of an alert (证明包)",
)
def alert_proofs(alert_id: AlertId, runtime: RuntimeDep, principal: Submitter) -> AlertProofs:
    """One evidence-proof/v1 bundle per state change of the alert (opened, dismissed, converted),
    each verifiable offline; 404 outside the caller's jurisdiction."""
    with runtime.session() as session:
        return alerts.alert_proofs(session, runtime.signer.name, alert_id, principal)


@router.post(
    "/alerts/{alert_id}/dismiss",
    response_model=AlertDetail,
    responses=ERRORS,
    summary="Dismiss an open alert, with the reason (排除)",
)
def dismiss(
    alert_id: AlertId, body: DismissBody, runtime: RuntimeDep, principal: Submitter
) -> AlertDetail:
    """open → dismissed, an ``alert`` entry in the log; 409 naming the status otherwise."""
    return alerts.dismiss(ledger_of(runtime), principal, runtime.signer.name, alert_id, body)


@router.post(
    "/alerts/{alert_id}/convert",
    response_model=AlertDetail,
    responses=ERRORS,
    summary="Convert an open alert to a clue or case (转线索)",
)
def convert(
    alert_id: AlertId, body: ConvertBody, runtime: RuntimeDep, principal: Submitter
) -> AlertDetail:
    """open → converted: with ``case_number``, the alert's evidence is linked to that case
    (422 if there is no such case, 409 if it is closed); without, a new case in 线索 is
    created for the alert's entity and linked. An ``alert`` entry records the change with
    the case's id; the case's history shows the link. 409 if the alert is not open."""
    return alerts.convert(ledger_of(runtime), principal, runtime.signer.name, alert_id, body)


@router.get(
    "/stats/monitoring",
    response_model=MonitoringStats,
    responses=ERRORS,
    summary="Alerts and takedown compliance in a window (情报分析 / 合规审查评价)",
)
async def monitoring_stats(
    runtime: RuntimeDep,
    principal: Submitter,
    since: Annotated[
        ClientTime | None, Query(description="from (inclusive); default: until − 90 days")
    ] = None,
    until: Annotated[ClientTime | None, Query(description="to (exclusive); default: now")] = None,
    platform: Annotated[str | None, Query(max_length=64, description="platform code")] = None,
) -> MonitoringStats:
    """Alerts by rule, platform, entity (top 50) and ISO week; per platform, its orders'
    median seconds to acknowledge and to complete, the share of completed orders whose
    re-capture verified removal, reappearances and overdue orders. At most 731 days. Only the
    alerts and orders in the caller's jurisdiction count."""
    win = stats.window(since, until, platform, principal)

    def compute() -> MonitoringStats:
        with runtime.session() as session:
            return stats.monitoring_stats(session, win)

    return await run_in_threadpool(compute)
