"""``/v1/monitors``: what officers watch (监测任务), and their runs.

Officers and admins only (``Submitter``): a monitor makes the server fetch pages on a
schedule and keep evidence; appraisers and platforms get 403. Routes parse, authorise
and call :mod:`evidence_api.monitoring.service`; a run queued now goes through
:func:`evidence_api.monitoring.dispatch.queue_run`, like the scheduler's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.monitoring import dispatch
from evidence_api.monitoring import service as monitors
from evidence_api.monitoring.schemas import (
    MAX_ID,
    MONITOR_ID,
    MonitorCreate,
    MonitorDetail,
    MonitorPage,
    MonitorUpdate,
    RunAccepted,
    RunPage,
)
from evidence_api.units.schemas import UNIT_CODE

router = APIRouter(prefix="/v1", tags=["monitors 监测"], route_class=GuardedRoute)

MonitorId = Annotated[str, Path(pattern=MONITOR_ID, description="monitor id (mon-…)")]
Limit = Annotated[int, Query(ge=1, le=monitors.MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=64)]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


@router.post(
    "/monitors",
    status_code=201,
    response_model=MonitorDetail,
    responses=WRITE,
    summary="Create a monitor (创建监测任务)",
)
async def create_monitor(
    body: MonitorCreate, runtime: RuntimeDep, principal: Submitter
) -> JSONResponse:
    """A listing, a shop page or a platform search, on an interval or a cron schedule
    (UTC). 422 naming the field: a malformed cron expression; an interval, or a cron
    firing more often, below EVIDENCE_MONITOR_MIN_INTERVAL; a target address the capture
    refuses (loopback, private, link-local unless EVIDENCE_CAPTURE_ALLOW lists it); an
    unknown entity, platform or word list. ``next_run_at`` is the first run (jittered)."""
    created = await run_in_threadpool(
        monitors.create_monitor, runtime.session, runtime.settings, principal, body
    )
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/monitors/{created.id}"},
    )


@router.get(
    "/monitors", response_model=MonitorPage, responses=READ, summary="List monitors (监测任务列表)"
)
def list_monitors(
    runtime: RuntimeDep,
    principal: Submitter,
    platform: Annotated[str | None, Query(max_length=64, description="platform code")] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    enabled: Annotated[bool | None, Query()] = None,
    host: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    kind: Annotated[Literal["listing", "shop", "search"] | None, Query()] = None,
    unit: Annotated[
        str | None,
        Query(pattern=UNIT_CODE, description="a unit's code: its monitors and those below"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MonitorPage:
    """Newest first; deleted monitors are not listed, nor those outside the caller's
    jurisdiction (its unit and the units below it)."""
    flt = monitors.MonitorFilter(platform, entity_id, enabled, host, kind, unit)
    return monitors.list_monitors(
        runtime.session, flt, limit=limit, cursor=cursor, principal=principal
    )


@router.get(
    "/monitors/{monitor_id}",
    response_model=MonitorDetail,
    responses=READ,
    summary="A monitor, its last run and open alerts (监测任务详情)",
)
def get_monitor(monitor_id: MonitorId, runtime: RuntimeDep, principal: Submitter) -> MonitorDetail:
    """The monitor's settings, its unit, its last run and the alerts it has open. Officers and
    admins; 404 outside the caller's jurisdiction."""
    return monitors.get_monitor(runtime.session, monitor_id, principal)


@router.patch(
    "/monitors/{monitor_id}",
    response_model=MonitorDetail,
    responses=WRITE,
    summary="Change a monitor (修改监测任务)",
)
def update_monitor(
    monitor_id: MonitorId, body: MonitorUpdate, runtime: RuntimeDep, principal: Submitter
) -> MonitorDetail:
    """Name, schedule, rules, archive, enabled, entity and platform (``null`` clears
    the entity or the platform), checked as on creation; the target is fixed. A new
    schedule, or enabling the monitor, computes ``next_run_at`` again from now. ``unit``
    assigns the monitor to a unit in the caller's jurisdiction."""
    return monitors.update_monitor(
        runtime.session, runtime.settings, monitor_id, body, principal=principal
    )


@router.delete(
    "/monitors/{monitor_id}",
    status_code=204,
    response_class=Response,
    responses=READ,
    summary="Delete a monitor (删除监测任务)",
)
def delete_monitor(monitor_id: MonitorId, runtime: RuntimeDep, principal: Submitter) -> Response:
    """It stops and is no longer listed (then 404); its runs, alerts and evidence stay."""
    monitors.delete_monitor(runtime.session, monitor_id, principal=principal)
    return Response(status_code=204)


@router.get(
    "/monitors/{monitor_id}/runs",
    response_model=RunPage,
    responses=READ,
    summary="A monitor's runs (监测记录)",
)
def list_runs(
    monitor_id: MonitorId,
    runtime: RuntimeDep,
    principal: Submitter,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RunPage:
    """Newest first: status, times, what the run saw, the rules that fired, the evidence
    kept and the ``monitor`` log entry."""
    return monitors.list_runs(
        runtime.session, monitor_id, limit=limit, cursor=cursor, principal=principal
    )


@router.post(
    "/monitors/{monitor_id}/run",
    status_code=202,
    response_model=RunAccepted,
    responses=WRITE,
    summary="Run a monitor now (立即监测)",
)
async def run_now(monitor_id: MonitorId, runtime: RuntimeDep, principal: Submitter) -> JSONResponse:
    """A run is queued now, beside the schedule (which it does not move); it waits its
    turn at the target's host like any run. Follow it in ``runs_url``. 409: the monitor
    is disabled, or a run of it is already queued or running."""
    seq = await run_in_threadpool(monitors.runnable_seq, runtime.session, monitor_id, principal)
    run_id = await run_in_threadpool(dispatch.queue_run, runtime, seq)
    runs_url = f"/v1/monitors/{monitor_id}/runs"
    accepted = RunAccepted(run_id=run_id, status="queued", runs_url=runs_url)
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": runs_url}
    )
