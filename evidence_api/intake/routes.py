"""``/v1/evidence`` and ``/v1/stamps``."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.core.deps import IdempotencyKey, Reader, RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute, streamed_body
from evidence_api.core.runtime import Runtime
from evidence_api.core.schemas import problem_responses
from evidence_api.core.timestamps import ClientTime
from evidence_api.intake import package as package_service
from evidence_api.intake import service as evidence_service
from evidence_api.intake import submit as intake
from evidence_api.intake.schemas import (
    EvidenceCreated,
    EvidencePage,
    EvidencePublic,
    StampRequest,
    StampResponse,
)
from evidence_api.intake.upload import receive_form
from evidence_api.integrity import service as integrity
from evidence_api.trust.roots import configured_rpc_url

router = APIRouter(prefix="/v1", tags=["evidence 证据"], route_class=GuardedRoute)

EvidenceId = Annotated[str, Path(pattern=r"^ev-[0-9a-f]{28}$", description="evidence id")]
ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


def archive(runtime: Runtime) -> evidence_service.Archive:
    """What reading evidence uses, out of the running service."""
    holdings = integrity.Holdings.of(runtime)
    return evidence_service.Archive(
        transaction=runtime.session,
        connect=runtime.engine.connect,
        store=runtime.store,
        origin=runtime.signer.name,
        sign_receipt=runtime.sign_receipt,
        queued=runtime.queued,
        verified_manifest=partial(integrity.verified_manifest, holdings),
        verified_manifests=partial(integrity.verified_manifests, holdings),
        verified_evidence=partial(integrity.verified_evidence, holdings),
    )


def package_facts(runtime: Runtime) -> package_service.PackageFacts:
    """The log key and the chain's RPC URL a package states."""
    rpc_url = runtime.chain.rpc_url if runtime.chain is not None else None
    return package_service.PackageFacts(
        log_key=runtime.signer.verifier().to_text(),
        rpc_url=rpc_url or configured_rpc_url(runtime.settings),
    )


#: A downloaded file is never active content on our origin, even if a browser were to
#: show it rather than save it: no type sniffing, and a sandbox (own origin, no scripts).
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


def file_response(download: evidence_service.FileDownload) -> StreamingResponse:
    """A stored evidence file as an attachment, with its digest and its custody entry."""
    return StreamingResponse(
        download.chunks,
        media_type=download.media_type,
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Length": str(download.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(download.name)}",
            "X-Content-SHA256": download.sha256,
            "X-Custody-Entry": download.custody_entry,
        },
    )


MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata", "files"],
                    "additionalProperties": False,
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "description": "JSON; see the EvidenceMetadata schema",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/evidence",
    status_code=201,
    response_model=EvidenceCreated,
    responses=ERRORS,
    openapi_extra=MULTIPART_DOC,
    summary="Submit evidence (提交证据)",
)
@streamed_body("max_request_bytes")
async def submit_evidence(
    request: Request,
    runtime: RuntimeDep,
    principal: Submitter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Files are hashed (SHA-256, SM3) while they stream in, stored under Object Lock,
    and recorded in the log; the answer carries the signed receipt."""
    settings = runtime.settings  # the guard has bounded the body (max_request_bytes)
    form = await receive_form(
        request.stream(),
        request.headers.get("content-type"),
        # where the store takes the file from without a copy (local: beside its objects)
        spool=await run_in_threadpool(runtime.store.spool_dir, settings.resolved_spool_dir),
        max_file_bytes=settings.max_file_bytes,
        max_files=settings.max_files,
        max_metadata_bytes=settings.max_metadata_bytes,
    )
    try:
        metadata = intake.parse_metadata(form.metadata, settings.max_metadata_bytes)
        result = await run_in_threadpool(
            intake.submit_evidence,
            intake.recorder_of(runtime),
            principal,
            metadata,
            form.files,
            idempotency_key,
        )
    finally:
        form.cleanup()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.created.model_dump(mode="json"), status_code=201, headers=headers)


@router.post(
    "/stamps",
    response_model=StampResponse,
    responses=ERRORS,
    summary="Timestamp digests without their files (哈希存证)",
)
def submit_stamps(body: StampRequest, runtime: RuntimeDep, principal: Submitter) -> Response:
    """Each SHA-256 digest becomes a ``stamp`` log entry with a signed receipt promising its
    inclusion within the maximum merge delay; the files themselves are never sent. Officers and
    admins."""
    result = intake.submit_stamps(
        intake.recorder_of(runtime), principal, body.digests, max_stamps=runtime.settings.max_stamps
    )
    # Serialised here: FastAPI would validate the 1,000 receipts against the response
    # model before encoding them.
    return Response(result.json(), media_type="application/json")


@router.get(
    "/evidence", response_model=EvidencePage, responses=ERRORS, summary="List evidence (证据列表)"
)
def list_evidence(
    runtime: RuntimeDep,
    _: Reader,
    case: Annotated[
        str | None,
        Query(
            max_length=256,
            description="a case: evidence linked to the case with this number (or id), or "
            "submitted with this case reference",
        ),
    ] = None,
    platform: Annotated[str | None, Query(max_length=256)] = None,
    entity: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[ClientTime | None, Query(description="received at or after")] = None,
    until: Annotated[ClientTime | None, Query(description="received before")] = None,
    url: Annotated[
        str | None, Query(min_length=1, max_length=2048, description="part of the source URL")
    ] = None,
    sha256: Annotated[
        str | None,
        Query(
            max_length=64,
            description="SHA-256 (64 hex digits) of one of its files, or of its manifest",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=evidence_service.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> EvidencePage:
    """Newest first, filtered by case, platform, entity, time received, source URL or a file's
    SHA-256; ``next_cursor`` continues the list. Officers, admins and appraisers."""
    flt = evidence_service.EvidenceFilter(case, platform, entity, since, until, url, sha256)
    return evidence_service.list_evidence(archive(runtime), flt, limit=limit, cursor=cursor)


@router.get(
    "/evidence/{evidence_id}",
    response_model=EvidencePublic,
    responses=ERRORS,
    summary="One evidence item (证据详情)",
)
def get_evidence(evidence_id: EvidenceId, runtime: RuntimeDep, _: Reader) -> EvidencePublic:
    """Its files (names, sizes, SHA-256 and SM3), metadata, the log entry and its state (pending,
    sealed, anchored). Officers, admins and appraisers."""
    return evidence_service.get_evidence(archive(runtime), evidence_id)


@router.get(
    "/evidence/{evidence_id}/files/{name}",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=StreamingResponse,
    summary="Download a file; recorded as a custody entry (调取记录)",
)
def download_file(
    evidence_id: EvidenceId,
    name: Annotated[str, Path(min_length=1, max_length=255)],
    runtime: RuntimeDep,
    principal: Reader,
    purpose: Annotated[
        str, Query(min_length=1, max_length=256, description="why the file is read (调取目的)")
    ],
) -> StreamingResponse:
    """Streams one stored file; ``purpose`` (调取目的) is required and the read is sealed
    into the log as a custody entry naming the caller's pseudonym."""
    download = evidence_service.open_file(archive(runtime), principal, evidence_id, name, purpose)
    return file_response(download)


@router.get(
    "/evidence/{evidence_id}/proof",
    responses={**ERRORS, 200: {"description": "evidence-proof/v1 bundle"}},
    summary="Proof bundle: pending, then sealed, then anchored (证明包)",
)
def proof(evidence_id: EvidenceId, runtime: RuntimeDep, _: Reader) -> JSONResponse:
    """The evidence-proof/v1 bundle: the signed receipt while pending, then the inclusion proof and
    checkpoint once sealed, then the anchoring transaction once anchored. Verifies offline with
    ``evidence-verify``."""
    bundle = evidence_service.proof_bundle(archive(runtime), evidence_id)
    return JSONResponse(bundle.model_dump(mode="json"))


@router.get(
    "/evidence/{evidence_id}/package",
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
    summary="Evidence package (ZIP) for offline verification; a custody entry (证据包导出)",
)
def export_package(
    evidence_id: EvidenceId,
    runtime: RuntimeDep,
    principal: Reader,
    purpose: Annotated[
        str, Query(min_length=1, max_length=256, description="why it is exported (导出目的)")
    ],
) -> StreamingResponse:
    """The files, manifest.json, proof.json, the log key, the chain facts and a README
    (evidence-package/v1, docs/package-format.md), streamed as a ZIP."""
    export = package_service.export_package(
        archive(runtime), package_facts(runtime), principal, evidence_id, purpose
    )
    return StreamingResponse(
        export.chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": f"attachment; filename={export.filename}",
            "X-Custody-Entry": export.custody_entry,
        },
    )
