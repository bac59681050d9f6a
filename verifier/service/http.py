"""HTTP plumbing of the verification service: RFC 9457 problems and request bodies.

Every refusal is an ``application/problem+json`` document with a one-line
``detail`` a person can act on; nothing the client sends can produce a
traceback or a 500. Bodies are read with a byte cap, and package uploads are
spooled to a temporary file (memory first, disk beyond a few MiB) so that a
2 GiB package never sits in memory.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from verifier.service.problem import (
    MEDIA_TYPE,
    PROBLEM_SCHEMA,
    STATUS_TITLES,
    problem_body,
    validation_problem,
)

logger = logging.getLogger(__name__)

#: Uploads stay in memory up to this size, then move to a temporary file.
SPOOL_MEMORY_BYTES = 8 * 2**20
#: Bytes written to the spool per thread-pool call (keeps disk writes off the event loop).
SPOOL_WRITE_BYTES = 2**20

#: A request this service refuses with 422 is well formed but cannot be verified.
_TITLES = {**STATUS_TITLES, 422: "unusable_input"}


class Problem(Exception):  # noqa: N818 - it is the RFC 9457 name
    """An HTTP refusal: raised anywhere in a request, answered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "error")
        self.field = field
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    name = title or _TITLES.get(status, "error")
    return _send(problem_body(status, name, detail, field), headers)


def _send(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], headers=headers, media_type=MEDIA_TYPE)


def problem_docs(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {
        status: {
            "description": _TITLES.get(status, "error"),
            "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, title=exc.title, field=exc.field, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _send(validation_problem(exc.errors()[0]))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "refused"
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return problem_response(500, "internal error; it has been logged", title="internal_error")


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_declared(request: Request, limit: int, what: str) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"{what} of {declared} bytes exceeds the limit of {limit} bytes")


async def read_body(request: Request, limit: int, what: str = "request") -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes."""
    _check_declared(request, limit, what)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, f"{what} exceeds the limit of {limit} bytes")
    return bytes(body)


async def spool_body(request: Request, limit: int, spool_dir: Path | None) -> IO[bytes]:
    """The body in a seekable temporary file positioned at 0; the caller closes it.

    Refused with 413 on a declared Content-Length above ``limit`` before anything
    is read, and while streaming as soon as ``limit`` is passed.
    """
    _check_declared(request, limit, "package")
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned to the caller
        max_size=SPOOL_MEMORY_BYTES,
        dir=str(spool_dir) if spool_dir else None,
        prefix="verifier-upload-",
    )
    try:
        size = 0
        pending = bytearray()
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"package exceeds the limit of {limit} bytes")
            pending += chunk
            if len(pending) >= SPOOL_WRITE_BYTES:
                await run_in_threadpool(spool.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(spool.write, bytes(pending))
        if size == 0:
            raise Problem(422, "package: the request body is empty")
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool
