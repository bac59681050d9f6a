"""``/v1/public/complaints`` (anyone: the intake and the complainant's status read) and
``/v1/complaints`` (officers and admins: the list, a complaint, triage, resolution);
docs/complaints.md §3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.clues.steps import ledger_of
from evidence_api.complaints import service, triage
from evidence_api.complaints.schemas import (
    ACCESS_TOKEN,
    COMPLAINT_ID,
    MAX_TEXT,
    ComplaintCreated,
    ComplaintDetail,
    ComplaintPage,
    ComplaintStatus,
    ResolveBody,
    TriageBody,
)
from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute, streamed_body
from evidence_api.core.ids import new_id
from evidence_api.core.runtime import Runtime
from evidence_api.core.schemas import problem_responses
from evidence_api.intake import public
from evidence_api.intake.submit import recorder_of

TAG = "complaints 投诉举报"
router = APIRouter(tags=[TAG], route_class=GuardedRoute)

ComplaintId = Annotated[str, Path(pattern=COMPLAINT_ID, description="complaint id (cp-…)")]
AccessToken = Annotated[
    str,
    Header(
        alias="X-Access-Token",
        pattern=ACCESS_TOKEN,
        description="the access token the complaint's 201 answer showed",
    ),
]
READ_ERRORS = problem_responses(401, 403, 404, 422, 503)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)
INTAKE_ERRORS = problem_responses(400, 413, 415, 422, 429, 503)

FORM_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "category", "text", "name", "contact"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["complaint", "report"]},
                        "category": {
                            "type": "string",
                            "maxLength": 32,
                            "description": "a category code (docs/complaints.md §2)",
                        },
                        "target_url": {"type": "string", "maxLength": 2048},
                        "shop_name": {"type": "string", "maxLength": 256},
                        "platform": {"type": "string", "maxLength": 64},
                        "text": {"type": "string", "maxLength": MAX_TEXT},
                        "name": {"type": "string", "maxLength": 64},
                        "contact": {"type": "string", "maxLength": 128},
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "attachments: " + ", ".join(public.MEDIA_TYPES),
                        },
                    },
                }
            }
        },
    }
}


async def receive_complaint(request: Request, runtime: Runtime) -> ComplaintCreated:
    """The intake (docs/complaints.md §3.1): rate limit, bounded form, attachments fixed,
    the complaint recorded. Shared by the API route and the public page."""
    settings = runtime.settings
    client, form = await public.receive_public(request, runtime, service.FIELDS)
    complaint_id = new_id("cp")
    try:
        req = service.parse_fields(form.fields)

        def check_target() -> None:
            with runtime.session() as session:
                service.resolve_target(session, req)

        await run_in_threadpool(check_target)
        attachments = await run_in_threadpool(
            public.fix_attachments,
            recorder_of(runtime),
            form.files,
            ref=complaint_id,
            notes="投诉举报附件 public complaint attachment",
            source_url=req.target_url,
            platform=req.platform,
            entity=req.shop_name,
        )
    finally:
        form.cleanup()

    def record() -> ComplaintCreated:
        with runtime.session() as session:
            return service.record_complaint(
                session,
                runtime.sign_receipt,
                settings,
                complaint_id=complaint_id,
                req=req,
                client=client,
                attachments=attachments,
                now=datetime.now(UTC),
            )

    created = await run_in_threadpool(record)
    runtime.queued(1)
    return created


@router.post(
    "/v1/public/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    responses=INTAKE_ERRORS,
    openapi_extra=FORM_DOC,
    summary="Submit a complaint or report (提交投诉举报)",
)
@streamed_body("max_request_bytes")
async def submit_complaint(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """No token. A `multipart/form-data` form: `kind`, `category`, the target (`target_url`
    and/or `shop_name` with `platform`), `text`, the complainant's `name` and `contact`
    (officers only), and up to `public_max_attachments` `files` (JPEG, PNG, WebP, PDF, plain
    text, MP4 by content), each fixed as evidence with its receipt. The answer shows the
    access token once. 413/415/422 name the limit broken; 429 with `Retry-After` past
    `public_rate_limit` submissions per `public_rate_window` from one client."""
    created = await receive_complaint(request, runtime)
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.get(
    "/v1/public/complaints/{complaint_id}",
    response_model=ComplaintStatus,
    responses=problem_responses(404, 422, 503),
    summary="A complaint's status, with its access token (投诉办理进度)",
)
def complaint_status(
    complaint_id: ComplaintId, runtime: RuntimeDep, token: AccessToken
) -> ComplaintStatus:
    """The status and the outcome, nothing else. 404 for an unknown id or a wrong token
    alike."""
    with runtime.session() as session:
        return service.status_of(service.check_access(session, complaint_id, token))


@router.get(
    "/v1/complaints",
    response_model=ComplaintPage,
    responses=READ_ERRORS,
    summary="Complaints and reports (投诉举报列表)",
)
def list_complaints(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[str | None, Query(max_length=16)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    flagged: Annotated[bool | None, Query(description="flagged as likely professional")] = None,
    entity: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="entity id")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> ComplaintPage:
    """Newest first, those held in the caller's jurisdiction (unit-less ones: the top's),
    filtered by status, category, flag or entity; `next_cursor` continues."""
    with runtime.session() as session:
        return service.list_complaints(
            session,
            principal,
            status=status,
            category=category,
            flagged=flagged,
            entity_id=entity,
            limit=limit,
            cursor=cursor,
        )


@router.get(
    "/v1/complaints/{complaint_id}",
    response_model=ComplaintDetail,
    responses=READ_ERRORS,
    summary="A complaint, its attachments, flags and steps (投诉举报详情)",
)
def complaint_detail(
    complaint_id: ComplaintId, runtime: RuntimeDep, principal: Submitter
) -> ComplaintDetail:
    """The text, the complainant, the attachments' evidence ids, the flags with their
    figures and every step with its log entry. 404 outside the caller's reach."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, complaint_id))


@router.post(
    "/v1/complaints/{complaint_id}/triage",
    response_model=ComplaintDetail,
    responses=WRITE_ERRORS,
    summary="Triage: to a clue, to mediation, or reject (分流)",
)
def triage_complaint(
    complaint_id: ComplaintId, body: TriageBody, runtime: RuntimeDep, principal: Submitter
) -> ComplaintDetail:
    """`to_clue` makes a clue (entity required), `to_odr` opens an ODR mediation
    (complaints only), `reject` needs a reason. Only a `received` complaint (409
    otherwise); a flag changes nothing here."""
    ctx = triage.Triage(ledger_of(runtime), runtime.settings.odr_default_days)
    return triage.triage(ctx, principal, complaint_id, body)


@router.post(
    "/v1/complaints/{complaint_id}/resolve",
    response_model=ComplaintDetail,
    responses=WRITE_ERRORS,
    summary="Resolve, substantiated or not (办结)",
)
def resolve_complaint(
    complaint_id: ComplaintId, body: ResolveBody, runtime: RuntimeDep, principal: Submitter
) -> ComplaintDetail:
    """A `clue` or `odr` complaint becomes `resolved`; substantiated with a known entity it
    adds a `complaint_verified` credit record (source `complaint:<id>`)."""
    return triage.resolve(ledger_of(runtime), principal, complaint_id, body)
