"""信用修复 pages for officers and admins: /console/credit-repairs (the applications of
entities in the viewer's reach, filtered by status) and one application (the applicant,
the statement, the attachments as links to their evidence, each target's statutory
waiting period with its source, the timeline with each step's log entry) with the
accept/reject form while it is pending.

Each page calls what the API calls (:mod:`evidence_api.repairs.service`) with the viewer's
principal; the decision form is validated by the API's :class:`DecisionBody`, so a
refused field shows the API's reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import reshow, validated
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
from evidence_api.repairs import service
from evidence_api.repairs.schemas import REPAIR_ID, STATUS_LABELS, DecisionBody

router = page_router("/console")

RepairId = Annotated[str, Path(pattern=REPAIR_ID)]
PAGE = 50


@router.get("/credit-repairs", response_class=HTMLResponse)
def repair_list(
    request: Request,
    who: Officer,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Newest first; ``?status=`` one of applied, accepted, rejected (others: all)."""
    chosen = status if status in STATUS_LABELS else None
    found = in_session(
        request,
        lambda s: service.list_repairs(
            s, who.principal, status=chosen, entity_id=None, limit=PAGE, cursor=cursor
        ),
    )
    return render(
        request,
        who,
        "repairs/list.html",
        repairs=found.items,
        current=chosen,
        statuses=list(STATUS_LABELS.items()),
        next_url=page_url(request, cursor=found.next_cursor) if found.next_cursor else None,
        when=when,
    )


def _detail_page(
    request: Request,
    who: Viewer,
    repair_id: str,
    *,
    errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    detail = in_session(
        request, lambda s: service.detail(s, service.load(s, who.principal, repair_id))
    )
    return render(
        request,
        who,
        "repairs/detail.html",
        status=status,
        r=detail,
        errors=errors or FormErrors(),
        values=values or {"reason": ""},
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/credit-repairs/{repair_id}", response_class=HTMLResponse)
def repair_detail(request: Request, who: Officer, repair_id: RepairId) -> Response:
    return _detail_page(request, who, repair_id)


@router.post("/credit-repairs/{repair_id}/decision", response_class=HTMLResponse)
async def repair_decide(request: Request, who: Officer, repair_id: RepairId) -> Response:
    """``POST /v1/credit-repairs/{id}/decision``'s service function."""
    form = await read_form(request, who.csrf_token)
    values = {"reason": (form.get("reason") or "").strip()}
    runtime = runtime_of(request)

    def work() -> None:
        body = validated(
            DecisionBody, {"decision": form.get("decision") or "", "reason": values["reason"]}
        )
        sign, entries = service.counting(runtime.sign_receipt)
        with runtime.session() as session:
            service.decide(session, sign, who.principal, repair_id, body, datetime.now(UTC))
        runtime.queued(entries())

    try:
        await run_in_threadpool(work)
    except ApiError as exc:
        return await reshow(_detail_page, exc, request, who, repair_id, values=values)
    return redirect(f"/console/credit-repairs/{repair_id}?saved=decided")
