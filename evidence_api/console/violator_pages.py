"""严重违法失信名单 pages: the list, the placement form (admins), a placement with its feed
changes and the platforms' acknowledgements, and removal (admins), at
/console/serious-violators; the platform's feed with the acknowledgement form at
/console/platform/serious-violators.

Each page calls what the API calls (:mod:`evidence_api.violators.service`) with the
viewer's principal; forms are validated by the API's request models, so a refused field
shows the API's reason beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import reshow, trimmed, typed_id, validated
from evidence_api.console.listing import page_url, when
from evidence_api.console.platform_pages import PlatformViewer
from evidence_api.console.registry_pages import Officer
from evidence_api.console.takedown_pages import zoned
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
)
from evidence_api.core.errors import ApiError, ForbiddenError
from evidence_api.core.routing import page_router
from evidence_api.takedowns.service import ledger_of
from evidence_api.violators import service
from evidence_api.violators.schemas import (
    MEASURES,
    STATUS_LABELS,
    VIOLATION_ID,
    AckBody,
    PlacementCreate,
    RemoveBody,
)

router = page_router("/console")

ViolationId = Annotated[str, Path(pattern=VIOLATION_ID)]
PAGE = 50
FEED_PAGE = 50
PLACE_FIELDS = ("entity_id", "legal_basis", "reason", "case_id", "unit", "years", "listed_until")


def _blank() -> dict[str, Any]:
    return {
        "entity_id": "",
        "legal_basis": "",
        "reason": "",
        "case_id": "",
        "unit": "",
        "years": "3",
        "listed_until": "",
    }


def _admin_only(who: Viewer) -> None:
    if who.role != "admin":
        raise ForbiddenError("only administrators place entities on the list or remove them")


def _list_page(
    request: Request,
    who: Viewer,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    cursor = request.query_params.get("cursor") or None
    wanted = request.query_params.get("status") or None
    if wanted not in STATUS_LABELS:
        wanted = None

    def work(session: Session) -> Any:
        return service.list_violations(
            session,
            who.principal,
            status=wanted,
            entity_id=None,
            unit=None,
            limit=PAGE,
            cursor=cursor[:64] if cursor else None,
        )

    found = in_session(request, work)
    return render(
        request,
        who,
        "violators/list.html",
        status=status,
        rows=found.items,
        next_url=page_url(request, cursor=found.next_cursor) if found.next_cursor else None,
        statuses=list(STATUS_LABELS.items()),
        wanted=wanted,
        values=values or _blank(),
        errors=errors or FormErrors(),
        admin=who.role == "admin",
        when=when,
    )


@router.get("/serious-violators", response_class=HTMLResponse)
def violators(request: Request, who: Officer) -> Response:
    return _list_page(request, who)


@router.post("/serious-violators", response_class=HTMLResponse)
async def place(request: Request, who: Officer) -> Response:
    """``POST /v1/serious-violators``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = _blank() | {k: v or "" for k, v in trimmed(form, *PLACE_FIELDS).items()}
    data: dict[str, Any] = {
        "entity_id": typed_id(values["entity_id"]),
        "legal_basis": values["legal_basis"],
        "reason": values["reason"],
    }
    if values["case_id"]:
        data["case_id"] = typed_id(values["case_id"])
    if values["unit"]:
        data["unit"] = values["unit"]
    if values["listed_until"]:
        data["listed_until"] = zoned(values["listed_until"]) or ""
    else:
        data["years"] = typed_id(values["years"] or "3")
    try:
        _admin_only(who)
        body = validated(PlacementCreate, data)
        made = await run_in_threadpool(
            service.place, ledger_of(runtime_of(request)), who.principal, body
        )
    except ApiError as exc:
        return await reshow(_list_page, exc, request, who, values=values)
    return redirect(f"/console/serious-violators/{made.violation_id}?saved=placed")


def _detail_page(
    request: Request,
    who: Viewer,
    violation_id: str,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    found = in_session(
        request, lambda s: service.detail(s, service.load(s, who.principal, violation_id))
    )
    return render(
        request,
        who,
        "violators/detail.html",
        status=status,
        v=found,
        admin=who.role == "admin",
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/serious-violators/{violation_id}", response_class=HTMLResponse)
def violator(request: Request, who: Officer, violation_id: ViolationId) -> Response:
    return _detail_page(request, who, violation_id)


@router.post("/serious-violators/{violation_id}/remove", response_class=HTMLResponse)
async def remove(request: Request, who: Officer, violation_id: ViolationId) -> Response:
    """``POST /v1/serious-violators/{id}/remove``'s service function (admins)."""
    form = await read_form(request, who.csrf_token)
    try:
        _admin_only(who)
        body = validated(RemoveBody, {"reason": (form.get("reason") or "").strip()})
        await run_in_threadpool(
            service.remove, ledger_of(runtime_of(request)), who.principal, violation_id, body
        )
    except ApiError as exc:
        return await reshow(_detail_page, exc, request, who, violation_id)
    return redirect(f"/console/serious-violators/{violation_id}?saved=removed")


# --- the platform's side ------------------------------------------------------------------


def _feed_page(
    request: Request,
    who: Viewer,
    cursor: int,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    found = in_session(
        request, lambda s: service.feed(s, who.principal, cursor=cursor, limit=FEED_PAGE)
    )
    return render(
        request,
        who,
        "violators/platform_feed.html",
        status=status,
        rows=found.items,
        cursor=cursor,
        next_url=page_url(request, cursor=str(found.next_cursor)) if found.more else None,
        measures=list(MEASURES.items()),
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/platform/serious-violators", response_class=HTMLResponse)
def platform_feed(
    request: Request,
    who: PlatformViewer,
    cursor: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> Response:
    return _feed_page(request, who, cursor)


@router.post("/platform/serious-violators/{seq}/ack", response_class=HTMLResponse)
async def platform_ack(
    request: Request,
    who: PlatformViewer,
    seq: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    """``POST /v1/platform/serious-violators/changes/{seq}/ack``'s service function."""
    form = await read_form(request, who.csrf_token)
    measures = [code for code in MEASURES if form.get(f"measure_{code}") in ("1", "on")]
    note = (form.get("note") or "").strip() or None
    cursor = max(seq - 1, 0)
    try:
        body = validated(AckBody, {"measures": measures, "note": note})
        await run_in_threadpool(
            service.acknowledge, ledger_of(runtime_of(request)), who.principal, seq, body
        )
    except ApiError as exc:
        return await reshow(_feed_page, exc, request, who, cursor)
    return redirect(f"/console/platform/serious-violators?cursor={cursor}&saved=acked")
