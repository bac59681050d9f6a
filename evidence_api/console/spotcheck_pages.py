"""双随机、一公开 in the console: the plans (list), a new plan (the item list, filters,
officer units, sizes, weights, recusals), and a plan's page (commitment, the draw once
its seed block is mined, results per drawn entity, publication). Each form calls the
service function the API calls, so a refusal reads as the API's 4xx does."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import refusal, trimmed, validated
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
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.spotcheck import items as item_list
from evidence_api.spotcheck import service
from evidence_api.spotcheck.labels import OUTCOMES, RECUSALS
from evidence_api.spotcheck.schemas import GRADES, PLAN_ID, PlanCreate, ResultCreate

router = page_router("/console")

Officer = Annotated[Viewer, Depends(viewer("officer", "admin"))]
PlanId = Annotated[str, Path(pattern=PLAN_ID)]
#: The new-plan form's fields, as (name, default).
DEFAULTS: dict[str, str] = {
    "title": "",
    "region": "",
    "risk_classes": "",
    "officer_units": "",
    "entity_count": "50",
    "officer_count": "10",
    "inspectors_per_entity": "2",
    "recusal_days": "365",
    "conflicts": "",
    **{f"weight_{g}": w for g, w in zip(GRADES, ("1", "2", "4", "8", "2"), strict=True)},
}
SHOWN = frozenset({*DEFAULTS, "items", "risk_grades", "weights"})
PAGE = 50


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,，、;；]+", text) if w]


def plan_data(values: dict[str, Any], items: list[str], grades: list[str]) -> dict[str, Any]:
    """The form's values as the body of ``POST /v1/spot-checks``."""
    conflicts = []
    for line in str(values["conflicts"]).splitlines():
        words = _words(line)
        if words:
            conflicts.append({"officer": words[0], "entity": words[1] if len(words) > 1 else ""})
    data: dict[str, Any] = {
        "title": values["title"],
        "items": items,
        "risk_classes": _words(values["risk_classes"]),
        "risk_grades": grades,
        "officer_units": _words(values["officer_units"]),
        "entity_count": values["entity_count"],
        "officer_count": values["officer_count"],
        "inspectors_per_entity": values["inspectors_per_entity"],
        "recusal_days": values["recusal_days"],
        "weights": {g: values[f"weight_{g}"] for g in GRADES if values[f"weight_{g}"]},
        "conflicts": conflicts,
    }
    if values["region"]:
        data["region"] = values["region"]
    return data


@router.get("/spot-checks", response_class=HTMLResponse)
async def plan_list(request: Request, who: Officer) -> HTMLResponse:
    """抽查计划: the plans in the viewer's jurisdiction, newest first."""
    raw = request.query_params.get("offset", "0")
    offset = int(raw) if raw.isdigit() and len(raw) < 8 else 0
    page = await run_in_threadpool(
        service.list_plans, runtime_of(request), who.principal, offset=offset, limit=PAGE
    )
    return render(request, who, "spotcheck/list.html", page=page, offset=offset, size=PAGE)


def _new_form(
    request: Request,
    who: Viewer,
    values: dict[str, Any],
    chosen: list[str],
    grades: list[str],
    errors: FormErrors,
    status: int = 200,
) -> HTMLResponse:
    runtime: Runtime = runtime_of(request)
    with runtime.session() as session:
        listed = item_list.list_items(session).items
    return render(
        request,
        who,
        "spotcheck/new.html",
        status,
        items=listed,
        values=values,
        chosen=chosen,
        grades=grades,
        all_grades=GRADES,
        errors=errors,
    )


@router.get("/spot-checks/new", response_class=HTMLResponse)
async def plan_new(request: Request, who: Officer) -> HTMLResponse:
    """新建抽查计划 form."""
    return await run_in_threadpool(
        _new_form, request, who, dict(DEFAULTS), [], list(GRADES), FormErrors()
    )


@router.post("/spot-checks/new", response_class=HTMLResponse)
async def plan_create(request: Request, who: Officer) -> Response:
    """``POST /v1/spot-checks``'s service function with the form's fields."""
    lists = await read_form_lists(request, who.csrf_token)
    form = {k: v[-1] for k, v in lists.items()}
    values = {k: v or "" for k, v in trimmed(form, *DEFAULTS).items()}
    values["conflicts"] = form.get("conflicts", "")
    chosen, grades = lists.get("items", []), lists.get("risk_grades", [])
    try:
        body = validated(PlanCreate, plan_data(values, chosen, grades))
        made = await run_in_threadpool(
            service.commit_plan, runtime_of(request), who.principal, body
        )
    except (ApiError, ValidationError) as exc:
        errors, status = refusal(exc, None, SHOWN)
        return await run_in_threadpool(
            _new_form, request, who, values, chosen, grades, errors, status
        )
    return redirect(f"/console/spot-checks/{made.plan_id}?saved=committed")


def _detail(
    request: Request,
    who: Viewer,
    plan_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    plan = service.get_plan(runtime_of(request), who.principal, plan_id)
    done = {r.entity for r in plan.results}
    # officers see who a plan's ref stands for (the public sees the ref alone)
    holders = {o.ref: o.holder or o.pseudonym for o in plan.officers}
    return render(
        request,
        who,
        "spotcheck/detail.html",
        status,
        plan=plan,
        done=done,
        holders=holders,
        outcomes=OUTCOMES,
        recusal_labels=RECUSALS,
        errors=errors or FormErrors(),
        saved=request.query_params.get("saved", "")[:32],
    )


@router.get("/spot-checks/{plan_id}", response_class=HTMLResponse)
async def plan_page(request: Request, who: Officer, plan_id: PlanId) -> HTMLResponse:
    """抽查计划详情: commitment, draw, results, entries."""
    return await run_in_threadpool(_detail, request, who, plan_id)


async def _act(request: Request, who: Viewer, plan_id: str, work: Any, saved: str) -> Response:
    try:
        await run_in_threadpool(work)
    except (ApiError, ValidationError) as exc:
        errors, status = refusal(exc, None, frozenset())
        return await run_in_threadpool(_detail, request, who, plan_id, errors, status)
    return redirect(f"/console/spot-checks/{plan_id}?saved={saved}")


@router.post("/spot-checks/{plan_id}/draw", response_class=HTMLResponse)
async def plan_draw(request: Request, who: Officer, plan_id: PlanId) -> Response:
    """随机抽取 (refused with the reason while the seed block is not mined)."""
    await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    return await _act(
        request, who, plan_id, lambda: service.draw_plan(runtime, who.principal, plan_id), "drawn"
    )


@router.post("/spot-checks/{plan_id}/results", response_class=HTMLResponse)
async def plan_result(request: Request, who: Officer, plan_id: PlanId) -> Response:
    """录入抽查结果 for one drawn entity."""
    form = await read_form(request, who.csrf_token)
    fields = trimmed(form, "entity", "outcome", "note", "officer", "evidence_ids")
    data: dict[str, Any] = {k: fields[k] or "" for k in ("entity", "outcome", "officer")}
    if fields["note"]:
        data["note"] = fields["note"]
    data["evidence_ids"] = _words(fields["evidence_ids"] or "")
    runtime = runtime_of(request)

    def work() -> object:
        return service.record_result(runtime, who.principal, plan_id, validated(ResultCreate, data))

    return await _act(request, who, plan_id, work, "result")


@router.post("/spot-checks/{plan_id}/publish", response_class=HTMLResponse)
async def plan_publish(request: Request, who: Officer, plan_id: PlanId) -> Response:
    """公示 the plan (一公开)."""
    await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    return await _act(
        request, who, plan_id, lambda: service.publish(runtime, who.principal, plan_id), "published"
    )
