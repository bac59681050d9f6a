"""Entities (主体库) with grade, cases as a board by status with transitions.

The pages call the registry's own service functions (:mod:`evidence_api.registry.entities`,
:mod:`evidence_api.registry.cases`) with the viewer's principal, in one transaction each,
exactly as ``/v1/entities`` and ``/v1/cases`` do; a form is validated by the API's own
request models, so a bad field shows the API's reason next to it.

:func:`split_ids` and :data:`Officer` are shared with :mod:`evidence_api.console.takedown_pages`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import all_platforms, refill, reshow, trimmed, validated
from evidence_api.console.listing import page_url, when
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.errors import ApiError, InvalidInputError, NotFoundError
from evidence_api.core.routing import page_router
from evidence_api.intake import service as evidence_service
from evidence_api.intake.routes import archive
from evidence_api.leniency import service as leniency_service
from evidence_api.leniency.labels import OUTCOMES
from evidence_api.registry import case_workflow, cases, entities, platforms
from evidence_api.registry.schemas import (
    RISK_GRADES,
    CaseCreate,
    CasePublic,
    CaseTransition,
    CaseUpdate,
    EntityCreate,
    EntityPublic,
    EntityUpdate,
    EvidenceLink,
    PlatformPublic,
)
from evidence_api.takedowns import views as takedown_views
from evidence_api.takedowns.schemas import TakedownPublic
from evidence_api.units.schemas import UnitPublic
from evidence_api.units.service import UnitQuery, units_within

router = page_router("/console")

#: Officers and admins, as ``/v1/entities`` and ``/v1/cases`` admit.
Officer = Annotated[Viewer, Depends(viewer("officer", "admin"))]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Text = Annotated[str | None, Query(max_length=256)]
Cursor = Annotated[str | None, Query(max_length=64)]
#: Rows on one list page (``?limit=``), as the API bounds it.
Limit = Annotated[int, Query(ge=1, le=platforms.MAX_PAGE)]
#: Rows on one list page; cards in one column of the case board.
PAGE = 50
BOARD_COLUMN = 20
#: Linked cases (and their takedowns) shown on an entity's page.
ENTITY_CASES = 50
ENTITY_TAKEDOWN_CASES = 10
#: Evidence submitted naming the shop, shown on its page (the evidence list has the rest).
ENTITY_EVIDENCE = 20
#: (no risk grade: it is computed from credit records, /console/entities/{id}/credit)
ENTITY_FIELDS = ("platform", "shop_name", "shop_id", "shop_url", "uscc", "risk_class")
#: a new entity's fields: those it keeps, and the unit it is made in (empty: the creator's)
NEW_ENTITY_FIELDS = (*ENTITY_FIELDS, "unit")
CASE_FIELDS = ("number", "title", "entity_id", "officer", "unit")
#: The grades as a select offers them: ``("A", "A · 信用风险低")``.
GRADE_OPTIONS = [(code, f"{code} · {label}") for code, label in RISK_GRADES.items()]
#: The outcomes the close form offers after handling, in order.
CLOSE_OUTCOMES = [(code, OUTCOMES[code]) for code in ("penalty", "reduced", "no_penalty")]
_SPLIT = re.compile(r"[\s,，;；]+")

M = TypeVar("M", bound=BaseModel)


def split_ids(text: str) -> list[str]:
    """Ids typed or pasted one a line (or separated by spaces or commas)."""
    return [part for part in _SPLIT.split(text.strip()) if part]


# --- entities (主体库) -----------------------------------------------------------------


@router.get("/entities", response_class=HTMLResponse)
def entity_list(
    request: Request,
    who: Officer,
    q: Text = None,
    uscc: Annotated[str | None, Query(max_length=64)] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    grade: Annotated[str | None, Query(max_length=8)] = None,
    unit: UnitQuery = None,
    cursor: Cursor = None,
    limit: Limit = PAGE,
) -> Response:
    """The register, newest first, searched by name, 统一社会信用代码, platform and grade."""
    errors = FormErrors()
    wanted = {"q": (q or "").strip(), "uscc": (uscc or "").strip(), "platform": platform or ""}
    wanted["grade"] = (grade or "").strip().upper()
    wanted["unit"] = unit or ""
    if wanted["grade"] and wanted["grade"] not in RISK_GRADES:
        errors["grade"] = f"grade: one of {', '.join(RISK_GRADES)}"
    flt = entities.EntityFilter(
        platform=wanted["platform"] or None,
        uscc=wanted["uscc"] or None,
        risk_grade=None if errors else wanted["grade"] or None,
        q=wanted["q"] or None,
        unit=wanted["unit"] or None,
    )
    units: list[UnitPublic] = []

    def work(session: Session) -> tuple[Any, list[PlatformPublic]]:
        units.extend(units_within(session, who.principal))
        found = (
            None
            if errors
            else entities.list_entities(
                session, flt, limit=limit, cursor=cursor, principal=who.principal
            )
        )
        return found, all_platforms(session)

    found, known = in_session(request, work)
    return render(
        request,
        who,
        "registry/entities.html",
        status=422 if errors else 200,
        errors=errors,
        wanted=wanted,
        units=units,
        items=found.items if found else [],
        next_url=page_url(request, cursor=found.next_cursor)
        if found and found.next_cursor
        else None,
        platforms=known,
        grades=RISK_GRADES,
        grade_options=GRADE_OPTIONS,
    )


def _entity_form(
    request: Request,
    who: Viewer,
    values: Mapping[str, Any],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    known, owners = in_session(
        request, lambda s: (all_platforms(s), units_within(s, who.principal))
    )
    return render(
        request,
        who,
        "registry/entity_new.html",
        status=status,
        errors=errors,
        values=values,
        units=owners,
        platforms=known,
        grades=RISK_GRADES,
        grade_options=GRADE_OPTIONS,
    )


@router.get("/entities/new", response_class=HTMLResponse)
async def entity_new(request: Request, who: Officer) -> Response:
    values = dict.fromkeys(NEW_ENTITY_FIELDS, "")
    values["platform"] = request.query_params.get("platform", "")[:64]
    return await run_in_threadpool(_entity_form, request, who, values, FormErrors())


@router.post("/entities/new", response_class=HTMLResponse)
async def entity_create(request: Request, who: Officer) -> Response:
    """``POST /v1/entities``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *NEW_ENTITY_FIELDS)
    try:
        body = validated(EntityCreate, {k: v for k, v in values.items() if v is not None})
        created: EntityPublic = await run_in_threadpool(
            in_session, request, lambda s: entities.create_entity(s, body, who.principal)
        )
    except ApiError as exc:
        return await reshow(_entity_form, exc, request, who, refill(values))
    return redirect(f"/console/entities/{created.id}?saved=1")


def _entity_page(
    request: Request,
    who: Viewer,
    entity_id: int,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    """The entity, its edit form, its cases, the evidence linked to them and their orders."""

    def work(session: Session) -> dict[str, Any]:
        entity = entities.get_entity(session, entity_id, who.principal)
        linked = cases.list_cases(
            session,
            cases.CaseFilter(entity_id=entity_id),
            limit=ENTITY_CASES,
            cursor=None,
            principal=who.principal,
        ).items
        orders: list[TakedownPublic] = []
        for case in linked[:ENTITY_TAKEDOWN_CASES]:
            orders += takedown_views.list_orders(
                session,
                platform=None,
                status=None,
                case_number=case.number,
                limit=PAGE,
                cursor=None,
                principal=who.principal,
            ).items
        known = all_platforms(session)
        return {"entity": entity, "cases": linked, "orders": orders, "platforms": known}

    found = in_session(request, work)
    entity: EntityPublic = found["entity"]
    # Evidence linked to its cases, then evidence submitted naming the shop (as
    # ``GET /v1/evidence?entity=`` finds it): id -> the case number, or "" for the latter.
    evidence: dict[str, str] = {}
    for case in found["cases"]:
        for link in case.evidence:
            evidence.setdefault(link.evidence_id, case.number)
    named = evidence_service.list_evidence(
        archive(runtime_of(request)),
        evidence_service.EvidenceFilter(entity=entity.shop_name),
        limit=ENTITY_EVIDENCE,
        cursor=None,
    )
    for item in named.items:
        evidence.setdefault(item.evidence_id, "")
    if values is None:
        values = {
            "platform": entity.platform,
            "shop_name": entity.shop_name,
            "shop_id": entity.shop_id or "",
            "shop_url": entity.shop_url or "",
            "uscc": entity.uscc.code if entity.uscc else "",
            "risk_class": entity.risk_class or "",
        }
    return render(
        request,
        who,
        "registry/entity.html",
        status=status,
        entity=entity,
        cases=found["cases"],
        evidence=evidence,
        orders=found["orders"],
        platforms=found["platforms"],
        grades=RISK_GRADES,
        grade_options=GRADE_OPTIONS,
        values=values,
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved") == "1",
        when=when,
    )


@router.get("/entities/{entity_id}", response_class=HTMLResponse)
async def entity_detail(request: Request, who: Officer, entity_id: EntityId) -> Response:
    return await run_in_threadpool(_entity_page, request, who, entity_id)


@router.post("/entities/{entity_id}", response_class=HTMLResponse)
async def entity_update(request: Request, who: Officer, entity_id: EntityId) -> Response:
    """``PATCH /v1/entities/{id}``'s service function; an emptied optional field is cleared."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *ENTITY_FIELDS)
    try:
        body = validated(EntityUpdate, values)
        await run_in_threadpool(
            in_session, request, lambda s: entities.update_entity(s, entity_id, body, who.principal)
        )
    except ApiError as exc:
        if isinstance(exc, NotFoundError):
            raise
        return await reshow(_entity_page, exc, request, who, entity_id, values=refill(values))
    return redirect(f"/console/entities/{entity_id}?saved=1")


# --- cases (案件) ---------------------------------------------------------------------


def _entity_names(session: Session, ids: set[int]) -> dict[int, str]:
    names = {}
    for entity_id in ids:
        try:
            names[entity_id] = entities.get_entity(session, entity_id).shop_name
        except NotFoundError:
            continue
    return names


def _positive_id(text: str, field: str) -> int | None:
    """A typed id: empty is None; digits within range, else 422 naming ``field``."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 2**63 - 1 or len(text) > 19:
        raise InvalidInputError(f"{field}: must be a whole number ≥ 1", field=field)
    return int(text)


@router.get("/cases", response_class=HTMLResponse)
def case_board(
    request: Request,
    who: Officer,
    status: Annotated[str | None, Query(max_length=16)] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
    entity_id: Annotated[str | None, Query(max_length=20)] = None,
    number: Annotated[str | None, Query(max_length=64)] = None,
    unit: UnitQuery = None,
    cursor: Cursor = None,
    limit: Limit = PAGE,
) -> Response:
    """One column per workflow status (线索 立案 调查 处理 结案), each newest first; with a
    status chosen, that column alone, paginated."""
    wanted = {
        "status": (status or "").strip(),
        "officer": (officer or "").strip(),
        "entity_id": (entity_id or "").strip(),
        "number": (number or "").strip(),
        "unit": unit or "",
    }
    errors = FormErrors()
    units: list[UnitPublic] = []
    entity: int | None = None
    chosen: str | None = None
    try:
        entity = _positive_id(wanted["entity_id"], "entity_id")
        chosen = cases.status_code(wanted["status"], field="status") if wanted["status"] else None
    except ApiError as exc:
        errors = FormErrors.of(exc)

    def work(session: Session) -> tuple[list[dict[str, Any]], dict[int, str]]:
        columns: list[dict[str, Any]] = []
        units.extend(units_within(session, who.principal))
        if errors:
            return columns, {}
        for code, label in case_workflow.STATUSES.items():
            if chosen is not None and code != chosen:
                continue
            flt = cases.CaseFilter(
                status=code,
                officer=wanted["officer"] or None,
                entity_id=entity,
                number=wanted["number"] or None,
                unit=wanted["unit"] or None,
            )
            found = cases.list_cases(
                session,
                flt,
                limit=limit if chosen else BOARD_COLUMN,
                cursor=cursor if chosen else None,
                principal=who.principal,
            )
            more = None
            if found.next_cursor:
                more = (
                    page_url(request, cursor=found.next_cursor)
                    if chosen
                    else page_url(request, status=code, cursor=None)
                )
            columns.append({"code": code, "label": label, "items": found.items, "more": more})
        ids = {c.entity_id for col in columns for c in col["items"] if c.entity_id is not None}
        return columns, _entity_names(session, ids)

    columns, names = in_session(request, work)
    return render(
        request,
        who,
        "registry/cases.html",
        status=422 if errors else 200,
        errors=errors,
        wanted=wanted,
        columns=columns,
        names=names,
        units=units,
        statuses=case_workflow.STATUSES,
        chosen=chosen,
    )


def _case_form(
    request: Request,
    who: Viewer,
    values: Mapping[str, Any],
    evidence_ids: list[str],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    return render(
        request,
        who,
        "registry/case_new.html",
        status=status,
        errors=errors,
        values=values,
        evidence_ids=evidence_ids,
        units=in_session(request, lambda s: units_within(s, who.principal)),
    )


@router.get("/cases/new", response_class=HTMLResponse)
def case_new(request: Request, who: Officer) -> Response:
    """``?evidence=<id>`` (repeatable) links that evidence to the new case; ``?entity=<id>``
    fills in the entity."""
    evidence_ids = [e[:64] for e in request.query_params.getlist("evidence")][:100]
    values = dict.fromkeys(CASE_FIELDS, "")
    values["entity_id"] = request.query_params.get("entity", "")[:20]
    return _case_form(request, who, values, evidence_ids, FormErrors())


def _open_case(
    session: Session, who: Viewer, body: CaseCreate, evidence_ids: list[str]
) -> CasePublic:
    """Create the case and link its evidence in one transaction: all of it, or nothing."""
    created = cases.create_case(session, who.principal, body)
    if evidence_ids:
        link = validated(EvidenceLink, {"evidence_ids": evidence_ids})
        cases.link_evidence(session, who.principal, created.id, link)
    return created


@router.post("/cases/new", response_class=HTMLResponse)
async def case_create(request: Request, who: Officer) -> Response:
    """``POST /v1/cases`` (and ``POST /v1/cases/{id}/evidence`` for the evidence named)."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *CASE_FIELDS)
    evidence_ids = split_ids(form.get("evidence_ids", ""))
    try:
        data: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        body = validated(CaseCreate, data)
        created: CasePublic = await run_in_threadpool(
            in_session, request, lambda s: _open_case(s, who, body, evidence_ids)
        )
    except ApiError as exc:
        return await reshow(_case_form, exc, request, who, refill(values), evidence_ids)
    return redirect(f"/console/cases/{created.id}?saved=1")


def _case_page(
    request: Request,
    who: Viewer,
    case_id: int,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, Any] | None = None,
    status: int = 200,
    form_values: Mapping[str, str] | None = None,
) -> Response:
    """The case, its evidence, its history (names, not pseudonyms) and its next steps
    (closing after handling: the outcome form, refilled with ``form_values``)."""
    cursor = request.query_params.get("cursor")
    cursor = cursor[:64] if cursor else None

    def work(session: Session) -> dict[str, Any]:
        case = cases.get_case(session, case_id, who.principal)
        events = cases.case_events(
            session, case_id, limit=PAGE * 4, cursor=cursor, principal=who.principal
        )
        names = _entity_names(session, {case.entity_id} if case.entity_id else set())
        orders = takedown_views.list_orders(
            session,
            platform=None,
            status=None,
            case_number=case.number,
            limit=PAGE,
            cursor=None,
            principal=who.principal,
        ).items
        items = []
        if case.status.code == "handling":  # the close form's 免罚清单 picker
            leniency_service.ensure_items(session, runtime_of(request).sign_receipt)
            items = leniency_service.list_items(session, active=True).items
        return {"case": case, "events": events, "names": names, "orders": orders, "items": items}

    found = in_session(request, work)
    case: CasePublic = found["case"]
    if values is None:
        values = {
            "title": case.title,
            "entity_id": str(case.entity_id or ""),
            "officer": case.officer,
        }
    steps = {
        s.code: case_workflow.TRANSITIONS[(case.status.code, s.code)] for s in case.allowed_next
    }
    return render(
        request,
        who,
        "registry/case.html",
        status=status,
        case=case,
        events=found["events"].items,
        next_url=page_url(request, cursor=found["events"].next_cursor)
        if found["events"].next_cursor
        else None,
        entity_name=found["names"].get(case.entity_id) if case.entity_id else None,
        orders=found["orders"],
        steps=steps,
        closed=case.status.code == case_workflow.FINAL,
        leniency_items=found["items"],
        outcomes=CLOSE_OUTCOMES,
        form=form_values or {},
        values=values,
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved"),
        when=when,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_detail(request: Request, who: Officer, case_id: CaseId) -> Response:
    return _case_page(request, who, case_id)


async def _reshow_case(
    request: Request,
    who: Viewer,
    case_id: int,
    exc: ApiError,
    values: Mapping[str, Any] | None = None,
) -> Response:
    """The case page again, ``exc``'s reason next to its field, with ``exc``'s status."""
    return await reshow(_case_page, exc, request, who, case_id, values=values)


async def _case_change(
    request: Request,
    who: Viewer,
    case_id: int,
    body_of: Callable[[], M],
    change: Callable[[Session, M], Any],
    done: str,
    values: Mapping[str, Any] | None = None,
) -> Response:
    """Check the form (``body_of``: the API's request model), run ``change`` with the body
    (a registry service call) and go back to the case; on an ApiError other than a
    missing case show the case again with the reason next to the field (its status) and
    ``values`` in the edit form."""
    try:
        body = body_of()
        await run_in_threadpool(in_session, request, lambda s: change(s, body))
    except ApiError as exc:
        if isinstance(exc, NotFoundError) and exc.field is None:
            raise
        return await _reshow_case(request, who, case_id, exc, values)
    return redirect(f"/console/cases/{case_id}?saved={done}")


def _transition_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """The transition form as the API's body: ``to`` and ``note``; for closing, the outcome
    picked (行政处罚 / 减轻处罚 / 不予处罚), the 免罚清单 item and the ticked conditions
    (an unticked box is ``false``, as the officer states it)."""
    values: dict[str, Any] = {k: v for k, v in trimmed(form, "to", "note").items() if v is not None}
    outcome = (form.get("outcome") or "").strip()
    if not outcome:
        return values
    values["outcome"] = outcome
    if outcome in ("reduced", "no_penalty"):
        item = (form.get("leniency_item") or "").strip()
        if item:
            values["leniency_item"] = item
        values["corrected_in_time"] = form.get("corrected_in_time") == "1"
        values["minor_harm"] = form.get("minor_harm") == "1"
        evidence = split_ids(form.get("outcome_evidence", ""))
        if evidence:
            values["evidence_ids"] = evidence
    return values


@router.post("/cases/{case_id}/transition", response_class=HTMLResponse)
async def case_transition(request: Request, who: Officer, case_id: CaseId) -> Response:
    """``POST /v1/cases/{id}/transition``: one button per allowed next status."""
    form = await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    try:
        body = validated(CaseTransition, _transition_fields(form))
        moved: CasePublic = await run_in_threadpool(
            in_session,
            request,
            lambda s: cases.transition_case(s, runtime.sign_receipt, who.principal, case_id, body),
        )
    except ApiError as exc:
        if isinstance(exc, NotFoundError) and exc.field is None:
            raise
        return await reshow(_case_page, exc, request, who, case_id, form_values=form)
    if moved.outcome is not None:  # the case_outcome entry, and the credit record's
        runtime.queued(1 if moved.entity_id is None else 2)
    return redirect(f"/console/cases/{case_id}?saved=moved")


@router.post("/cases/{case_id}/evidence", response_class=HTMLResponse)
async def case_link(request: Request, who: Officer, case_id: CaseId) -> Response:
    """``POST /v1/cases/{id}/evidence``: link the evidence ids typed (one a line)."""
    form = await read_form(request, who.csrf_token)
    return await _case_change(
        request,
        who,
        case_id,
        lambda: validated(EvidenceLink, {"evidence_ids": split_ids(form.get("evidence_ids", ""))}),
        lambda s, body: cases.link_evidence(s, who.principal, case_id, body),
        "linked",
    )


@router.post("/cases/{case_id}", response_class=HTMLResponse)
async def case_update(request: Request, who: Officer, case_id: CaseId) -> Response:
    """``PATCH /v1/cases/{id}``: title, entity (empty detaches it) and officer."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, "title", "entity_id", "officer")
    return await _case_change(
        request,
        who,
        case_id,
        lambda: validated(CaseUpdate, values),
        lambda s, body: cases.update_case(s, who.principal, case_id, body),
        "updated",
        refill(values),
    )
