"""Administrator page ``/console/admin/units``: the organisation tree (组织机构) and a form
to add a unit; the same service functions as ``GET/POST /v1/units``
(docs/supervision.md §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
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
    viewer,
)
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router
from evidence_api.units import service
from evidence_api.units.schemas import LEVELS, UnitCreate, UnitPublic

router = page_router("/console/admin/units")
Admin = Annotated[Viewer, Depends(viewer("admin"))]
FIELDS = ("code", "name", "level", "parent", "region_code")


def _page(
    request: Request,
    who: Viewer,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    def work(session: Session) -> list[UnitPublic]:
        found: list[UnitPublic] = []
        cursor = None
        while True:  # the whole tree: a few hundred units at most in one province
            page = service.list_units(session, under=None, limit=service.MAX_PAGE, cursor=cursor)
            found += page.items
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    return render(
        request,
        who,
        "units/admin.html",
        status=status,
        errors=errors or FormErrors(),
        values=values or {},
        items=in_session(request, work),
        levels=list(LEVELS),
        added=request.query_params.get("added", ""),
    )


@router.get("", response_class=HTMLResponse)
def unit_tree(request: Request, who: Admin) -> Response:
    """The tree in tree order, indented by depth, and the add form."""
    return _page(request, who)


@router.post("", response_class=HTMLResponse)
async def unit_add(request: Request, who: Admin) -> Response:
    """``POST /v1/units``'s service function with the form's fields."""
    form = await read_form(request, who.csrf_token)
    values = trimmed(form, *FIELDS)
    try:
        body = validated(UnitCreate, {k: v for k, v in values.items() if v is not None})
        created: UnitPublic = await run_in_threadpool(
            in_session, request, lambda s: service.create_unit(s, body)
        )
    except ApiError as exc:
        return await reshow(_page, exc, request, who, values=refill(values))
    return redirect(f"/console/admin/units?added={created.code}")
