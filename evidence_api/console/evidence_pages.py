"""Evidence: list with search, detail (files with previews, manifest, proof timeline,
custody, downloads) and the upload page (its script posts to ``POST /v1/evidence``).

The pages call the same service functions as ``/v1/evidence`` (the list's filters are
the API's); only a file preview is served here, because the API's download is an
attachment a frame would not show: the preview is the same custody-recorded read,
answered inline under a ``sandbox`` Content-Security-Policy (scripts never run, the
document has an origin of its own) so a captured page cannot act on ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.console import evidence_facts as facts
from evidence_api.console import listing
from evidence_api.console.listing import BEIJING
from evidence_api.console.web import FormErrors, Viewer, render, runtime_of, viewer
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.core.timestamps import check_client_time
from evidence_api.intake import service as evidence_service
from evidence_api.intake.routes import archive
from evidence_api.intake.schemas import EvidencePage, EvidencePublic

router = page_router("/console")

READERS = ("officer", "admin", "appraiser")
SUBMITTERS = ("officer", "admin")
#: Items on one list page.
PAGE = 25
#: Bounds of the list's filter fields (the API's own).
FILTERS = {
    "url": 2048,
    "platform": 256,
    "entity": 256,
    "case": 256,
    "sha256": 64,
    "since": 40,
    "until": 40,
    "cursor": 64,
}
EvidenceId = Annotated[str, Path(pattern=r"^ev-[0-9a-f]{28}$")]
#: Media types shown inline: images in ``<img>``, pages in a sandboxed frame.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
#: Headers of a preview: its own opaque origin (sandbox), no scripts, nothing fetched
#: from elsewhere (a captured page's trackers stay silent), framed only by us.
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_RFC3339_ZONE = re.compile(r"(?:[zZ]|[+-]\d\d:\d\d)$")


def when(value: datetime | None) -> str:
    """A time as officers read it: Beijing time, to the second (``—`` when unknown)."""
    return listing.when(value, labelled=True, missing="—")


def preview_kind(media_type: str) -> str | None:
    """``image``, ``page`` or None (not previewed), by the manifest's media type."""
    base = media_type.split(";", maxsplit=1)[0].strip().lower()
    if base in IMAGE_TYPES:
        return "image"
    if base in PAGE_TYPES:
        return "page"
    return None


def parse_time(name: str, raw: str) -> datetime:
    """A filter's time: RFC 3339 with a zone, or ``datetime-local`` (Beijing time)."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{name}: not a time such as 2026-11-26T14:00 or 2026-11-26T14:00:00+08:00",
            field=name,
        ) from exc
    if value.tzinfo is None and not _RFC3339_ZONE.search(text):
        value = value.replace(tzinfo=BEIJING)
    try:
        return check_client_time(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name}: {exc}", field=name) from exc


@dataclass(frozen=True)
class Search:
    """The list's query: the values as typed (to fill the form again) and the filter."""

    values: dict[str, str]
    flt: evidence_service.EvidenceFilter
    cursor: str | None


def parse_search(params: Mapping[str, str]) -> Search:
    """The list page's query parameters, bounded; the first bad one raises
    :class:`InvalidInputError` naming its field."""
    values: dict[str, str] = {}
    for name, limit in FILTERS.items():
        raw = params.get(name, "").strip()
        if len(raw) > limit:
            raise InvalidInputError(f"{name}: at most {limit} characters", field=name)
        values[name] = raw
    given = {name: (value or None) for name, value in values.items()}
    since = parse_time("since", values["since"]) if values["since"] else None
    until = parse_time("until", values["until"]) if values["until"] else None
    flt = evidence_service.EvidenceFilter(
        case_ref=given["case"],
        platform=given["platform"],
        entity=given["entity"],
        since=since,
        until=until,
        url=given["url"],
        sha256=given["sha256"],
    )
    return Search(values, flt, given["cursor"])


def _list(runtime: Runtime, search: Search) -> tuple[EvidencePage, dict[str, str]]:
    page = evidence_service.list_evidence(
        archive(runtime), search.flt, limit=PAGE, cursor=search.cursor
    )
    return page, facts.states(runtime, [item.evidence_id for item in page.items])


@router.get("/evidence", response_class=HTMLResponse)
async def evidence_list(
    request: Request, who: Annotated[Viewer, Depends(viewer(*READERS))]
) -> HTMLResponse:
    """证据列表: newest first, filtered as ``GET /v1/evidence`` filters, by cursor."""
    runtime = runtime_of(request)
    params = dict(request.query_params)
    values = {name: str(params.get(name, ""))[: FILTERS[name]] for name in FILTERS}
    try:
        search = parse_search(params)
        page, states = await run_in_threadpool(_list, runtime, search)
    except InvalidInputError as exc:
        return render(
            request,
            who,
            "evidence/list.html",
            status=exc.status,
            values=values,
            errors=FormErrors.of(exc),
            items=[],
            states={},
            next_url=None,
            filtered=True,
            when=when,
        )
    next_url = None
    if page.next_cursor is not None:
        kept = {k: v for k, v in search.values.items() if v and k != "cursor"}
        next_url = "/console/evidence?" + urlencode({**kept, "cursor": page.next_cursor})
    return render(
        request,
        who,
        "evidence/list.html",
        values=search.values,
        errors=FormErrors(),
        items=page.items,
        states=states,
        next_url=next_url,
        filtered=any(v for k, v in search.values.items() if k != "cursor"),
        when=when,
    )


@dataclass(frozen=True)
class Detail:
    evidence: EvidencePublic
    bundle: Any
    timeline: facts.Timeline
    custody: list[facts.CustodyEvent]
    submitter: str


def _detail(runtime: Runtime, evidence_id: str) -> Detail:
    shelf = archive(runtime)
    evidence = evidence_service.get_evidence(shelf, evidence_id)
    bundle = evidence_service.proof_bundle(shelf, evidence_id)
    manifest = bundle.manifest
    submitter = manifest.submitter if manifest is not None else ""
    return Detail(
        evidence=evidence,
        bundle=bundle,
        timeline=facts.timeline(runtime, bundle),
        custody=facts.custody(runtime, evidence_id),
        submitter=facts.submitter_name(runtime, submitter) if submitter else "",
    )


@router.get("/evidence/{evidence_id}", response_class=HTMLResponse)
async def evidence_detail(
    request: Request,
    evidence_id: EvidenceId,
    who: Annotated[Viewer, Depends(viewer(*READERS))],
) -> HTMLResponse:
    """证据详情: files (previews on request), manifest, the proof's timeline, custody."""
    runtime = runtime_of(request)
    detail = await run_in_threadpool(_detail, runtime, evidence_id)
    names = {f.name for f in detail.evidence.files}
    preview = request.query_params.get("preview", "")
    purpose = request.query_params.get("purpose", "").strip()[:256]
    errors = FormErrors()
    shown = None
    if preview:
        if preview not in names:
            errors["preview"] = f"no file {preview[:255]!r} in this evidence"
        elif not purpose:
            errors["purpose"] = "state why the file is read (调取目的) before previewing it"
        else:
            kind = next(
                preview_kind(f.media_type) for f in detail.evidence.files if f.name == preview
            )
            if kind is not None:
                src = (
                    f"/console/evidence/{evidence_id}/files/{quote(preview, safe='')}/preview?"
                    + urlencode({"purpose": purpose})
                )
                shown = {"name": preview, "kind": kind, "src": src}
            else:
                errors["preview"] = "this file type is not previewed; download it"
    mount = runtime.settings.verifier_mount.rstrip("/")
    portal = f"{mount}/verify?" + urlencode({"leaf": detail.evidence.leaf_hash}) if mount else None
    return render(
        request,
        who,
        "evidence/detail.html",
        status=422 if errors else 200,
        ev=detail.evidence,
        bundle=detail.bundle,
        manifest=detail.bundle.manifest,
        tl=detail.timeline,
        custody=detail.custody,
        submitter=detail.submitter,
        preview_kind=preview_kind,
        shown=shown,
        purpose=purpose,
        errors=errors,
        portal=portal,
        can_submit=who.role in SUBMITTERS,
        when=when,
    )


@router.get("/evidence/{evidence_id}/files/{name}/preview")
async def evidence_preview(
    request: Request,
    evidence_id: EvidenceId,
    name: Annotated[str, Path(min_length=1, max_length=255)],
    who: Annotated[Viewer, Depends(viewer(*READERS))],
) -> StreamingResponse:
    """One image or page file, inline, for the detail page's ``<img>`` or sandboxed
    ``<iframe>``: the service's checked read (a custody entry with the stated purpose)."""
    purpose = request.query_params.get("purpose", "").strip()
    if not 1 <= len(purpose) <= 256:
        raise InvalidInputError("purpose: 1 to 256 characters (调取目的)", field="purpose")
    runtime = runtime_of(request)

    def read() -> evidence_service.FileDownload:
        shelf = archive(runtime)
        row = evidence_service.get_evidence(shelf, evidence_id)
        match = next((f for f in row.files if f.name == name), None)
        if match is None:
            raise NotFoundError(f"evidence {evidence_id!r} has no file {name!r}")
        if preview_kind(match.media_type) is None:
            raise InvalidInputError(
                f"{match.media_type!r} is not previewed; download the file", field="name"
            )
        return evidence_service.open_file(
            shelf, who.principal, evidence_id, name, f"控制台预览 console preview: {purpose}"
        )

    download = await run_in_threadpool(read)
    return StreamingResponse(
        download.chunks,
        media_type=download.media_type,
        headers={
            **PREVIEW_HEADERS,
            "Content-Length": str(download.size),
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(download.name)}",
            "X-Content-SHA256": download.sha256,
            "X-Custody-Entry": download.custody_entry,
        },
    )


@router.get("/upload", response_class=HTMLResponse)
async def upload_page(
    request: Request, who: Annotated[Viewer, Depends(viewer(*SUBMITTERS))]
) -> HTMLResponse:
    """上传文件: the form ``static/evidence.js`` posts to ``POST /v1/evidence``."""
    settings = runtime_of(request).settings
    now = datetime.now(UTC).astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")
    return render(
        request,
        who,
        "evidence/upload.html",
        errors=FormErrors(),
        now=now,
        max_files=settings.max_files,
        max_file_bytes=settings.max_file_bytes,
    )
