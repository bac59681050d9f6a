"""``/v1/public/credit-repairs`` (the applicant, no token) and ``/v1/credit-repairs`` (officers
and admins within the entity's jurisdiction); docs/credit-repair.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute, streamed_body
from evidence_api.core.schemas import problem_responses
from evidence_api.intake.public import MEDIA_TYPES
from evidence_api.repairs import service
from evidence_api.repairs.intake import receive_application
from evidence_api.repairs.schemas import (
    MAX_RECORDS,
    MAX_STATEMENT,
    REPAIR_ID,
    DecisionBody,
    RepairDetail,
    RepairPage,
    RepairReceipt,
    RepairStatus,
)

router = APIRouter(prefix="/v1", tags=["credit repair 信用修复"], route_class=GuardedRoute)

RepairId = Annotated[str, Path(pattern=REPAIR_ID, description="application id (rp-…)")]
READ_ERRORS = problem_responses(401, 403, 404, 422, 503)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)
APPLY_ERRORS = problem_responses(400, 409, 413, 415, 422, 429, 503)

APPLY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["applicant_name", "applicant_contact", "statement", "pledge"],
                    "properties": {
                        "uscc": {
                            "type": "string",
                            "maxLength": 32,
                            "description": "统一社会信用代码 of the entity",
                            "example": "91350100M000100Y43",
                        },
                        "shop_name": {
                            "type": "string",
                            "maxLength": 256,
                            "description": "shop name (with platform)",
                        },
                        "platform": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "platform code (with shop_name)",
                        },
                        "violation_id": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "the serious-violator placement to remove (sv-…)",
                        },
                        "record_refs": {
                            "type": "string",
                            "maxLength": 600,
                            "description": f"credit records to repair, cr-<n> separated by "
                            f"commas or spaces (at most {MAX_RECORDS})",
                            "example": "cr-12, cr-15",
                        },
                        "applicant_name": {"type": "string", "maxLength": 64},
                        "applicant_contact": {"type": "string", "maxLength": 128},
                        "statement": {
                            "type": "string",
                            "maxLength": MAX_STATEMENT,
                            "description": "整改情况 (stored; the log holds its SHA-256)",
                        },
                        "pledge": {
                            "type": "string",
                            "enum": ["true"],
                            "description": "信用承诺书 accepted",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "整改材料: each fixed as evidence with a receipt "
                            "(jpeg, png, webp, pdf, plain text, mp4; declared and by "
                            "content, else 415)",
                        },
                    },
                },
                "encoding": {"files": {"contentType": ", ".join(MEDIA_TYPES)}},
            }
        },
    }
}


@router.post(
    "/public/credit-repairs",
    status_code=201,
    response_model=RepairReceipt,
    responses=APPLY_ERRORS,
    openapi_extra=APPLY_DOC,
    summary="Apply for credit repair, no token (申请信用修复)",
)
@streamed_body("max_request_bytes")
async def apply(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """The entity (`uscc`, or `shop_name` with `platform`; exactly one must match, else
    422 saying why), what to repair (`violation_id` and/or `record_refs` of that entity),
    the applicant, the statement (整改情况), `pledge=true` (信用承诺书) and the attachments
    (整改材料, at least one), each fixed as evidence. 201: the application id, the access
    token (shown once) and every attachment's receipt. 422 when a statutory waiting period
    has not passed (naming the earliest date), 409 when another application for the same
    target is pending; 413/415/422 for a refused form, 429 with `Retry-After` past the
    client's rate limit."""
    receipt = await receive_application(request, runtime)
    return JSONResponse(receipt.model_dump(mode="json"), status_code=201)


@router.get(
    "/public/credit-repairs/{repair_id}",
    response_model=RepairStatus,
    responses=problem_responses(404, 422, 503),
    summary="The status of a credit repair application, by its access token (修复进度查询)",
)
def public_status(
    repair_id: RepairId,
    runtime: RuntimeDep,
    x_access_token: Annotated[
        str | None,
        Header(max_length=128, description="the access token given when applying"),
    ] = None,
) -> RepairStatus:
    """Status and the decision's reason, nothing else. An unknown id, a missing or a wrong
    `X-Access-Token` all answer the same 404."""
    with runtime.session() as session:
        return service.public_status(session, repair_id, x_access_token)


@router.get(
    "/credit-repairs",
    response_model=RepairPage,
    responses=READ_ERRORS,
    summary="Credit repair applications (信用修复申请列表)",
)
def list_repairs(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[
        str | None, Query(max_length=16, description="applied, accepted or rejected")
    ] = None,
    entity: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="entity id")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the last page")
    ] = None,
) -> RepairPage:
    """Newest first: the applications of entities in the caller's jurisdiction; filter by
    `status` or `entity`; `next_cursor` continues."""
    with runtime.session() as session:
        return service.list_repairs(
            session, principal, status=status, entity_id=entity, limit=limit, cursor=cursor
        )


@router.get(
    "/credit-repairs/{repair_id}",
    response_model=RepairDetail,
    responses=READ_ERRORS,
    summary="A credit repair application with its attachments and steps (信用修复申请详情)",
)
def repair_detail(repair_id: RepairId, runtime: RuntimeDep, principal: Submitter) -> RepairDetail:
    """The application, the applicant, the attachments' evidence ids, each target's
    statutory waiting period (with its legal source) and every step with its log entry.
    404 outside the caller's reach."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, repair_id))


@router.post(
    "/credit-repairs/{repair_id}/decision",
    response_model=RepairDetail,
    responses=WRITE_ERRORS,
    summary="Accept or reject a credit repair application (信用修复决定)",
)
def decide(
    repair_id: RepairId, body: DecisionBody, runtime: RuntimeDep, principal: Submitter
) -> RepairDetail:
    """`accept` (waiting periods checked again): the placement removed, a `repair_accepted`
    credit record covering the repaired records (the grade recomputed), an `accepted`
    step; `reject`: a `rejected` step. `reason` is required. 409 once decided (a decision
    is final); 422 when a waiting period has not passed or a target changed since."""
    sign, entries = service.counting(runtime.sign_receipt)
    with runtime.session() as session:
        repair = service.decide(session, sign, principal, repair_id, body, datetime.now(UTC))
        answer = service.detail(session, repair)
    runtime.queued(entries())
    return answer
