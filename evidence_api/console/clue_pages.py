"""线索协查 pages: clues and their transfers, 协查 requests and replies (officers and
admins, /console/clues), and the platform's 协查 requests (/console/platform/assists).

Each page calls what the API calls (:mod:`evidence_api.clues.service` and
:mod:`evidence_api.clues.assists`) with the viewer's principal; forms are validated by
the API's request models, so a refused field shows the API's reason beside it. A reply
with files is posted by ``static/clues.js`` to the API's multipart reply route (the
session cookie and its CSRF header), so files are fixed as evidence by the one intake
path. Typed times without a zone are Beijing time (UTC+8).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.clues import assists, service
from evidence_api.clues import workflow as wf
from evidence_api.clues.schemas import (
    ASSIST_ID,
    CLUE_ID,
    TRANSFER_ID,
    AnswerBody,
    AssistCreate,
    ClueCreate,
    TransferCreate,
)
from evidence_api.clues.steps import ledger_of
from evidence_api.console.forms import trimmed, typed_id, validated
from evidence_api.console.listing import page_url, when
from evidence_api.console.platform_pages import PlatformViewer
from evidence_api.console.registry_pages import Officer, split_ids
from evidence_api.console.takedown_pages import local_input, zoned
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

ClueId = Annotated[str, Path(pattern=CLUE_ID)]
TransferId = Annotated[str, Path(pattern=TRANSFER_ID)]
AssistId = Annotated[str, Path(pattern=ASSIST_ID)]
Cursor = Annotated[str | None, Query(max_length=64)]
PAGE = 50
#: A new transfer's or request's deadline unless the officer picks another.
DEFAULT_SPAN = timedelta(days=7)
TOPIC_OPTIONS = list(wf.TOPICS.items())
CLUE_FIELDS = ("title", "summary", "entity_id", "evidence_ids", "case_id")
ASSIST_FIELDS = (
    "target",
    "to_unit",
    "to_platform",
    "entity_id",
    "clue_id",
    "questions",
    "deadline",
)


def _blank_values() -> dict[str, Any]:
    return {
        "title": "",
        "summary": "",
        "entity_id": "",
        "evidence_ids": "",
        "case_id": "",
        "target": "unit",
        "to_unit": "",
        "to_platform": "",
        "clue_id": "",
        "topics": [],
        "questions": "",
        "deadline": local_input(datetime.now(UTC) + DEFAULT_SPAN),
    }


# --- the board ----------------------------------------------------------------------------


def _board(
    request: Request,
    who: Viewer,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    form: str | None = None,
    status: int = 200,
) -> Response:
    """Clues and requests in the viewer's reach, newest first, with the two new-item forms."""
    cursor = request.query_params.get("cursor") or None
    acursor = request.query_params.get("acursor") or None

    def work(session: Session) -> tuple[Any, Any]:
        clues = service.list_clues(
            session,
            who.principal,
            status=None,
            entity_id=None,
            unit=None,
            limit=PAGE,
            cursor=cursor[:64] if cursor else None,
        )
        requests = assists.list_assists(
            session,
            who.principal,
            status=None,
            overdue=None,
            limit=PAGE,
            cursor=acursor[:64] if acursor else None,
        )
        return clues, requests

    clues, requests = in_session(request, work)
    return render(
        request,
        who,
        "clues/list.html",
        status=status,
        clues=clues.items,
        assists=requests.items,
        next_url=page_url(request, cursor=clues.next_cursor) if clues.next_cursor else None,
        next_assists=page_url(request, acursor=requests.next_cursor)
        if requests.next_cursor
        else None,
        values=values or _blank_values(),
        errors=errors or FormErrors(),
        form=form,
        topics=TOPIC_OPTIONS,
        topic_labels=wf.TOPICS,
        when=when,
    )


@router.get("/clues", response_class=HTMLResponse)
def clue_board(request: Request, who: Officer) -> Response:
    return _board(request, who)


@router.post("/clues", response_class=HTMLResponse)
async def clue_create(request: Request, who: Officer) -> Response:
    """``POST /v1/clues``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = _blank_values() | {k: v or "" for k, v in trimmed(form, *CLUE_FIELDS).items()}
    data: dict[str, Any] = {
        "title": values["title"],
        "summary": values["summary"],
        "entity_id": typed_id(values["entity_id"]),
        "evidence_ids": split_ids(values["evidence_ids"]),
    }
    if values["case_id"]:
        data["case_id"] = typed_id(values["case_id"])
    try:
        body = validated(ClueCreate, data)
        made = await run_in_threadpool(
            service.create_clue, ledger_of(runtime_of(request)), who.principal, body
        )
    except ApiError as exc:
        errors = FormErrors.of(exc)
        return await run_in_threadpool(
            _board, request, who, values=values, errors=errors, form="clue", status=exc.status
        )
    return redirect(f"/console/clues/{made.clue_id}?saved=created")


@router.post("/clues/assists", response_class=HTMLResponse)
async def assist_create(request: Request, who: Officer) -> Response:
    """``POST /v1/assists``'s service function: to a unit or to a platform."""
    form = await read_form(request, who.csrf_token)
    values = _blank_values() | {k: v or "" for k, v in trimmed(form, *ASSIST_FIELDS).items()}
    values["topics"] = [t for t in wf.TOPICS if form.get(f"topic_{t}") in ("1", "on")]
    data: dict[str, Any] = {
        "entity_id": typed_id(values["entity_id"]),
        "topics": values["topics"],
        "questions": values["questions"],
        "deadline": zoned(values["deadline"]) or "",
    }
    if values["target"] == "platform":
        data["to_platform"] = values["to_platform"]
    else:
        data["to_unit"] = values["to_unit"]
    if values["clue_id"]:
        data["clue_id"] = values["clue_id"]
    try:
        body = validated(AssistCreate, data)
        made = await run_in_threadpool(
            assists.create_assist, ledger_of(runtime_of(request)), who.principal, body
        )
    except ApiError as exc:
        errors = FormErrors.of(exc)
        return await run_in_threadpool(
            _board, request, who, values=values, errors=errors, form="assist", status=exc.status
        )
    return redirect(f"/console/assists/{made.assist_id}?saved=sent")


# --- one clue -----------------------------------------------------------------------------


def _clue_page(
    request: Request,
    who: Viewer,
    clue_id: str,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    """The clue, its transfers and its timeline (each step with its log entry), and the
    forms its state allows the viewer."""
    detail = in_session(
        request, lambda s: service.detail(s, service.load(s, who.principal, clue_id))
    )
    allowed = [a.value for a in wf.clue_allowed(wf.ClueStatus(detail.status))]
    pending = next((t for t in detail.transfers if t.status == service.PENDING), None)
    return render(
        request,
        who,
        "clues/detail.html",
        status=status,
        clue=detail,
        pending=pending,
        allowed=allowed,
        values=values or {"to_unit": "", "reason": "", "deadline": _blank_values()["deadline"]},
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/clues/{clue_id}", response_class=HTMLResponse)
def clue_detail(request: Request, who: Officer, clue_id: ClueId) -> Response:
    return _clue_page(request, who, clue_id)


@router.post("/clues/{clue_id}/transfers", response_class=HTMLResponse)
async def clue_transfer(request: Request, who: Officer, clue_id: ClueId) -> Response:
    """``POST /v1/clues/{id}/transfers``'s service function (a send or a re-send)."""
    form = await read_form(request, who.csrf_token)
    values = {k: v or "" for k, v in trimmed(form, "to_unit", "reason", "deadline").items()}
    data = {**values, "deadline": zoned(values["deadline"]) or ""}
    try:
        body = validated(TransferCreate, data)
        await run_in_threadpool(
            service.send, ledger_of(runtime_of(request)), who.principal, clue_id, body
        )
    except ApiError as exc:
        return await run_in_threadpool(
            _clue_page,
            request,
            who,
            clue_id,
            values=values,
            errors=FormErrors.of(exc),
            status=exc.status,
        )
    return redirect(f"/console/clues/{clue_id}?saved=sent")


@router.post("/clues/{clue_id}/transfers/{transfer_id}/{action}", response_class=HTMLResponse)
async def clue_answer(
    request: Request,
    who: Officer,
    clue_id: ClueId,
    transfer_id: TransferId,
    action: Annotated[str, Path(pattern=r"^(accept|return)$")],
) -> Response:
    """Accept or return (reason required) a transfer, as the API's routes do."""
    form = await read_form(request, who.csrf_token)
    reason = (form.get("reason") or "").strip() or None
    try:
        body = validated(AnswerBody, {"reason": reason})
        await run_in_threadpool(
            service.answer,
            ledger_of(runtime_of(request)),
            who.principal,
            clue_id,
            transfer_id,
            wf.ClueAction(action),
            body,
        )
    except ApiError as exc:
        return await run_in_threadpool(
            _clue_page, request, who, clue_id, errors=FormErrors.of(exc), status=exc.status
        )
    if action == wf.ClueAction.ACCEPT.value:
        return redirect(f"/console/clues/{clue_id}?saved=accepted")
    return redirect("/console/clues?saved=returned")


# --- one request --------------------------------------------------------------------------


def _assist_page(
    request: Request,
    who: Viewer,
    assist_id: str,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
    platform: bool = False,
) -> Response:
    """The request, its replies (with the evidence their files became), its timeline, the
    reply form when the viewer is the one asked, and the close form for the sender."""
    detail = in_session(
        request, lambda s: assists.detail(s, assists.load(s, who.principal, assist_id))
    )
    allowed = [a.value for a in wf.assist_allowed(wf.AssistStatus(detail.status))]
    endpoint = (
        f"/v1/platform/assists/{assist_id}/reply" if platform else f"/v1/assists/{assist_id}/reply"
    )
    settings = runtime_of(request).settings
    return render(
        request,
        who,
        "clues/assist.html",
        status=status,
        assist=detail,
        allowed=allowed,
        platform=platform,
        endpoint=endpoint,
        topics=wf.TOPICS,
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved"),
        max_mb=settings.max_file_bytes // 1048576,
        when=when,
    )


@router.get("/assists/{assist_id}", response_class=HTMLResponse)
def assist_detail(request: Request, who: Officer, assist_id: AssistId) -> Response:
    return _assist_page(request, who, assist_id)


@router.post("/assists/{assist_id}/close", response_class=HTMLResponse)
async def assist_close(request: Request, who: Officer, assist_id: AssistId) -> Response:
    """``POST /v1/assists/{id}/close``'s service function (the sending unit)."""
    form = await read_form(request, who.csrf_token)
    note = (form.get("note") or "").strip() or None
    try:
        await run_in_threadpool(
            assists.close, ledger_of(runtime_of(request)), who.principal, assist_id, note
        )
    except ApiError as exc:
        return await run_in_threadpool(
            _assist_page, request, who, assist_id, errors=FormErrors.of(exc), status=exc.status
        )
    return redirect(f"/console/assists/{assist_id}?saved=closed")


# --- the platform's side ------------------------------------------------------------------


@router.get("/platform/assists", response_class=HTMLResponse)
def platform_assists(request: Request, who: PlatformViewer, cursor: Cursor = None) -> Response:
    """The requests sent to the viewer's platform, newest first."""
    found = in_session(
        request,
        lambda s: assists.list_assists(
            s, who.principal, status=None, overdue=None, limit=PAGE, cursor=cursor
        ),
    )
    return render(
        request,
        who,
        "clues/platform_list.html",
        assists=found.items,
        next_url=page_url(request, cursor=found.next_cursor) if found.next_cursor else None,
        topics=wf.TOPICS,
        when=when,
    )


@router.get("/platform/assists/{assist_id}", response_class=HTMLResponse)
def platform_assist(request: Request, who: PlatformViewer, assist_id: AssistId) -> Response:
    return _assist_page(request, who, assist_id, platform=True)
