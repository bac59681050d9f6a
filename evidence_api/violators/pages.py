"""The public 严重违法失信名单 pages (Chinese, server-rendered, no login):
``/public/serious-violators`` (search by name or 统一社会信用代码, pages of 20) and
``/public/serious-violators/{id}``, in the 信息公示 site's frame (docs/violators.md §7).

They read through the same functions as the public API (:func:`service.public_list`,
:func:`service.public_detail`), so they show nothing the API does not, and are drawn as the
site's other tabs are (:func:`evidence_api.disclosure.pages.listing` and ``page``: search,
pages of :data:`~evidence_api.disclosure.pages.PAGE_SIZE`, the error page).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.console.web import in_session, runtime_of
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router
from evidence_api.disclosure.pages import PAGE_SIZE, error_page, listing, page
from evidence_api.violators import service

router = page_router("/public")

TAB = "serious-violators"


def day(value: datetime) -> str:
    """A date as the public page shows it (Beijing time): 2026年11月30日."""
    local = value.astimezone(service.BEIJING)
    return f"{local.year}年{local.month}月{local.day}日"


@router.get("/serious-violators")
async def violators(request: Request) -> HTMLResponse:
    return await listing(
        request,
        TAB,
        "violators/public_list.html",
        lambda s, q, offset: service.public_list(s, q, offset, PAGE_SIZE),
        day=day,
    )


@router.get("/serious-violators/{violation_id}")
async def violator(request: Request, violation_id: str) -> HTMLResponse:
    origin = runtime_of(request).signer.name
    try:
        found = await run_in_threadpool(
            in_session, request, lambda s: service.public_detail(s, origin, violation_id[:64])
        )
    except ApiError as exc:
        return error_page(request, exc, TAB)
    return page(request, "violators/public_detail.html", tab=TAB, day=day, v=found)
