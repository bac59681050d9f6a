"""The FastAPI application: ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from evidence_api.accounts import routes as accounts
from evidence_api.audit import routes as audits
from evidence_api.capture import routes as captures
from evidence_api.certificates import routes as certificates
from evidence_api.clues import routes as clues
from evidence_api.complaints import pages as complaint_pages
from evidence_api.complaints import routes as complaints
from evidence_api.console.routes import install_console, is_console
from evidence_api.console.web import error_page
from evidence_api.core.apidocs import install_docs
from evidence_api.core.config import Settings, get_settings
from evidence_api.core.deps import RuntimeDep
from evidence_api.core.errors import ApiError
from evidence_api.core.guard import AuthFailures
from evidence_api.core.limits import restore_recursion_limit
from evidence_api.core.observability import instrument
from evidence_api.core.openapi import allowed_methods, install_openapi
from evidence_api.core.routing import DeferredRoute
from evidence_api.core.storage import StorageError
from evidence_api.credit import routes as credit
from evidence_api.disclosure import pages as disclosure_pages
from evidence_api.disclosure import routes as disclosure
from evidence_api.intake import routes as evidence
from evidence_api.leniency import routes as leniency
from evidence_api.log import routes as log
from evidence_api.monitoring import alert_routes
from evidence_api.monitoring import routes as monitor_routes
from evidence_api.odr import routes as odr
from evidence_api.registry import routes as registry
from evidence_api.repairs import pages as repair_pages
from evidence_api.repairs import routes as repairs
from evidence_api.runtime import Runtime, build_runtime
from evidence_api.spotcheck import routes as spotchecks
from evidence_api.stats import routes as stats
from evidence_api.takedowns import platform_routes
from evidence_api.takedowns import routes as takedown_routes
from evidence_api.tiles import routes as tiles
from evidence_api.trust import routes as trust
from evidence_api.trust import timestamp_routes
from evidence_api.units import routes as units
from evidence_api.violators import pages as violator_pages
from evidence_api.violators import routes as violators
from verifier.service.problem import MEDIA_TYPE, problem_body, status_title, validation_problem

logger = logging.getLogger(__name__)

DESCRIPTION = """
Evidence Anchor — 区块链电子取证存证服务.

Officers submit captures; files are stored under Object Lock, hashed (SHA-256 and
SM3) into an RFC 9162 Merkle log whose signed checkpoints anyone can monitor.
Every proof bundle verifies offline with `evidence-verify`.

Authentication: `Authorization: Bearer <token>` (`evidence admin create-token`).
Errors are RFC 9457 problem documents with a precise `detail`.
"""


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, title, detail, field),
        status_code=status,
        headers=headers,
        media_type=MEDIA_TYPE,
    )


#: Problem titles of the framework's own refusals (unknown route, wrong method, ...);
#: another status is titled ``error``.
HTTP_TITLES = {status: status_title(status) for status in (400, 404, 405, 413, 415, 422)}


#: API paths whose answer states the chain (the package's ``chain.json``)
NEEDS_CHAIN = re.compile(r"/v1/evidence/[^/]+/package")
#: ``Retry-After`` (s) of what answers 503 while the chain is being bound
CHAIN_RETRY_AFTER = "2"


class ChainPending:
    """While ``evidence serve`` is still binding its chain (it listens first), requests
    whose answer states the chain get 503, problem+json with ``Retry-After``: never a
    package without its chain facts, never a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and NEEDS_CHAIN.fullmatch(scope["path"]):
            runtime = getattr(scope["app"].state, "runtime", None)
            if runtime is not None and runtime.chain_pending:
                reply = problem(
                    503,
                    "unavailable",
                    "the service is still binding its chain; retry shortly",
                    headers={"Retry-After": CHAIN_RETRY_AFTER},
                )
                await reply(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if is_console(request.url.path):  # a console page's refusal is a page
            return await run_in_threadpool(error_page, request, exc.status, exc.detail)
        return problem(exc.status, exc.code, exc.detail, field=exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        body = validation_problem(exc.errors()[0])  # fields named as in the verifier service
        if is_console(request.url.path):  # e.g. /console/cases/abc: a page, not JSON
            return await run_in_threadpool(error_page, request, 422, body["detail"])
        return JSONResponse(body, status_code=422, media_type=MEDIA_TYPE)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown routes (404), wrong methods (405) and the framework's own refusals.
        title = HTTP_TITLES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if is_console(request.url.path) and exc.status_code in (404, 405):
            return await run_in_threadpool(error_page, request, exc.status_code, detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the resource, not one route's
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return problem(exc.status_code, title, detail, headers=headers)

    @app.exception_handler(DataError)
    async def refused_value(request: Request, exc: DataError) -> Response:
        # A value that passed validation but not the database (PostgreSQL refuses NUL in
        # text; SQLite takes it): the caller's input, not an outage, so 422, not 503.
        logger.warning("value refused by the database: %s", exc)
        nul = "NUL" in str(exc.orig)
        detail = (
            "text must not contain NUL (0x00) characters"
            if nul
            else "a value was refused by the database (out of range or malformed)"
        )
        if is_console(request.url.path):
            return await run_in_threadpool(error_page, request, 422, detail)
        return problem(422, "invalid_input", detail)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("database error: %s", exc)
        return problem(
            503,
            "unavailable",
            "the database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StorageError)
    async def storage_error(_: Request, exc: StorageError) -> JSONResponse:
        return problem(
            503,
            "unavailable",
            f"evidence storage is unavailable: {exc}",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem(500, "internal_error", "internal error; it has been logged")


#: Every API and public-page router, in the order their routes are matched.
ROUTERS = (
    evidence.router,
    captures.router,
    monitor_routes.router,
    alert_routes.router,
    log.router,
    *registry.routers,
    takedown_routes.router,
    platform_routes.router,
    accounts.router,
    certificates.router,
    trust.router,
    timestamp_routes.router,
    audits.router,
    tiles.router,
    units.router,
    *clues.routers,
    spotchecks.router,
    disclosure.router,
    disclosure_pages.router,
    credit.router,
    violators.router,
    violator_pages.router,
    repairs.router,
    repair_pages.router,
    leniency.router,
    complaints.router,
    complaint_pages.router,
    *odr.routers,
    stats.router,
)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    close_runtime: bool = False,
) -> FastAPI:
    """The app; its runtime (database, store, key, sealer) is built at startup, unless
    ``runtime`` is given (closed at shutdown only with ``close_runtime``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None or close_runtime
        app.state.runtime = runtime or build_runtime(settings or get_settings())
        restore_recursion_limit()  # building the runtime may have imported web3
        try:
            yield
        finally:
            if own:
                app.state.runtime.close()

    app = FastAPI(
        title="Evidence Anchor 区块链电子取证",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs and /redoc load from a CDN: ours is served locally
        redoc_url=None,
    )
    app.router.route_class = DeferredRoute  # its own routes too: built when first matched
    _install_handlers(app)
    install_openapi(app)
    install_docs(app)
    limits = runtime.settings if runtime is not None else settings or get_settings()
    app.state.auth_failures = AuthFailures(limits.auth_failure_limit, limits.auth_failure_window)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:  # on the event loop: no worker thread needed
        """Liveness: 200 while the process runs; it touches no database, storage or chain (a
        container's liveness probe)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database, storage, chain and integrity ready")
    def readyz(rt: RuntimeDep) -> JSONResponse:
        """Readiness: each dependency's state (database, storage; the chain and the integrity
        checker where configured), ``ok`` or why not. 503 with ``Retry-After`` while any check is
        not ``ok``. No token needed."""
        checks = rt.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": "5"},
        )

    # After the probes: a probe is matched before FastAPI builds the included routers'
    # routes (their models' validators), which the first request through them does.
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    app.add_middleware(ChainPending)
    instrument(app)  # last: outermost, around every middleware (request ids, /metrics)
    return app
