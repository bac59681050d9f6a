"""The public 投诉举报 pages (Chinese, server-rendered, no login; docs/complaints.md §6):
``/public/complaints`` (the form, multipart, and the status lookup), the receipt page the
form's POST answers (the complaint id, the access token shown once, the receipts), and
the status page (``POST /public/complaints/status``: the id and token in the body, never
in a URL).

The form's POST goes through the same intake as ``POST /v1/public/complaints``
(:func:`evidence_api.complaints.routes.receive_complaint`: rate limit, bounded form,
attachments fixed as evidence), so the page refuses exactly what the API refuses, with
the same status and reason.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.complaints import service
from evidence_api.complaints.categories import CATEGORIES, KINDS
from evidence_api.complaints.routes import receive_complaint
from evidence_api.complaints.schemas import ACCESS_TOKEN, COMPLAINT_ID, MAX_TEXT
from evidence_api.console.web import in_session, read_form, render, runtime_of
from evidence_api.core.errors import ApiError, NotFoundError
from evidence_api.core.routing import page_router
from evidence_api.intake.public import MEDIA_TYPES

router = page_router("/public")

#: The receipt page carries the access token: never cached, never kept.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = runtime_of(request).settings
    return render(
        request,
        None,
        template,
        status,
        lang="zh",
        headers=NO_STORE,
        tab="complaints",
        kinds=list(KINDS.items()),
        categories=list(CATEGORIES.items()),
        media_types=MEDIA_TYPES,
        max_files=settings.public_max_attachments,
        max_mb=round(settings.public_max_attachment_bytes / 2**20, 1),
        max_text=MAX_TEXT,
        portal=None,
        **({"error": None, "error_field": None, "lookup_error": None} | context),
    )


@router.get("/complaints", response_class=HTMLResponse)
def complaint_form(request: Request) -> HTMLResponse:
    return _page(request, "complaints/public_form.html")


@router.post("/complaints", response_class=HTMLResponse)
async def complaint_submit(request: Request) -> HTMLResponse:
    """The form's multipart POST: the receipt page, or the form with the refusal."""
    try:
        created = await receive_complaint(request, runtime_of(request))
    except ApiError as exc:
        headers = {**NO_STORE, **exc.headers}
        response = _page(
            request,
            "complaints/public_form.html",
            exc.status,
            error=exc.detail,
            error_field=exc.field,
        )
        response.headers.update(headers)
        return response
    return _page(request, "complaints/public_receipt.html", 201, created=created)


@router.post("/complaints/status", response_class=HTMLResponse)
async def complaint_status(request: Request) -> HTMLResponse:
    """The status lookup: complaint id and access token in the urlencoded body."""
    try:
        form = await read_form(request, None)
        complaint_id = (form.get("complaint_id") or "").strip()
        token = (form.get("access_token") or "").strip()
        if not re.fullmatch(COMPLAINT_ID, complaint_id) or not re.fullmatch(ACCESS_TOKEN, token):
            raise NotFoundError("no complaint with this id and access token")
        status = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.status_of(service.check_access(s, complaint_id, token)),
        )
    except ApiError as exc:
        return _page(request, "complaints/public_form.html", exc.status, lookup_error=exc.detail)
    return _page(request, "complaints/public_status.html", found=status)
