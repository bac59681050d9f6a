"""Monitors and alerts (监测预警) for officers and administrators.

Monitors: list (status, platform, entity), a new monitor's form (target, schedule, entity
and platform, rules with their thresholds and word lists), and a monitor's page (recent
runs, pause/resume, delete, run now). Alerts: list (rule, platform, entity, status) kept
live by ``static/monitoring.js`` from ``/v1/alerts/stream``, and an alert's page (its
evidence and proofs, dismiss, convert to a case).

Every read and change is the API's own service call (:mod:`evidence_api.monitoring.service`,
:mod:`evidence_api.monitoring.alerts`, :func:`evidence_api.monitoring.dispatch.queue_run`)
with the viewer's principal; a form's body is checked by the API's own pydantic models,
so a refusal names the same field with the same reason, shown next to the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import placed, refusal, reshow
from evidence_api.console.listing import MAX_CURSOR, iso, next_link, query_limit, query_text
from evidence_api.console.platform_pages import when
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    read_form,
    read_form_lists,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.auth import Principal, holders
from evidence_api.core.errors import ApiError, InvalidInputError, NotFoundError
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.intake import service as evidence_service
from evidence_api.intake.routes import archive
from evidence_api.monitoring import alerts, dispatch, stream, wordlists
from evidence_api.monitoring import service as monitors
from evidence_api.monitoring.alert_log import ledger_of
from evidence_api.monitoring.alert_schemas import (
    ALERT_ID,
    STATUS_LABELS,
    AlertDetail,
    AlertPage,
    ConvertBody,
    DismissBody,
)
from evidence_api.monitoring.models import ALERT_OPEN, ALERT_STATUSES
from evidence_api.monitoring.observation import RULE_LABELS, RULES
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.schemas import (
    ARCHIVE_LABELS,
    KIND_LABELS,
    MAX_ID,
    MONITOR_ID,
    MonitorCreate,
    MonitorDetail,
    MonitorPage,
    MonitorUpdate,
    RunPage,
)
from evidence_api.units.schemas import UNIT_CODE, UnitPublic
from evidence_api.units.service import units_within

router = page_router("/console")

OfficerViewer = Annotated[Viewer, Depends(viewer("officer", "admin"))]
#: Items on one list page, runs on a monitor's page.
PAGE = 25
RUNS = 20
MONITOR_RE = re.compile(MONITOR_ID)
ALERT_RE = re.compile(ALERT_ID)
#: An interval's units as the form offers them (value, seconds).
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def _entity_id(request: Request) -> int | None:
    text = query_text(request, "entity_id", 20)
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidInputError(f"entity_id: {text!r} is not an entity id", field="entity_id")
    return int(text)


def _cursor(request: Request) -> str | None:
    return query_text(request, "cursor", MAX_CURSOR)


# --- monitors: list -----------------------------------------------------------------------


def _units(runtime: Runtime, who: Viewer) -> list[UnitPublic]:
    """The unit filter's choices: the units in the viewer's jurisdiction."""
    with runtime.session() as session:
        return units_within(session, who.principal)


def _unit_filter(request: Request) -> str | None:
    """``?unit=``: a unit's code (its rows and those of the units below it), or none."""
    unit = query_text(request, "unit")
    if unit is not None and not re.fullmatch(UNIT_CODE, unit):
        raise InvalidInputError(f"unit: {unit!r} is not a unit code", field="unit")
    return unit


def _monitor_filter(request: Request) -> monitors.MonitorFilter:
    status = query_text(request, "status", 16)
    if status not in (None, "enabled", "paused"):
        raise InvalidInputError(
            f"status: {status!r} is not a monitor status (enabled, paused)", field="status"
        )
    return monitors.MonitorFilter(
        platform=query_text(request, "platform"),
        entity_id=_entity_id(request),
        enabled=None if status is None else status == "enabled",
        unit=_unit_filter(request),
    )


@router.get("/monitors", response_class=HTMLResponse)
def monitor_list(request: Request, who: OfficerViewer) -> Response:
    """Monitors, newest first; filter by status, platform, entity."""
    runtime = runtime_of(request)
    errors = FormErrors()
    cursor = None
    try:
        flt = _monitor_filter(request)
        cursor = _cursor(request)
        limit = query_limit(request, PAGE, monitors.MAX_PAGE)
        page = monitors.list_monitors(
            runtime.session, flt, limit=limit, cursor=cursor, principal=who.principal
        )
    except ApiError as exc:
        errors = placed(FormErrors.of(exc), {"status", "platform", "entity_id", "unit"})
        page = MonitorPage(items=[], next_cursor=None)
    return render(
        request,
        who,
        "monitoring/monitors.html",
        status=422 if errors else 200,
        errors=errors,
        items=page.items,
        units=_units(runtime, who),
        query=request.query_params,
        next_url=next_link(request, page.next_cursor),
        first_page=cursor is not None,
        kinds=KIND_LABELS,
        when=when,
        iso=iso,
    )


# --- monitors: new ------------------------------------------------------------------------


def _word_lists(runtime: Runtime) -> list[wordlists.WordList]:
    try:
        loaded = wordlists.load_wordlists(runtime.settings.monitor_wordlists)
    except wordlists.WordListError:
        return []  # the create call answers 503 naming the fault
    return [loaded.get(name) for name in loaded.names()]


#: The API's field paths -> the form's fields (longest prefix wins).
MONITOR_FIELDS = {
    "name": "name",
    "target": "kind",
    "target.url": "url",
    "target.listing.url": "url",
    "target.shop.url": "url",
    "target.url_template": "url_template",
    "target.search.url_template": "url_template",
    "target.search.keyword": "keyword",
    "target.keyword": "keyword",
    "schedule": "interval_value",
    "schedule.interval_seconds": "interval_value",
    "schedule.cron": "cron",
    "entity_id": "entity_id",
    "platform": "platform",
    "rules": "rules",
    "rules.content_changed": "content_threshold",
    "rules.price": "price_min",
    "rules.price.change_percent": "price_change_percent",
    "rules.price.max": "price_max",
    "rules.prohibited_words": "words_extra",
    "rules.prohibited_words.lists": "words_lists",
    "rules.gone": "gone_patterns",
    "archive": "archive",
    "enabled": "enabled",
    "unit": "unit",
}


#: The new monitor form's fields (an error naming another is shown above the form).
KNOWN = (frozenset(MONITOR_FIELDS.values()) | {"interval_unit", "schedule_mode"}) - {"rules"}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _optional(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def monitor_body(form: Mapping[str, str], lists: list[str]) -> dict[str, Any]:
    """The ``POST /v1/monitors`` body a submitted form stands for (checked by the API's
    model afterwards); 422 naming the form's field for what only the form can get wrong."""
    kind = form.get("kind", "")
    target: dict[str, Any] = {"kind": kind}
    if kind == "search":
        target |= {"url_template": form.get("url_template", "").strip()}
        target |= {"keyword": form.get("keyword", "").strip()}
    else:
        target["url"] = form.get("url", "").strip()
    schedule: dict[str, Any]
    if form.get("schedule_mode") == "cron":
        schedule = {"cron": form.get("cron", "").strip()}
    else:
        value = form.get("interval_value", "").strip()
        unit = UNITS.get(form.get("interval_unit", ""))
        if unit is None:
            raise InvalidInputError("interval_unit: minutes, hours or days", field="interval_unit")
        if not value.isdigit() or len(value) > 9:
            raise InvalidInputError(
                f"schedule.interval_seconds: {value!r} is not a whole number of units",
                field="schedule.interval_seconds",
            )
        schedule = {"interval_seconds": int(value) * unit}
    entity = _optional(form, "entity_id")
    if entity is not None and not entity.isdigit():
        raise InvalidInputError(f"entity_id: {entity!r} is not an entity id", field="entity_id")
    price: dict[str, Any] = {
        "enabled": form.get("price_enabled") == "on",
        "change_percent": _optional(form, "price_change_percent"),
        "min": _optional(form, "price_min"),
        "max": _optional(form, "price_max"),
    }
    content: dict[str, Any] = {"enabled": form.get("content_enabled") == "on"}
    if _optional(form, "content_threshold") is not None:
        content["threshold"] = _optional(form, "content_threshold")
    unit_code = _optional(form, "unit")  # none: the creator's unit
    owner = {} if unit_code is None else {"unit": unit_code}
    return owner | {
        "name": form.get("name", "").strip(),
        "target": target,
        "schedule": schedule,
        "entity_id": int(entity) if entity is not None else None,
        "platform": _optional(form, "platform"),
        "rules": {
            "content_changed": content,
            "price": price,
            "prohibited_words": {
                "enabled": form.get("words_enabled") == "on",
                "lists": lists,
                "extra": _lines(form.get("words_extra", "")),
                "every_run": form.get("words_every_run") == "on",
            },
            "gone": {
                "enabled": form.get("gone_enabled") == "on",
                "patterns": _lines(form.get("gone_patterns", "")),
            },
        },
        "archive": form.get("archive", "on_alert"),
        "enabled": form.get("enabled") == "on",
    }


def _defaults() -> dict[str, Any]:
    """The new form's values: the API's defaults."""
    rules = Rules()
    return {
        "kind": "listing",
        "schedule_mode": "interval",
        "interval_value": "6",
        "interval_unit": "hours",
        "content_enabled": "on",
        "content_threshold": str(rules.content_changed.threshold),
        "price_enabled": "on",
        "price_change_percent": str(rules.price.change_percent),
        "words_enabled": "on",
        "gone_enabled": "on",
        "archive": "on_alert",
        "enabled": "on",
    }


def _new_page(
    request: Request,
    who: Viewer,
    values: Mapping[str, Any],
    lists: list[str],
    *,
    status: int = 200,
    errors: FormErrors | None = None,
) -> Response:
    return render(
        request,
        who,
        "monitoring/monitor_new.html",
        status=status,
        values=values,
        chosen_lists=lists,
        word_lists=_word_lists(runtime_of(request)),
        errors=errors or FormErrors(),
        kinds=KIND_LABELS,
        archives=ARCHIVE_LABELS,
        units=UNITS,
        owners=_units(runtime_of(request), who),
    )


@router.get("/monitors/new", response_class=HTMLResponse)
def monitor_new(request: Request, who: OfficerViewer) -> Response:
    """The form of a new monitor, filled with the API's defaults."""
    lists = list(Rules().prohibited_words.lists)
    return _new_page(request, who, _defaults(), lists)


def _create(runtime: Runtime, who: Viewer, form: Mapping[str, str], lists: list[str]) -> str:
    body = MonitorCreate.model_validate(monitor_body(form, lists))
    created = monitors.create_monitor(runtime.session, runtime.settings, who.principal, body)
    return created.id


@router.post("/monitors/new", response_class=HTMLResponse)
async def monitor_create(request: Request, who: OfficerViewer) -> Response:
    """Create the monitor (the API's checks: schedule, address policy, references, word
    lists); its page next, or the form again with each reason next to its field."""
    fields = await read_form_lists(request, who.csrf_token)
    form = {key: values[-1] for key, values in fields.items()}
    lists = [name for name in fields.get("words_lists", []) if name]
    try:
        monitor_id = await run_in_threadpool(_create, runtime_of(request), who, form, lists)
    except (ValidationError, ApiError) as exc:
        errors, status = refusal(exc, MONITOR_FIELDS, KNOWN)
    else:
        return redirect(f"/console/monitors/{monitor_id}?done=created")
    return await run_in_threadpool(
        _new_page, request, who, form, lists, status=status, errors=errors
    )


# --- monitors: one ------------------------------------------------------------------------


def _monitor(
    runtime: Runtime, monitor_id: str, cursor: str | None, principal: Principal
) -> tuple[MonitorDetail, RunPage, dict[str, str]]:
    if not MONITOR_RE.fullmatch(monitor_id):
        raise NotFoundError(f"no monitor {monitor_id}")
    found = monitors.get_monitor(runtime.session, monitor_id, principal)
    runs = monitors.list_runs(
        runtime.session, monitor_id, limit=RUNS, cursor=cursor, principal=principal
    )
    with runtime.session() as session:
        names = holders(session, {found.created_by})
    return found, runs, names


#: A monitor's page actions and the notice each leaves.
MONITOR_ACTIONS = ("pause", "resume", "run", "delete")
DONE = ("created", "pause", "resume", "run")


def _monitor_page(
    request: Request,
    who: Viewer,
    monitor_id: str,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    done: str = "",
) -> Response:
    cursor = _cursor(request) if request.method == "GET" else None
    found, runs, names = _monitor(runtime_of(request), monitor_id, cursor, who.principal)
    return render(
        request,
        who,
        "monitoring/monitor.html",
        status=status,
        monitor=found,
        runs=runs.items,
        names=names,
        errors=errors or FormErrors(),
        done=done,
        next_url=next_link(request, runs.next_cursor) if request.method == "GET" else None,
        when=when,
        iso=iso,
    )


@router.get("/monitors/{monitor_id}", response_class=HTMLResponse)
def monitor_detail(request: Request, monitor_id: str, who: OfficerViewer) -> Response:
    """A monitor: target, schedule, rules, its recent runs and what can be done to it."""
    done = request.query_params.get("done", "")
    return _monitor_page(request, who, monitor_id, done=done if done in DONE else "")


def _monitor_act(runtime: Runtime, monitor_id: str, action: str, principal: Principal) -> None:
    if action in ("pause", "resume"):
        body = MonitorUpdate(enabled=action == "resume")
        monitors.update_monitor(
            runtime.session, runtime.settings, monitor_id, body, principal=principal
        )
    elif action == "delete":
        monitors.delete_monitor(runtime.session, monitor_id, principal=principal)
    else:
        seq = monitors.runnable_seq(runtime.session, monitor_id, principal)
        dispatch.queue_run(runtime, seq)


@router.post("/monitors/{monitor_id}/{action}", response_class=HTMLResponse)
async def monitor_act(
    request: Request, monitor_id: str, action: str, who: OfficerViewer
) -> Response:
    """Pause, resume, run now or delete; a refusal (409: disabled, a run already
    queued) shows on the monitor's page."""
    if action not in MONITOR_ACTIONS:
        raise NotFoundError(f"no action {action!r} on a monitor (pause, resume, run, delete)")
    await read_form(request, who.csrf_token)
    if not MONITOR_RE.fullmatch(monitor_id):
        raise NotFoundError(f"no monitor {monitor_id}")
    try:
        await run_in_threadpool(
            _monitor_act, runtime_of(request), monitor_id, action, who.principal
        )
    except ApiError as exc:
        if isinstance(exc, NotFoundError):
            raise
        return await reshow(_monitor_page, exc, request, who, monitor_id)
    if action == "delete":
        return redirect("/console/monitors?done=deleted")
    return redirect(f"/console/monitors/{monitor_id}?done={action}")


# --- alerts: list -------------------------------------------------------------------------


def _alert_filter(request: Request) -> alerts.AlertFilter:
    flt = alerts.AlertFilter(
        rule=query_text(request, "rule", 32),
        platform=query_text(request, "platform"),
        entity_id=_entity_id(request),
        status=query_text(request, "status", 16),
        monitor=query_text(request, "monitor"),
        unit=_unit_filter(request),
    )
    return flt.checked()


def _alert_list(
    runtime: Runtime,
    flt: alerts.AlertFilter,
    cursor: str | None,
    limit: int,
    principal: Principal,
) -> AlertPage:
    with runtime.session() as session:
        return alerts.list_alerts(session, flt, limit=limit, cursor=cursor, principal=principal)


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(request: Request, who: OfficerViewer) -> Response:
    """Alerts, newest first, each with its reason, evidence and unit; filter by rule,
    platform, entity, status and unit; new ones arrive live."""
    runtime = runtime_of(request)
    errors = FormErrors()
    cursor = None
    flt = alerts.AlertFilter()
    # Read before the list: the live stream resumes after it, so an alert opened between
    # this page's read and the stream's connection still arrives (a repeat is skipped).
    resume = stream.newest(runtime.session)
    try:
        flt = _alert_filter(request)
        cursor = _cursor(request)
        limit = query_limit(request, PAGE, alerts.MAX_PAGE)
        page = _alert_list(runtime, flt, cursor, limit, who.principal)
    except ApiError as exc:
        errors = placed(FormErrors.of(exc), {"rule", "platform", "entity_id", "status", "unit"})
        page = AlertPage(items=[], next_cursor=None)
    # Live updates only where a new alert belongs: the first page, no filter the event
    # cannot be checked against (platform, entity and monitor are not in its payload; its
    # unit is, but not whether that unit lies below the one filtered on).
    narrowed = flt.platform or flt.entity_id or flt.monitor or flt.unit
    live = not errors and cursor is None and not narrowed
    return render(
        request,
        who,
        "monitoring/alerts.html",
        status=422 if errors else 200,
        errors=errors,
        items=page.items,
        units=_units(runtime, who),
        query=request.query_params,
        rules=[(r, RULE_LABELS[r]) for r in RULES],
        statuses=[(s, STATUS_LABELS[s]) for s in ALERT_STATUSES],
        live=live,
        live_after=resume,
        live_rule=flt.rule or "",
        live_status=flt.status or "",
        next_url=next_link(request, page.next_cursor),
        first_page=cursor is not None,
        when=when,
        iso=iso,
    )


# --- alerts: one --------------------------------------------------------------------------


def _alert(
    runtime: Runtime, alert_id: str, principal: Principal
) -> tuple[AlertDetail, Any, dict[str, str]]:
    """The alert, what its evidence is (files and proof status; None without), names."""
    if not ALERT_RE.fullmatch(alert_id):
        raise NotFoundError(f"no alert {alert_id!r}")
    with runtime.session() as session:
        found = alerts.get_alert(session, runtime.signer.name, alert_id, principal)
        names = holders(session, {found.recipient, *(e.actor for e in found.history)})
    evidence: dict[str, Any] | None = None
    if found.evidence_id is not None:
        store = archive(runtime)
        try:
            details = evidence_service.get_evidence(store, found.evidence_id)
            bundle = evidence_service.proof_bundle(store, found.evidence_id)
        except ApiError as exc:  # the alert stands; say why its evidence cannot be shown
            evidence = {"problem": exc.detail}
        else:
            evidence = {
                "files": details.files,
                "manifest": details.manifest,
                "status": bundle.status,
            }
    return found, evidence, names


#: The alert page's forms; their fields as the API names them -> the form's.
ALERT_ACTIONS = ("dismiss", "convert")
ALERT_FIELDS = {"dismiss": {"reason": "reason"}, "convert": {"note": "convert_note"}}
ALERT_SHOWN = {
    "dismiss": frozenset({"reason"}),
    "convert": frozenset({"case_number", "title", "convert_note"}),
}


def _alert_page(
    request: Request,
    who: Viewer,
    alert_id: str,
    *,
    status: int = 200,
    failed: str = "",
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    done: str = "",
) -> Response:
    found, evidence, names = _alert(runtime_of(request), alert_id, who.principal)
    return render(
        request,
        who,
        "monitoring/alert.html",
        status=status,
        alert=found,
        evidence=evidence,
        names=names,
        is_open=found.status == ALERT_OPEN,
        failed=failed,
        errors=errors or FormErrors(),
        values=values or {},
        done=done,
        when=when,
        iso=iso,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(request: Request, alert_id: str, who: OfficerViewer) -> Response:
    """An alert: why it fired, its evidence and proofs, its history, dismiss or convert."""
    done = request.query_params.get("done", "")
    return _alert_page(request, who, alert_id, done=done if done in ALERT_ACTIONS else "")


def _alert_act(
    runtime: Runtime, who: Viewer, alert_id: str, action: str, form: Mapping[str, str]
) -> None:
    ledger = ledger_of(runtime)
    if action == "dismiss":
        dismissal = DismissBody.model_validate({"reason": form.get("reason", "")})
        alerts.dismiss(ledger, who.principal, runtime.signer.name, alert_id, dismissal)
        return
    fields = {"case_number": "case_number", "title": "title", "note": "convert_note"}
    body = ConvertBody.model_validate(
        {api: value for api, name in fields.items() if (value := form.get(name, "").strip())}
    )
    alerts.convert(ledger, who.principal, runtime.signer.name, alert_id, body)


@router.post("/alerts/{alert_id}/{action}", response_class=HTMLResponse)
async def alert_act(request: Request, alert_id: str, action: str, who: OfficerViewer) -> Response:
    """Dismiss (with the reason) or convert to a case; refusals next to their field."""
    if action not in ALERT_ACTIONS:
        raise NotFoundError(f"no action {action!r} on an alert (dismiss, convert)")
    form = await read_form(request, who.csrf_token)
    if not ALERT_RE.fullmatch(alert_id):
        raise NotFoundError(f"no alert {alert_id!r}")
    try:
        await run_in_threadpool(_alert_act, runtime_of(request), who, alert_id, action, form)
    except NotFoundError:
        raise
    except (ValidationError, ApiError) as exc:
        errors, status = refusal(exc, ALERT_FIELDS[action], ALERT_SHOWN[action])
    else:
        return redirect(f"/console/alerts/{alert_id}?done={action}")
    return await run_in_threadpool(
        _alert_page,
        request,
        who,
        alert_id,
        status=status,
        failed=action,
        errors=errors,
        values=form,
    )
