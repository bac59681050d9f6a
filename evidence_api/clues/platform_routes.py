"""``/v1/platform/assists``: the platform's side of 协查 (政企协作), platform tokens only.

A platform sees the requests sent to it and nothing else: another platform's request
is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from evidence_api.clues import assists
from evidence_api.clues.replies import REPLY_DOC, receive_reply
from evidence_api.clues.schemas import ASSIST_ID, AssistDetail, AssistPage
from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute, streamed_body
from evidence_api.core.schemas import problem_responses

router = APIRouter(
    prefix="/v1/platform/assists", tags=["platform 平台接口"], route_class=GuardedRoute
)

PlatformToken = Annotated[Principal, Depends(require("platform"))]
AssistId = Annotated[str, Path(pattern=ASSIST_ID, description="assistance request id (ast-…)")]
ERRORS = problem_responses(401, 403, 404, 422, 503)
REPLY_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


@router.get(
    "",
    response_model=AssistPage,
    responses=ERRORS,
    summary="Assistance requests sent to this platform (协查请求)",
)
def list_requests(
    runtime: RuntimeDep,
    principal: PlatformToken,
    status: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=assists.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> AssistPage:
    """Newest first, only the token's own platform's requests; `status` (open, replied,
    closed) and `overdue` filter; `next_cursor` continues."""
    with runtime.session() as session:
        return assists.list_assists(
            session, principal, status=status, overdue=overdue, limit=limit, cursor=cursor
        )


@router.get(
    "/{assist_id}",
    response_model=AssistDetail,
    responses=ERRORS,
    summary="One request: what is asked, by when, and the replies (协查详情)",
)
def request_detail(
    assist_id: AssistId, runtime: RuntimeDep, principal: PlatformToken
) -> AssistDetail:
    """Only a request sent to the token's own platform (another platform's is 404)."""
    with runtime.session() as session:
        return assists.detail(session, assists.load(session, principal, assist_id))


@router.post(
    "/{assist_id}/reply",
    response_model=AssistDetail,
    responses=REPLY_ERRORS,
    openapi_extra=REPLY_DOC,
    summary="Reply with text and files, fixed as evidence (协查回复)",
)
@streamed_body("max_request_bytes")
async def reply(
    assist_id: AssistId, request: Request, runtime: RuntimeDep, principal: PlatformToken
) -> AssistDetail:
    """Multipart: `metadata` `{"text": …}` and up to 20 `files` (seller identity, order
    exports …). Each file becomes evidence with its own log entry and proof bundle
    (submitted by the platform token's pseudonym); the reply is a `replied` entry. 409
    once the request is closed; 413 beyond the size limits."""
    return await receive_reply(request, runtime, principal, assist_id)
