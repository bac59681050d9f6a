"""投诉举报 pages for officers and admins (/console/complaints; docs/complaints.md §6): the
list with status, category and flag filters, a complaint's detail (text, complainant,
attachments' evidence, flags with their figures, steps), and the triage and resolve
forms.

Each page calls what the API calls (:mod:`evidence_api.complaints.service` and
:mod:`evidence_api.complaints.triage`) with the viewer's principal; forms are validated
by the API's request models, so a refused field shows the API's reason beside it. A flag
is shown, never acted on: a flagged complaint's forms are the same as any other's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.clues.steps import ledger_of
from evidence_api.complaints import service, triage
from evidence_api.complaints.categories import ACTIONS, CATEGORIES, STATUSES
from evidence_api.complaints.schemas import COMPLAINT_ID, ResolveBody, TriageBody
from evidence_api.console.forms import refill, reshow, trimmed, typed_id, validated
from evidence_api.console.listing import page_url, when
from evidence_api.console.registry_pages import Officer
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
)
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router

router = page_router("/console")

ComplaintId = Annotated[str, Path(pattern=COMPLAINT_ID)]
PAGE = 50


def _choice(value: str | None, allowed: Mapping[str, str]) -> str | None:
    return value if value in allowed else None


@router.get("/complaints", response_class=HTMLResponse)
def complaint_list(request: Request, who: Officer) -> Response:
    """Newest first, in the viewer's reach; ``?status=``, ``?category=``, ``?flagged=1``."""
    q = request.query_params
    status = _choice(q.get("status"), STATUSES)
    category = _choice(q.get("category"), CATEGORIES)
    flagged = {"1": True, "0": False}.get(q.get("flagged") or "")
    cursor = (q.get("cursor") or "")[:64] or None

    def work(session: Session) -> Any:
        return service.list_complaints(
            session,
            who.principal,
            status=status,
            category=category,
            flagged=flagged,
            entity_id=None,
            limit=PAGE,
            cursor=cursor,
        )

    page = in_session(request, work)  # a cursor that is not one: the app's error page
    return render(
        request,
        who,
        "complaints/list.html",
        items=page.items,
        next_url=page_url(request, cursor=page.next_cursor) if page.next_cursor else None,
        statuses=list(STATUSES.items()),
        categories=list(CATEGORIES.items()),
        status_filter=status or "",
        category_filter=category or "",
        flagged_filter="" if flagged is None else ("1" if flagged else "0"),
        when=when,
    )


def _detail_page(
    request: Request,
    who: Viewer,
    complaint_id: str,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    form: str | None = None,
    status: int = 200,
) -> Response:
    found = in_session(
        request, lambda s: service.detail(s, service.load(s, who.principal, complaint_id))
    )
    return render(
        request,
        who,
        "complaints/detail.html",
        status=status,
        c=found,
        actions=list(ACTIONS.items()),
        values=values or {},
        errors=errors or FormErrors(),
        form=form,
        when=when,
    )


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_detail(request: Request, who: Officer, complaint_id: ComplaintId) -> Response:
    return _detail_page(request, who, complaint_id)


@router.post("/complaints/{complaint_id}/triage", response_class=HTMLResponse)
async def complaint_triage(request: Request, who: Officer, complaint_id: ComplaintId) -> Response:
    """``POST /v1/complaints/{id}/triage``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, "action", "reason", "entity_id", "unit")
    data: dict[str, Any] = {"action": values["action"] or ""}
    for name in ("reason", "unit"):
        if values[name]:
            data[name] = values[name]
    if values["entity_id"]:
        data["entity_id"] = typed_id(values["entity_id"])
    runtime = runtime_of(request)
    try:
        body = validated(TriageBody, data)
        ctx = triage.Triage(ledger_of(runtime), runtime.settings.odr_default_days)
        await run_in_threadpool(triage.triage, ctx, who.principal, complaint_id, body)
    except ApiError as exc:
        return await reshow(
            _detail_page, exc, request, who, complaint_id, values=refill(values), form="triage"
        )
    return redirect(f"/console/complaints/{complaint_id}?saved=triaged")


@router.post("/complaints/{complaint_id}/resolve", response_class=HTMLResponse)
async def complaint_resolve(request: Request, who: Officer, complaint_id: ComplaintId) -> Response:
    """``POST /v1/complaints/{id}/resolve``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, "substantiated", "note")
    data: dict[str, Any] = {
        "substantiated": {"yes": True, "no": False}.get(values["substantiated"] or "")
    }
    if values["note"]:
        data["note"] = values["note"]
    try:
        body = validated(ResolveBody, data)
        await run_in_threadpool(
            triage.resolve, ledger_of(runtime_of(request)), who.principal, complaint_id, body
        )
    except ApiError as exc:
        return await reshow(
            _detail_page, exc, request, who, complaint_id, values=refill(values), form="resolve"
        )
    return redirect(f"/console/complaints/{complaint_id}?saved=resolved")
