"""The public 信息公示 pages (Chinese, server-rendered, no login): ``/public`` with the
tabs 双随机抽查 (``/public/spot-checks``) and 行政处罚 (``/public/penalties``), search by
name or 统一社会信用代码, pagination, and detail pages with the proof bundle download,
the verification portal and the reproduce command (docs/disclosure.md §6).

They read through the same functions as the public API, so they show nothing the API
does not; the templates (``console/templates/public/``) use the console's stylesheet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.web import in_session, render, runtime_of
from evidence_api.core.errors import ApiError
from evidence_api.core.routing import page_router
from evidence_api.disclosure import service, spotchecks
from evidence_api.disclosure.schemas import MAX_OFFSET, MAX_QUERY

router = page_router("/public")

#: Rows per page, and the highest page number (the API's deepest offset).
PAGE_SIZE = 20
MAX_PAGE = MAX_OFFSET // PAGE_SIZE + 1
PROOF_LABELS = {"pending": "待封存", "sealed": "已封存", "anchored": "已上链"}
STEP_LABELS = {"committed": "计划提交", "drawn": "随机抽取", "result": "检查结果"}


def _portal(request: Request) -> str | None:
    return service.portal_page(runtime_of(request).settings.verifier_mount)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page of the 信息公示 site: its frame's names (the portal, the search bound, the
    date and proof labels), to which ``context`` adds or which it replaces (the
    serious-violator list's pages, :mod:`evidence_api.violators.pages`, show instants as
    Beijing-time days)."""
    frame: dict[str, Any] = {
        "portal": _portal(request),
        "day": service.decision_day,
        "proof_labels": PROOF_LABELS,
        "step_labels": STEP_LABELS,
        "max_query": MAX_QUERY,
    }
    return render(request, None, template, status, lang="zh", **(frame | context))


def error_page(request: Request, exc: ApiError, tab: str) -> HTMLResponse:
    return page(
        request, "public/error.html", exc.status, tab=tab, code=exc.status, detail=exc.detail
    )


def _page_number(text: str | None) -> int:
    """``?page=``: 1 to :data:`MAX_PAGE`; anything else is page 1."""
    if text is None or not text.isdigit() or len(text) > 6:
        return 1
    return min(max(int(text), 1), MAX_PAGE)


async def listing(
    request: Request,
    tab: str,
    template: str,
    read: Callable[[Session, str | None, int], Any],
    **context: Any,
) -> HTMLResponse:
    """A tab's search page: ``?q=`` and ``?page=`` read through ``read(session, q, offset)``
    (the public API's own reader, :data:`PAGE_SIZE` rows), a refused search shown on the
    page with 422; ``context`` as for :func:`page`."""
    q = request.query_params.get("q")
    number = _page_number(request.query_params.get("page"))
    try:
        found = await run_in_threadpool(
            in_session, request, lambda s: read(s, q, (number - 1) * PAGE_SIZE)
        )
    except ApiError as exc:  # a search too long or with control characters
        return page(
            request,
            template,
            422,
            tab=tab,
            q=None,
            error=exc.detail,
            rows=[],
            total=0,
            page=1,
            pages=1,
            **context,
        )
    pages = max(1, -(-found.total // PAGE_SIZE))
    return page(
        request,
        template,
        tab=tab,
        q=found.q,
        error=None,
        rows=found.items,
        total=found.total,
        page=number,
        pages=pages,
        **context,
    )


@router.get("")
async def home() -> Response:
    return RedirectResponse("/public/spot-checks", status_code=303)


@router.get("/penalties")
async def penalties(request: Request) -> HTMLResponse:
    origin = runtime_of(request).signer.name
    return await listing(
        request,
        "penalties",
        "public/penalties.html",
        lambda s, q, offset: service.public_penalties(s, origin, q, offset, PAGE_SIZE),
    )


@router.get("/penalties/{publication_id}")
async def penalty(request: Request, publication_id: str) -> HTMLResponse:
    origin, portal = runtime_of(request).signer.name, _portal(request)
    try:
        found = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.public_penalty(s, origin, publication_id[:64], portal),
        )
    except ApiError as exc:
        return error_page(request, exc, "penalties")
    return page(request, "public/penalty.html", tab="penalties", p=found)


@router.get("/spot-checks")
async def spot_checks(request: Request) -> HTMLResponse:
    return await listing(
        request,
        "spot-checks",
        "public/spot_checks.html",
        lambda s, q, offset: spotchecks.public_spot_checks(s, q, offset, PAGE_SIZE),
    )


@router.get("/spot-checks/{plan_id}")
async def spot_check(request: Request, plan_id: str) -> HTMLResponse:
    origin = runtime_of(request).signer.name
    try:
        found = await run_in_threadpool(
            in_session, request, lambda s: spotchecks.public_spot_check(s, origin, plan_id[:64])
        )
    except ApiError as exc:
        return error_page(request, exc, "spot-checks")
    return page(request, "public/spot_check.html", tab="spot-checks", s=found)
