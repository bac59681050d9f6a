"""The console's routes, static files and error pages, installed on the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from evidence_api.console import (
    admin_pages,
    audit_pages,
    auth_pages,
    capture_pages,
    clue_pages,
    complaint_pages,
    credit_pages,
    evidence_pages,
    leniency_pages,
    monitor_pages,
    odr_pages,
    platform_pages,
    registry_pages,
    repair_pages,
    spotcheck_pages,
    stats_pages,
    takedown_pages,
    trust_pages,
    unit_pages,
    violator_pages,
)
from evidence_api.console.web import (
    HERE,
    HOME,
    LoginRequiredError,
    PageForbiddenError,
    current_session,
    error_page,
    login_redirect,
    redirect,
)

#: Vendored front-end files (npm, pinned in assets/package-lock.json; never a CDN).
NODE_MODULES = HERE / "assets" / "node_modules"
HTMX = NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js"
ROUTERS = (
    auth_pages.router,
    evidence_pages.router,
    capture_pages.router,
    registry_pages.router,
    takedown_pages.router,
    monitor_pages.router,
    platform_pages.router,
    admin_pages.router,
    trust_pages.router,
    audit_pages.router,
    unit_pages.router,
    clue_pages.router,
    spotcheck_pages.router,
    credit_pages.router,
    violator_pages.router,
    repair_pages.router,
    leniency_pages.router,
    complaint_pages.router,
    odr_pages.router,
    stats_pages.router,
)


def is_console(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def install_console(app: FastAPI) -> None:
    """Pages under ``/console``, ``/console/static`` and ``/console/vendor``."""

    @app.get("/console", include_in_schema=False)
    async def home(request: Request) -> Response:
        info = await run_in_threadpool(current_session, request)
        if info is None:
            return login_redirect("/console")
        return redirect(HOME.get(info.role, "/console/account"))

    @app.get("/console/vendor/htmx.min.js", include_in_schema=False)
    async def htmx() -> Response:
        return _vendored(HTMX)

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(LoginRequiredError)
    async def login_required(_: Request, exc: LoginRequiredError) -> Response:
        return login_redirect(exc.next_url)

    @app.exception_handler(PageForbiddenError)
    async def forbidden(request: Request, exc: PageForbiddenError) -> Response:
        return await run_in_threadpool(error_page, request, 403, exc.reason)


def _vendored(path: Path) -> Response:
    if not path.is_file():  # `make install` runs npm ci in evidence_api/console/assets
        return Response("front-end assets not installed (make install)", status_code=503)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
