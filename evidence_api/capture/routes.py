"""``/v1/captures``: server-side web capture (网页取证), for officers and admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.capture import dispatch
from evidence_api.capture import service as captures
from evidence_api.capture.request import CaptureRequest
from evidence_api.capture.schemas import CaptureAccepted, CapturePage, CapturePublic
from evidence_api.core.deps import IdempotencyKey, RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.core.timestamps import ClientTime

router = APIRouter(prefix="/v1", tags=["captures 网页取证"], route_class=GuardedRoute)

CaptureId = Annotated[str, Path(pattern=r"^cap-[0-9a-f]{28}$", description="capture id")]
ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


@router.post(
    "/captures",
    status_code=202,
    response_model=CaptureAccepted,
    responses=ERRORS,
    summary="Capture a web page on the server (网页取证 / 录屏取证 / 过程取证)",
)
async def create_capture(
    body: CaptureRequest,
    runtime: RuntimeDep,
    principal: Submitter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The target is checked at once (a loopback, private, link-local or metadata address
    is refused unless EVIDENCE_CAPTURE_ALLOW lists it); the capture is recorded before
    this answers 202, then runs on the server. Poll ``status_url``: once ``done`` it is
    an evidence item like an upload (logged, anchored, in packages and reports)."""
    submitted = await run_in_threadpool(
        captures.submit,
        dispatch.captures_of(runtime),
        principal,
        body,
        idempotency_key,
    )
    accepted = submitted.accepted
    if not submitted.replayed:
        await run_in_threadpool(dispatch.enqueue, runtime, accepted.capture_id)
    headers = {"Location": accepted.status_url}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


@router.get(
    "/captures",
    response_model=CapturePage,
    responses=ERRORS,
    summary="List captures (取证任务列表)",
)
def list_captures(
    runtime: RuntimeDep,
    _: Submitter,
    status: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
    case: Annotated[str | None, Query(max_length=256, description="the case's number")] = None,
    entity: Annotated[str | None, Query(max_length=256)] = None,
    platform: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[ClientTime | None, Query(description="created at or after")] = None,
    until: Annotated[ClientTime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=captures.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> CapturePage:
    """Newest first."""
    flt = captures.CaptureFilter(status, case, entity, platform, since, until)
    return captures.list_captures(runtime.session, flt, limit=limit, cursor=cursor)


@router.get(
    "/captures/{capture_id}",
    response_model=CapturePublic,
    responses=ERRORS,
    summary="One capture and where it stands (取证任务状态)",
)
def get_capture(capture_id: CaptureId, runtime: RuntimeDep, _: Submitter) -> CapturePublic:
    """``queued``; ``running`` with the current step; ``done`` with the evidence id and
    its URL; ``failed`` with the precise reason (and the limit, if one ended it)."""
    return captures.get_capture(runtime.session, capture_id)
