"""Takedown orders for officers: issue from an evidence page, track, history with proof links.

Each page calls what ``/v1/takedowns`` calls: :func:`evidence_api.takedowns.service.issue_order`
and :func:`~evidence_api.takedowns.service.rule_dispute` with the service's ledger and the
viewer's principal, :mod:`evidence_api.takedowns.views` to read. Forms are validated by the
API's own request models (:class:`TakedownCreate`, :class:`RulingBody`), so a bad field shows
the API's reason next to it. Times typed without a zone are Beijing time (UTC+8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import all_platforms, refill, reshow, trimmed, validated
from evidence_api.console.listing import BEIJING, page_url, when
from evidence_api.console.registry_pages import Officer, split_ids
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
)
from evidence_api.core.auth import holders
from evidence_api.core.errors import ApiError, NotFoundError
from evidence_api.core.jurisdiction import guard
from evidence_api.core.routing import page_router
from evidence_api.intake import service as evidence_service
from evidence_api.intake.routes import archive
from evidence_api.registry.schemas import PlatformPublic
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns import views
from evidence_api.takedowns import workflow as wf
from evidence_api.takedowns.models import TakedownOrder
from evidence_api.takedowns.schemas import (
    EVIDENCE_ID,
    MAX_CITED_EVIDENCE,
    ORDER_ID,
    RulingBody,
    TakedownCreate,
    TakedownDetail,
    TakedownPublic,
)
from evidence_api.units.schemas import UnitPublic
from evidence_api.units.service import UnitQuery, units_within

router = page_router("/console")

OrderId = Annotated[str, Path(pattern=ORDER_ID)]
PAGE = 50
#: A new order's deadline unless the officer picks another: three days ahead.
DEFAULT_SPAN = timedelta(days=3)
STATUS_OPTIONS = [(s.value, wf.LABELS[s]) for s in wf.Status]
ISSUE_FIELDS = ("platform", "legal_basis", "reason", "deadline", "case_number")
_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_LOCAL_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
_EVIDENCE = re.compile(EVIDENCE_ID)


def zoned(text: str | None) -> str | None:
    """A typed time as RFC 3339: a ``datetime-local`` value (no zone) is Beijing time."""
    if text is None:
        return None
    text = text.strip().replace(" ", "T", 1)
    if _LOCAL_MINUTES.fullmatch(text):
        return f"{text}:00+08:00"
    if _LOCAL_SECONDS.fullmatch(text):
        return f"{text}+08:00"
    return text


def local_input(moment: datetime) -> str:
    """``moment`` as a ``datetime-local`` value in Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


# --- list -----------------------------------------------------------------------------


@router.get("/takedowns", response_class=HTMLResponse)
def order_list(
    request: Request,
    who: Officer,
    status: Annotated[str | None, Query(max_length=16)] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    unit: UnitQuery = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = PAGE,
) -> Response:
    """Orders newest first, by status, platform and case; "overdue" shows the orders the
    deadline scan marked overdue (the workflow's ``overdue`` state)."""
    wanted: dict[str, Any] = {
        "status": (status or "").strip(),
        "platform": (platform or "").strip(),
        "case": (case or "").strip(),
        "overdue": bool(overdue),
        "unit": unit or "",
    }
    errors = FormErrors()
    units: list[UnitPublic] = []
    chosen: str | None = wanted["status"] or None
    if wanted["overdue"]:
        if chosen not in (None, wf.Status.OVERDUE.value):
            errors["overdue"] = f"overdue: contradicts status {chosen!r}; choose one"
        chosen = wf.Status.OVERDUE.value

    def work(session: Session) -> tuple[Any, list[PlatformPublic]]:
        found = None
        units.extend(units_within(session, who.principal))
        if not errors:
            found = views.list_orders(
                session,
                platform=wanted["platform"] or None,
                status=chosen,
                case_number=wanted["case"] or None,
                limit=limit,
                cursor=cursor,
                unit=wanted["unit"] or None,
                principal=who.principal,
            )
        return found, all_platforms(session)

    try:
        found, known = in_session(request, work)
    except ApiError as exc:
        if exc.field != "status":
            raise
        errors = FormErrors.of(exc)
        found, known = None, in_session(request, all_platforms)
    return render(
        request,
        who,
        "takedowns/list.html",
        status=422 if errors else 200,
        errors=errors,
        wanted=wanted,
        items=found.items if found else [],
        next_url=page_url(request, cursor=found.next_cursor)
        if found and found.next_cursor
        else None,
        platforms=known,
        units=units,
        status_options=STATUS_OPTIONS,
        now=datetime.now(UTC),
        when=when,
    )


# --- issue ----------------------------------------------------------------------------


def _issue_form(
    request: Request,
    who: Viewer,
    values: Mapping[str, Any],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    known = in_session(request, all_platforms)
    return render(
        request,
        who,
        "takedowns/new.html",
        status=status,
        errors=errors,
        values=values,
        platforms=known,
    )


def _prefill(request: Request, evidence_ids: list[str]) -> tuple[list[str], str]:
    """The source URLs of the cited evidence (the listings to take down) and their
    platform, read as ``GET /v1/evidence/{id}`` reads them; unknown ids are skipped here
    (issuing names them)."""
    urls: list[str] = []
    platform = ""
    shelf = archive(runtime_of(request))
    for evidence_id in evidence_ids:
        if not _EVIDENCE.fullmatch(evidence_id):
            continue
        try:
            found = evidence_service.get_evidence(shelf, evidence_id)
        except ApiError:
            continue
        if found.source_url and found.source_url not in urls:
            urls.append(found.source_url)
        platform = platform or (found.platform or "")
    return urls, platform


@router.get("/takedowns/new", response_class=HTMLResponse)
def order_new(request: Request, who: Officer) -> Response:
    """``?evidence=<id>`` (repeatable) cites that evidence; ``?case=<number>`` the case."""
    evidence_ids = [e.strip()[:64] for e in request.query_params.getlist("evidence")]
    evidence_ids = evidence_ids[:MAX_CITED_EVIDENCE]
    urls, platform = _prefill(request, evidence_ids)
    known = {p.code for p in in_session(request, all_platforms)}
    values = {
        "platform": platform if platform in known else "",
        "listing_urls": "\n".join(urls),
        "legal_basis": "",
        "reason": "",
        "evidence_ids": "\n".join(evidence_ids),
        "deadline": local_input(datetime.now(UTC) + DEFAULT_SPAN),
        "grant_files": False,
        "case_number": request.query_params.get("case", "")[:64],
    }
    return _issue_form(request, who, values, FormErrors())


@router.post("/takedowns/new", response_class=HTMLResponse)
async def order_issue(request: Request, who: Officer) -> Response:
    """``POST /v1/takedowns``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values: dict[str, Any] = {k: v or "" for k, v in trimmed(form, *ISSUE_FIELDS).items()}
    values["listing_urls"] = form.get("listing_urls", "")
    values["evidence_ids"] = form.get("evidence_ids", "")
    values["grant_files"] = form.get("grant_files") in ("1", "on", "true")
    data: dict[str, Any] = {
        "platform": values["platform"],
        "listing_urls": [
            u for u in (line.strip() for line in values["listing_urls"].splitlines()) if u
        ],
        "legal_basis": values["legal_basis"],
        "reason": values["reason"],
        "evidence_ids": split_ids(values["evidence_ids"]),
        "deadline": zoned(values["deadline"]) or "",
        "grant_files": values["grant_files"],
    }
    if values["case_number"]:
        data["case_number"] = values["case_number"]
    runtime = runtime_of(request)
    try:
        body = validated(TakedownCreate, data)
        issued: TakedownPublic = await run_in_threadpool(
            takedowns.issue_order, takedowns.ledger_of(runtime), who.principal, body
        )
    except ApiError as exc:
        return await reshow(_issue_form, exc, request, who, values)
    return redirect(f"/console/takedowns/{issued.order_id}?saved=issued")


# --- detail and ruling ------------------------------------------------------------------


def _leaf_indexes(session: Session, origin: str, order_id: str) -> dict[int, int]:
    """change_seq -> the leaf index of its ``takedown`` entry, for the sealed ones."""
    found: dict[int, int] = {}
    for entry in views.order_proofs(session, origin, order_id).entries:
        inclusion = entry.bundle.get("inclusion")
        if isinstance(inclusion, dict) and isinstance(inclusion.get("index"), int):
            found[entry.change_seq] = inclusion["index"]
    return found


def _order_page(
    request: Request,
    who: Viewer,
    order_id: str,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, Any] | None = None,
    decision: str | None = None,
    status: int = 200,
) -> Response:
    """The order, its cited evidence, re-captures, history with each change's log entry,
    leaf index and proof link, and the officer's ruling forms when it is disputed."""
    runtime = runtime_of(request)
    origin = runtime.signer.name

    def work(session: Session) -> tuple[TakedownDetail, dict[int, int], dict[str, str]]:
        detail = views.order_detail(session, origin, order_id, who.principal)
        # Names at display time: the history and the log keep only the pseudonym.
        names = holders(session, {e.actor for e in detail.history} | {detail.issued_by})
        return detail, _leaf_indexes(session, origin, order_id), names

    order, leaves, names = in_session(request, work)
    disputed = order.status == wf.Status.DISPUTED.value
    if values is None:
        values = {
            "reason": "",
            "deadline": local_input(datetime.now(UTC) + DEFAULT_SPAN),
        }
    return render(
        request,
        who,
        "takedowns/detail.html",
        status=status,
        order=order,
        leaves=leaves,
        names=names,
        disputed=disputed,
        labels={s.value: wf.LABELS[s] for s in wf.Status},
        errors=errors or FormErrors(),
        values=values,
        decision=decision,
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/takedowns/{order_id}", response_class=HTMLResponse)
def order_detail(request: Request, who: Officer, order_id: OrderId) -> Response:
    return _order_page(request, who, order_id)


@router.post("/takedowns/{order_id}/ruling", response_class=HTMLResponse)
async def order_ruling(request: Request, who: Officer, order_id: OrderId) -> Response:
    """``POST /v1/takedowns/{id}/ruling``'s service function: uphold (with a new deadline)
    or withdraw a disputed order."""
    form = await read_form(request, who.csrf_token)
    fields = trimmed(form, "decision", "reason", "deadline")
    decision = fields["decision"] or ""
    data: dict[str, Any] = {"decision": decision, "reason": fields["reason"] or ""}
    if decision == wf.Action.UPHOLD.value or fields["deadline"]:
        data["deadline"] = zoned(fields["deadline"])
    if decision == wf.Action.WITHDRAW.value:
        data.pop("deadline", None)
    runtime = runtime_of(request)
    try:
        body = validated(RulingBody, data)
        await run_in_threadpool(
            in_session,
            request,
            lambda s: guard(
                s,
                who.principal,
                TakedownOrder.unit_id,
                TakedownOrder.id,
                order_id,
                f"no takedown order {order_id!r}",
            ),
        )
        await run_in_threadpool(
            lambda: takedowns.rule_dispute(
                takedowns.ledger_of(runtime),
                order_id,
                wf.Action(body.decision),
                actor=who.principal.pseudonym,
                reason=body.reason,
                deadline=body.deadline,
            )
        )
    except ApiError as exc:
        if isinstance(exc, NotFoundError):
            raise
        shown = refill({"reason": fields["reason"], "deadline": fields["deadline"]})
        return await reshow(
            _order_page, exc, request, who, order_id, values=shown, decision=decision
        )
    return redirect(f"/console/takedowns/{order_id}?saved=ruled")
