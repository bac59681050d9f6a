"""Administrator page ``/console/admin/leniency``: the 免罚清单 (list, add, retire and
restore), with the service functions of ``/v1/leniency-items`` (docs/leniency.md §1).

The case close form (outcome, item, conditions) is part of the case page,
:mod:`evidence_api.console.registry_pages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import refill, reshow, trimmed, validated
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
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.core.routing import page_router
from evidence_api.leniency import service
from evidence_api.leniency.labels import LENIENT, OUTCOMES
from evidence_api.leniency.schemas import ITEM_CODE, ItemCreate, ItemPublic, ItemUpdate

router = page_router("/console/admin/leniency")
Admin = Annotated[Viewer, Depends(viewer("admin"))]
Code = Annotated[str, Path(pattern=ITEM_CODE, max_length=32)]
FIELDS = ("code", "title", "violation", "legal_basis", "outcome", "window_days", "scope")
OUTCOME_OPTIONS = [(code, OUTCOMES[code]) for code in LENIENT]


def _page(
    request: Request,
    who: Viewer,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)

    def work(session: Session) -> list[ItemPublic]:
        service.ensure_items(session, runtime.sign_receipt)
        return service.list_items(session).items

    return render(
        request,
        who,
        "leniency/admin.html",
        status=status,
        errors=errors or FormErrors(),
        values=values or {"window_days": "730", "scope": "any_case"},
        items=in_session(request, work),
        outcomes=OUTCOME_OPTIONS,
        done=request.query_params.get("done", "")[:16],
        code=request.query_params.get("code", "")[:32],
    )


@router.get("", response_class=HTMLResponse)
def leniency_list(request: Request, who: Admin) -> Response:
    """Every item (in force and retired) and the add form."""
    return _page(request, who)


def _create_body(form: Mapping[str, str]) -> ItemCreate:
    values = trimmed(form, *FIELDS)
    first: dict[str, Any] | None = None
    if form.get("first_offence") == "1":
        days = values["window_days"] or ""
        if not days.isdigit() or len(days) > 5:
            raise InvalidInputError(
                "window_days: a whole number of days (1 to 3650)", field="window_days"
            )
        first = {"window_days": int(days), "scope": values["scope"] or "any_case"}
    data: dict[str, Any] = {
        k: v for k, v in values.items() if v is not None and k not in ("window_days", "scope")
    }
    data["conditions"] = {
        "first_offence": first,
        "corrected_in_time": form.get("corrected_in_time") == "1",
        "minor_harm": form.get("minor_harm") == "1",
    }
    return validated(ItemCreate, data)


@router.post("", response_class=HTMLResponse)
async def leniency_add(request: Request, who: Admin) -> Response:
    """``POST /v1/leniency-items``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    try:
        body = _create_body(form)

        def add(session: Session) -> ItemPublic:
            service.ensure_items(session, runtime.sign_receipt)
            return service.create_item(session, runtime.sign_receipt, who.principal, body)

        created: ItemPublic = await run_in_threadpool(in_session, request, add)
    except ApiError as exc:
        values = refill(trimmed(form, *FIELDS))
        for box in ("first_offence", "corrected_in_time", "minor_harm"):
            values[box] = form.get(box, "")
        return await reshow(_page, exc, request, who, values=values)
    runtime.queued(1)
    return redirect(f"/console/admin/leniency?done=added&code={created.code}")


@router.post("/{code}/active", response_class=HTMLResponse)
async def leniency_active(request: Request, who: Admin, code: Code) -> Response:
    """``PATCH /v1/leniency-items/{code}`` with ``active``: retire (``active=0``) or restore
    (``active=1``) an item."""
    form = await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    try:
        body = validated(ItemUpdate, {"active": form.get("active") == "1"})
        _, written = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.update_item(s, runtime.sign_receipt, who.principal, code, body),
        )
    except ApiError as exc:
        return await reshow(_page, exc, request, who)
    runtime.queued(written)
    done = "restored" if body.active else "retired"
    return redirect(f"/console/admin/leniency?done={done}&code={code}")
