"""The public 严重违法失信名单 pages (Chinese, server-rendered, no login):
``/public/serious-violators`` (search by name or 统一社会信用代码, pages of 20) and
``/public/serious-violators/{id}``, in the 信息公示 site's frame (docs/violators.md §7).

They read through the same functions as the public API (:func:`service.public_list`,
:func:`service.public_detail`), so they show nothing the API does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.console.web import in_session, render, runtime_of
from evidence_api.core.errors import ApiError
from evidence_api.disclosure.schemas import MAX_OFFSET, MAX_QUERY
from evidence_api.disclosure.service import portal_page
from evidence_api.violators import service

router = APIRouter(prefix="/public", include_in_schema=False)

TAB = "serious-violators"
PAGE_SIZE = 20
MAX_PAGE = MAX_OFFSET // PAGE_SIZE + 1


def day(value: datetime) -> str:
    """A date as the public page shows it (Beijing time): 2026年11月30日."""
    local = value.astimezone(service.BEIJING)
    return f"{local.year}年{local.month}月{local.day}日"


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        None,
        template,
        status,
        lang="zh",
        portal=portal_page(runtime_of(request).settings.verifier_mount),
        day=day,
        max_query=MAX_QUERY,
        tab=TAB,
        **context,
    )


def _page_number(text: str | None) -> int:
    if text is None or not text.isdigit() or len(text) > 6:
        return 1
    return min(max(int(text), 1), MAX_PAGE)


@router.get("/serious-violators")
async def violators(request: Request) -> HTMLResponse:
    q = request.query_params.get("q")
    page = _page_number(request.query_params.get("page"))
    template = "violators/public_list.html"
    try:
        found = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.public_list(s, q, (page - 1) * PAGE_SIZE, PAGE_SIZE),
        )
    except ApiError as exc:  # a search too long or with control characters
        return _page(
            request, template, 422, q=None, error=exc.detail, rows=[], total=0, page=1, pages=1
        )
    pages = max(1, -(-found.total // PAGE_SIZE))
    return _page(
        request,
        template,
        q=found.q,
        error=None,
        rows=found.items,
        total=found.total,
        page=page,
        pages=pages,
    )


@router.get("/serious-violators/{violation_id}")
async def violator(request: Request, violation_id: str) -> HTMLResponse:
    origin = runtime_of(request).signer.name
    try:
        found = await run_in_threadpool(
            in_session, request, lambda s: service.public_detail(s, origin, violation_id[:64])
        )
    except ApiError as exc:
        return _page(request, "public/error.html", exc.status, code=exc.status, detail=exc.detail)
    return _page(request, "violators/public_detail.html", v=found)
